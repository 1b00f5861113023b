"""Rare spellings: tags prepare.py left out as used on too few images (rare_tags.csv), listed beside the kept tag
they spell.

A typo used on three images is still a variant of its tag, and once merged its images count for the tag in
training. Its few images can say nothing the probe could trust, so the spelling alone decides what is listed, by
the rule's own spelling case: where the spelling would propose the pair had both tags been used enough (a key
equal once leetspeak, plurals, doubling, case and marks are undone, or a slip of a word; not two words of the
collection's language, nor different numbers). Listed, never merged: a person accepts each in review.csv.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from tagger.variants.evidence import (
    pair_slip_links, pair_spelling, pairs_where, spelling_buckets, spelling_forms, visual_spaces,
)
from tagger.variants.rule import RARE_SPELLING, PairEvidence
from tagger.variants.spelling import number_apart, numerals_apart

RARE_SPELLINGS_LISTED = 200  # most used first: each is read at a glance, a page of them a few minutes' review
LARGEST_BUCKET = 50  # a spelling form shared by more kept tags than this (very short keys) is passed over, as for pairs


@dataclass
class RareTags:
    """The tags under data.min_tag_occurrences (names, most used first), how many images carry each, and the images
    of those in the manifest (tags x manifest images)."""
    names: list[str]
    counts: list[int]
    images: sparse.csr_matrix

    @classmethod
    def from_uses(cls, uses: dict[str, list[str]], image_ids: list[str]) -> "RareTags":
        """uses: tag -> its image ids (runfolder.read_rare_tags); image_ids: the manifest's, in its order."""
        column = {image: index for index, image in enumerate(image_ids)}
        rows, cols = [], []
        for row, images in enumerate(uses.values()):
            for image in images:
                if image in column:  # an image none of whose tags was kept is in no manifest
                    rows.append(row)
                    cols.append(column[image])
        matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(uses), len(image_ids)))
        return cls(list(uses), [len(images) for images in uses.values()], matrix)

    def image_rows(self, names) -> dict[str, list[int]]:
        """Each of these rare tags' images as manifest rows."""
        row_of = {name: row for row, name in enumerate(self.names)}
        return {name: self.images[row_of[name]].indices.tolist() for name in names}


def rare_spelling_pairs(vocabulary: list[str], rare: list[str]) -> np.ndarray:
    """(kept tag, rare tag) index pairs whose spelling keys are equal or one edit apart, as spelling_candidate_pairs
    finds kept tags' pairs; rare indices count on from len(vocabulary)."""
    buckets = spelling_buckets(vocabulary)
    pairs = set()
    for index, tag in enumerate(rare, start=len(vocabulary)):
        for form in spelling_forms(tag):
            kept = buckets.get(form, ())
            if len(kept) < LARGEST_BUCKET:
                pairs.update((other, index) for other in kept)
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)


def rare_spellings(vocabulary: list[str], counts: list[int], tag_vectors, tag_images: sparse.csr_matrix,
                   rare: RareTags, rare_vectors, min_score: float, ranks=None,
                   rejected: frozenset = frozenset(), limit: int = RARE_SPELLINGS_LISTED) -> tuple[list[dict], int]:
    """The rare tags the spelling alone would merge into a kept tag, each as a near miss synonyms.json and review.csv
    list (flagged RARE_SPELLING), most used first, at most limit; and how many more there were.
    tag_vectors, rare_vectors: the kept and rare tags in the same visual views (tag_mean_embeddings), shown as
    evidence, not weighed: a few images are no evidence the probe would trust. ranks: the collection's
    CanonicalRanks (two words of its language; None: not asked). rejected: pairs a person rejected (frozensets)."""
    names = list(vocabulary) + list(rare.names)
    pairs = rare_spelling_pairs(vocabulary, rare.names)
    if not len(pairs):
        return [], 0
    first, second = pairs[:, 0], pairs[:, 1]
    rare_rows = second - len(vocabulary)
    both = np.asarray(tag_images[first].multiply(rare.images[rare_rows]).sum(axis=1)).ravel()
    shown = np.asarray(rare.images.sum(axis=1)).ravel()[rare_rows]  # the rare tag's images in the manifest
    evidence = PairEvidence(
        first=first, second=second, visual=np.zeros(len(pairs)), context=np.full(len(pairs), np.nan),
        spelling=pair_spelling(names, first, second),
        overlap=np.divide(both, shown, out=np.zeros(len(pairs)), where=shown > 0),
        rarer_images=np.asarray(rare.counts, np.float64)[rare_rows])
    evidence.slip, evidence.words_apart = pair_slip_links(names, first, second, evidence.spelling, ranks)
    evidence.number_apart = pairs_where(number_apart, names, first, second, evidence.spelling == 1.0)
    evidence.numerals_apart = pairs_where(numerals_apart, names, first, second, evidence.spelling >= 0.5)
    scores = evidence.scores()  # the images weigh nothing (visual 0, no probe): the rule's spelling case alone
    listed = [index for index in np.flatnonzero(scores >= min_score)
              if frozenset((names[first[index]], names[second[index]])) not in rejected]
    # Each beside the kept tags it is closest to (the highest score, then spelling): a typo is often near other words
    # too. Of codespell's misspellings among 64,184 English words (benchmarks/rare_spellings.py), 39% were also listed
    # beside another word, 24% so; beside their correction 61%, 58% so.
    closest = {}
    for index in listed:
        closest[second[index]] = max(closest.get(second[index], (0.0, 0.0)), (scores[index], evidence.spelling[index]))
    listed = [index for index in listed if (scores[index], evidence.spelling[index]) == closest[second[index]]]
    listed.sort(key=lambda index: (-rare.counts[rare_rows[index]], -scores[index], names[second[index]],
                                   -counts[first[index]], names[first[index]]))
    chosen = listed[:limit]
    visual = shown_visual(tag_vectors, rare_vectors, first[chosen], rare_rows[chosen], shown[chosen])
    return [{"canonical": names[first[index]], "variant": names[second[index]], "score": float(scores[index]),
             "visual": float(visual[row]), "context": float("nan"), "spelling": float(evidence.spelling[index]),
             "overlap": float(evidence.overlap[index]), "probe": None,
             "spelled": evidence.spelling_link(index, names[first[index]], names[second[index]]) or None,
             "canonical_count": int(counts[first[index]]), "variant_count": int(rare.counts[rare_rows[index]]),
             "flag": RARE_SPELLING, "confidence": None}
            for row, index in enumerate(chosen)], len(listed) - len(chosen)


def shown_visual(tag_vectors, rare_vectors, kept: np.ndarray, rare: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """The visual evidence of each (kept, rare) pair as kept pairs have it, the mean cosine over the views; NaN
    where none of the rare tag's images is in the manifest."""
    if not len(kept):
        return np.zeros(0)
    cosines = [np.einsum("ij,ij->i", kept_space[kept], rare_space[rare])
               for kept_space, rare_space in zip(visual_spaces(tag_vectors), visual_spaces(rare_vectors))]
    return np.where(shown > 0, np.mean(cosines, axis=0), np.nan)
