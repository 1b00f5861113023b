"""Rare spellings: tags prepare.py left out as used on too few images (rare_tags.csv), listed beside the kept tag
they spell.

A typo used on three images is still a variant of its tag, and once merged its images count for the tag in
training. Its few images can say nothing the probe could trust, so the spelling alone decides what is listed, by
the rule's own spelling case: where the spelling would propose the pair had both tags been used enough (a key
equal once leetspeak, plurals, doubling, case and marks are undone, or a slip of a word; not two words of the
collection's language, nor different numbers). Listed, never merged: a person accepts each in review.csv.
"""

from dataclasses import dataclass
from functools import cached_property

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

    @cached_property
    def in_manifest(self) -> np.ndarray:
        """How many of each rare tag's images are in the manifest (an image none of whose tags was kept is not)."""
        return np.asarray(self.images.sum(axis=1)).ravel()

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


def rare_spellings(vocabulary: list[str], counts: list[int], tag_images: sparse.csr_matrix, rare: RareTags,
                   min_score: float, ranks=None, rejected: frozenset = frozenset(), group_of: dict | None = None,
                   tag_vectors=None, vectors_of=None, limit: int = RARE_SPELLINGS_LISTED) -> tuple[list[dict], int]:
    """The rare tags the spelling alone would merge into a kept tag, as near misses synonyms.json and review.csv list
    (flagged RARE_SPELLING), the most used first, at most limit of them; and how many more there were.

    ranks: the collection's CanonicalRanks (two words of its language; None: not asked). rejected: pairs a person
    rejected (frozensets of two tags). group_of: a kept tag -> the canonical of the group proposed with it: a rare
    spelling of a group's member is listed beside the group's canonical, so accepting it chooses no other name for the
    group (`d0gs` spells `d0g` best, in the group `dogs` names: accepting `d0gs` into `d0g` would make the typo its
    canonical, tagger.variants.canonical). tag_vectors: the kept tags' visual views (tag_mean_embeddings), and
    vectors_of: a rare tags x images matrix -> their vectors in the same views; shown as evidence, not weighed (a few
    images are no evidence the probe would trust); None: not shown."""
    names = list(vocabulary) + list(rare.names)
    pairs = rare_spelling_pairs(vocabulary, rare.names)
    if not len(pairs):
        return [], 0
    together = (rare.images @ tag_images.T).tocsr()  # per rare and kept tag, the images carrying both
    evidence = spelling_evidence(names, pairs, together, rare, ranks)
    scores = evidence.scores()  # the images weigh nothing (visual 0, no probe): the rule's spelling case alone
    # Each beside the kept tags it is closest to (the highest score, then spelling): a typo is often near other words
    # too. Of codespell's misspellings among 64,184 English words (benchmarks/rare_spellings.py), 39% were also listed
    # beside another word, 24% so; beside their correction 61%, 58% so.
    closest: dict[int, tuple[float, float]] = {}
    for index in np.flatnonzero(scores >= min_score):
        closest[pairs[index, 1]] = max(closest.get(pairs[index, 1], (0.0, 0.0)), (scores[index], evidence.spelling[index]))
    column = {tag: index for index, tag in enumerate(vocabulary)}
    beside: dict[int, set[int]] = {}
    for index in np.flatnonzero(scores >= min_score):
        kept, tag = pairs[index]
        target = column[(group_of or {}).get(vocabulary[kept], vocabulary[kept])]
        if (scores[index], evidence.spelling[index]) == closest[tag] and \
                frozenset((vocabulary[target], names[tag])) not in rejected:
            beside.setdefault(int(tag), set()).add(target)
    listed = sorted(beside, key=lambda tag: (-rare.counts[tag - len(vocabulary)], names[tag]))
    chosen = listed[:limit]
    shown = np.array([(target, tag) for tag in chosen for target in sorted(beside[tag], key=lambda t: (-counts[t], t))],
                     np.int64).reshape(-1, 2)
    evidence = spelling_evidence(names, shown, together, rare, ranks)  # of the pairs as shown
    scores, visual = evidence.scores(), shown_visual(tag_vectors, vectors_of, rare, shown[:, 0],
                                                     shown[:, 1] - len(vocabulary))
    return [{"canonical": names[kept], "variant": names[tag], "score": float(scores[index]),
             "visual": float(visual[index]), "context": float("nan"), "spelling": float(evidence.spelling[index]),
             "overlap": float(evidence.overlap[index]), "probe": None,
             "spelled": evidence.spelling_link(index, names[kept], names[tag]) or None,
             "canonical_count": int(counts[kept]), "variant_count": int(rare.counts[tag - len(vocabulary)]),
             "flag": RARE_SPELLING, "confidence": None}
            for index, (kept, tag) in enumerate(shown)], len(listed) - len(chosen)


def spelling_evidence(names: list[str], pairs: np.ndarray, together: sparse.csr_matrix, rare: RareTags,
                      ranks=None) -> PairEvidence:
    """The rule's evidence of (kept, rare) pairs (indices into names, the kept tags then the rare ones) but the
    images': their spelling links, and the overlap (together: rare x kept tags, the images carrying both)."""
    first, second = pairs[:, 0], pairs[:, 1]
    rare_rows = second - (len(names) - len(rare.names))
    in_manifest = rare.in_manifest[rare_rows]
    both = np.asarray(together[rare_rows, first]).ravel() if len(pairs) else np.zeros(0)
    evidence = PairEvidence(
        first=first, second=second, visual=np.zeros(len(pairs)), context=np.full(len(pairs), np.nan),
        spelling=pair_spelling(names, first, second),
        overlap=np.divide(both, in_manifest, out=np.zeros(len(pairs)), where=in_manifest > 0),
        rarer_images=np.asarray(rare.counts, np.float64)[rare_rows])
    evidence.slip, evidence.words_apart = pair_slip_links(names, first, second, evidence.spelling, ranks)
    evidence.number_apart = pairs_where(number_apart, names, first, second, evidence.spelling == 1.0)
    evidence.numerals_apart = pairs_where(numerals_apart, names, first, second, evidence.spelling >= 0.5)
    return evidence


def shown_visual(tag_vectors, vectors_of, rare: RareTags, kept: np.ndarray, rare_rows: np.ndarray) -> np.ndarray:
    """The visual evidence of each (kept, rare) pair as kept pairs have it, the mean cosine over the views; NaN
    where none of the rare tag's images is in the manifest, or where not asked (vectors_of None). Only the rare tags
    shown are averaged: a few hundred, where rare_tags.csv may hold hundreds of thousands."""
    if tag_vectors is None or vectors_of is None or not len(kept):
        return np.full(len(kept), np.nan)
    rows, where = np.unique(rare_rows, return_inverse=True)
    vectors = vectors_of(rare.images[rows])
    cosines = [np.einsum("ij,ij->i", kept_space[kept], rare_space[where])
               for kept_space, rare_space in zip(visual_spaces(tag_vectors), visual_spaces(vectors))]
    return np.where(rare.in_manifest[rare_rows] > 0, np.mean(cosines, axis=0), np.nan)
