"""Evidence that two tags are one: candidate pairs, and visual, co-occurrence and spelling scores (pair_evidence
gathers them, with the probe's, into the rule's PairEvidence).

Candidate pairs come from nearest neighbours in the visual space and from spelling blocking,
never from an all-pairs matrix, so the step scales to tens of thousands of tags.
"""

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from tagger.neighbours import nearest_rows
from tagger.variants.rule import PairEvidence
from tagger.variants.spelling import (
    number_apart, numerals_apart, run_together_keys, spelling_keys, spelling_similarity,
)
from tagger.variants.words import slip_links

# Above this many dimensions (and tags), neighbours are searched in a PCA projection: the search is
# matrix products, and 256 dimensions keep the neighbour order while costing a fraction of 1,280.
SEARCH_DIMENSIONS = 256
GATHERED_ENTRIES = 8_000_000  # co-occurrence row entries gathered at once for context similarity (~200 MB)


def reduced_for_search(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    if vectors.shape[1] <= SEARCH_DIMENSIONS or len(vectors) <= 4 * SEARCH_DIMENSIONS:
        return vectors
    projected = TruncatedSVD(SEARCH_DIMENSIONS, random_state=seed).fit_transform(vectors)
    return projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)


def spelling_candidate_pairs(vocabulary: list[str], largest_bucket: int = 50) -> np.ndarray:
    """Pairs whose spelling keys are equal or one deletion apart (symmetric-delete blocking, as SymSpell).

    One edit of any kind (insertion, deletion, substitution, transposition) leaves the two keys sharing
    a one-deletion form; leetspeak, plurals, doubling, case, separators and marks are undone by the keys themselves
    (a tag with an umlaut has two keys, both blocked).
    Linear in the number of tags; buckets larger than largest_bucket (very short keys) are skipped.
    """
    buckets = spelling_buckets(vocabulary)
    pairs = [pair for members in buckets.values() if 2 <= len(members) <= largest_bucket
             for pair in combinations(members, 2)]
    return np.array(pairs, np.int64).reshape(-1, 2)


def spelling_forms(tag: str) -> set[str]:
    """The tag's spelling keys (also with its words read as one word typed whole: `high heels` beside `highheels`)
    and, for keys of 3 letters or more, their one-deletion forms: two tags one edit apart share one."""
    forms = set()
    for key in dict.fromkeys(spelling_keys(tag) + run_together_keys(tag)):
        forms.add(key)
        if len(key) >= 3:
            forms |= {key[:position] + key[position + 1:] for position in range(len(key))}
    return forms


def spelling_buckets(vocabulary: list[str]) -> dict[str, list[int]]:
    """form -> the indices of the tags having it (spelling_forms)."""
    buckets: dict[str, list[int]] = defaultdict(list)
    for index, tag in enumerate(vocabulary):
        for form in spelling_forms(tag):
            buckets[form].append(index)
    return buckets


SEARCH_WIDTH = 3  # neighbours searched per neighbour kept: room to pass over tags the overlap rules out
SHARED_NEIGHBOURS = 2  # most alike partners kept besides, among those a tag could be named twice with


def candidate_pairs(tag_vectors: np.ndarray, vocabulary: list[str], neighbours: int,
                    cooccurrence: "CooccurrenceStats | None" = None) -> np.ndarray:
    """Unordered pairs (i < j) that are near in the visual space or in spelling.

    With cooccurrence, a tag's visual neighbours are the closest of SEARCH_WIDTH x neighbours by cosine x
    (1 - overlap)^2, the overlap penalty of the score: in photos of whole scenes the nearest means are the
    tags that share the images (sky, tree, building in the same street photos), which the overlap rules out
    as one tag, and they would crowd out a spelling used by other people on other images of the scene. Besides
    them, the most alike of those it could be named twice with (sharing_partners)."""
    search = reduced_for_search(tag_vectors)
    width = neighbours if cooccurrence is None else SEARCH_WIDTH * neighbours
    visual, similarity = nearest_rows(search, search, width, skip_same_row=True)
    left = np.repeat(np.arange(len(visual)), visual.shape[1]).reshape(visual.shape)
    if cooccurrence is not None and visual.size:
        penalty = (1 - cooccurrence.overlap(left.ravel(), visual.ravel())) ** 2
        ranked = similarity.astype(np.float64) * penalty.reshape(visual.shape)
        # Best first; equal values in the search's order (stable), so the choice is the same on every machine.
        keep = np.argsort(-np.round(ranked, 6), axis=1, kind="stable")[:, :neighbours]
        shared = sharing_partners(cooccurrence, left, visual, similarity)
        visual, left = np.take_along_axis(visual, keep, 1), np.take_along_axis(left, keep, 1)
    else:
        shared = np.zeros((0, 2), np.int64)
    pairs = np.concatenate([np.stack([left.ravel(), visual.ravel()], axis=1), shared,
                            spelling_candidate_pairs(vocabulary)])
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def sharing_partners(cooccurrence: "CooccurrenceStats", left: np.ndarray, visual: np.ndarray,
                     similarity: np.ndarray) -> np.ndarray:
    """Pairs of each tag and its SHARED_NEIGHBOURS most alike searched neighbours (by cosine alone) among those it
    could be named twice with: at least MIN_IMAGES images carrying both, and as many carrying each without the
    other (a second name typed beside the first, on half a concept's images: the overlap penalty of the ranking
    would pass over it, and the images carrying both may say it is one thing named twice)."""
    from tagger.variants.separability import MIN_IMAGES

    first, second = left.ravel(), visual.ravel()
    both = np.asarray(cooccurrence.together[first, second]).ravel()
    liftable = (both >= MIN_IMAGES) & (cooccurrence.counts[first] - both >= MIN_IMAGES) & \
        (cooccurrence.counts[second] - both >= MIN_IMAGES)
    ranked = np.where(liftable.reshape(visual.shape), np.round(similarity.astype(np.float64), 6), -np.inf)
    keep = np.argsort(-ranked, axis=1, kind="stable")[:, :SHARED_NEIGHBOURS]
    chosen = np.isfinite(np.take_along_axis(ranked, keep, 1)).ravel()
    return np.stack([np.take_along_axis(left, keep, 1).ravel()[chosen],
                     np.take_along_axis(visual, keep, 1).ravel()[chosen]], axis=1)


@dataclass
class CooccurrenceStats:
    """Tag co-occurrence over images: counts, and how many images carry each pair of tags.

    A tag's context profile is its row of `together` (cosine ignores the row's scale, so it is the
    profile of P(other tag | this tag)). Conditional probabilities rather than PMI: where concepts are
    independent (a colour and a shape) PMI is noise around zero and would call two spellings of one
    colour unrelated.
    """

    counts: np.ndarray  # images per tag
    together: sparse.csr_matrix  # images carrying both tags (diagonal removed)

    @classmethod
    def from_tag_images(cls, tag_images: sparse.csr_matrix) -> "CooccurrenceStats":
        binary = (tag_images > 0).astype(np.float32).tocsr()
        counts = np.asarray(binary.sum(axis=1)).ravel()
        together = (binary @ binary.T).tocsr()
        together = (together - sparse.diags(together.diagonal())).tocsr()  # setdiag would rebuild the structure
        together.eliminate_zeros()
        return cls(counts=counts, together=together)

    def rarer_counts(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Images of each pair's rarer tag."""
        return np.minimum(self.counts[first], self.counts[second])

    def overlap(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Share of the rarer tag's images that also carry the other tag."""
        both = np.asarray(self.together[first, second]).ravel()
        return both / np.maximum(self.rarer_counts(first, second), 1)

    def _context_dots(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Dot products of the pairs' co-occurrence rows, a block of pairs at a time: two gathered blocks of
        rows multiplied elementwise in C (a loop over tags in Python took 4x as long). A block holds at
        most GATHERED_ENTRIES row entries (plus one pair), so a tag in thousands of pairs bounds memory too."""
        dot = np.zeros(len(first))
        row_sizes = np.diff(self.together.indptr)
        gathered = np.cumsum(row_sizes[first] + row_sizes[second])
        bounds = [0, *np.searchsorted(gathered, np.arange(GATHERED_ENTRIES, gathered[-1], GATHERED_ENTRIES)),
                  len(first)] if len(first) else [0]
        for start, end in zip(bounds[:-1], bounds[1:]):
            # Sequential loops in scipy's C++ (elementwise product, then a row sum): the same order on every CPU.
            products = self.together[first[start:end]].multiply(self.together[second[start:end]])
            dot[start:end] = np.asarray(products.sum(axis=1), np.float64).ravel()
        return dot

    @cached_property
    def squared_norms(self) -> np.ndarray:
        """Each co-occurrence row's squared length, computed once (grouping asks for context again and again)."""
        squared_norms = np.zeros(self.together.shape[0])
        rows_with_entries = np.diff(self.together.indptr) > 0
        squared_norms[rows_with_entries] = np.add.reduceat(
            np.square(self.together.data, dtype=np.float64), self.together.indptr[:-1][rows_with_entries])
        return squared_norms

    def context_similarity(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Cosine of the two tags' context profiles, leaving out the two tags themselves; NaN where a tag keeps no
        company but the other (no profile to compare: the rule reads the visual evidence alone there)."""
        squared_norms = self.squared_norms
        both = np.asarray(self.together[first, second], np.float64).ravel()
        dot = self._context_dots(first, second)
        # Each profile loses its entry for the other tag of the pair (the diagonal is already zero).
        denominator = np.sqrt(np.maximum(squared_norms[first] - both**2, 0) * np.maximum(squared_norms[second] - both**2, 0))
        # Counts are whole numbers, their squares exact in float64: a profile left empty gives exactly 0.
        return np.divide(dot, denominator, out=np.full_like(dot, np.nan), where=denominator > 0)


def pair_spelling(vocabulary: list[str], first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.array([spelling_similarity(vocabulary[a], vocabulary[b]) for a, b in zip(first, second)], np.float64)


def tag_mean_embeddings(tag_images: sparse.csr_matrix, embeddings: np.ndarray, center: bool,
                        head_kernel: np.ndarray | None = None) -> np.ndarray:
    """Each tag's mean image embedding, L2-normalized.

    center: subtract the mean of all images (what every photo shares says nothing about a tag);
    done on the means, which is the same and never copies the (possibly huge) embedding matrix.
    head_kernel: the trained tag layer's weights W; the means are then compared as the model sees
    them, by the cosine of their tag logits (m W), through an equivalent D-dimensional map.
    """
    counts = np.asarray(tag_images.sum(axis=1)).ravel()
    means = np.asarray(tag_images @ embeddings, np.float64) / np.maximum(counts, 1)[:, None]
    if center:
        means -= np.asarray(embeddings, np.float64).mean(axis=0)
    if head_kernel is not None:
        means = means @ logit_space_map(head_kernel)
    return normalize(means).astype(np.float32)


def logit_space_map(kernel: np.ndarray) -> np.ndarray:
    """R (D x D) with (a R)(b R)^T = (a W)(b W)^T: logit-space dot products in D dimensions, even for 50,000 tags."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(kernel, np.float64) @ np.asarray(kernel, np.float64).T)
    return eigenvectors * np.sqrt(np.maximum(eigenvalues, 0.0))



def visual_spaces(tag_vectors) -> list[np.ndarray]:
    """One array of L2-normalized tag vectors, or several views of the same tags (a list)."""
    return list(tag_vectors) if isinstance(tag_vectors, (list, tuple)) else [tag_vectors]


PAIRS_GATHERED = 8192  # pairs whose two vectors are gathered at once (8192 x 2 x 1,280 float32: 84 MB)


def pair_cosines(vectors: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dot products of the pairs' (normalized) vectors, a block of pairs at a time: gathering both sides of
    300,000 candidate pairs at once took 3 GB at 1,280 dimensions (benchmarks/variant_scale.py's peak). Each
    row's dot product is the same computation whatever the block."""
    cosines = np.zeros(len(first), vectors.dtype)
    for start in range(0, len(first), PAIRS_GATHERED):
        stop = start + PAIRS_GATHERED
        cosines[start:stop] = np.einsum("ij,ij->i", vectors[first[start:stop]], vectors[second[start:stop]])
    return cosines


def pair_slip_links(vocabulary: list[str], first: np.ndarray, second: np.ndarray, spelling: np.ndarray,
                    ranks=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Per pair, what its one slip says (tagger.variants.words.slip_links): one tag a slip of the other, a word; and
    both words of the collection's language (ranks: its CanonicalRanks, which know its languages; None: not asked, and
    None returned). Asked only of pairs near in spelling and not already one key (one slip leaves at least half of a
    three-letter key)."""
    asked = np.flatnonzero((spelling >= 0.5) & (spelling < 1.0))
    slips, apart = np.zeros(len(first), bool), np.zeros(len(first), bool)
    if len(asked):
        pairs = list(zip(first[asked].tolist(), second[asked].tolist()))
        if ranks is not None:  # two words are asked of every pair here: their words read in one pass
            ranks.read_ahead(vocabulary[index] for index in sorted({index for pair in pairs for index in pair}))
        slip, words = slip_links(vocabulary, pairs, None if ranks is None else ranks.written_in_language,
                                 read_ahead=None if ranks is None else ranks.read_ahead,
                                 languages=() if ranks is None else ranks.languages())
        slips[asked], apart[asked] = [slip[pair] for pair in pairs], [words[pair] for pair in pairs]
    return slips, (None if ranks is None else apart.astype(np.float64))


def pairs_where(test, vocabulary: list[str], first: np.ndarray, second: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """1 where test(first tag, second tag) holds, for the pairs asked (a mask), else 0."""
    held = np.zeros(len(first))
    for index in np.flatnonzero(asked):
        held[index] = test(vocabulary[first[index]], vocabulary[second[index]])
    return held


def pair_evidence(first, second, tag_vectors, vocabulary, cooccurrence, probe=None, ranks=None) -> PairEvidence:
    """ranks: the collection's CanonicalRanks, which know its languages (PairEvidence.words_apart); None: not asked."""
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    evidence = PairEvidence(
        first=first, second=second,
        # Several views (embeddings, the trained head's logits): the mean of their cosines.
        visual=np.mean([pair_cosines(space, first, second) for space in visual_spaces(tag_vectors)],
                       axis=0).astype(np.float64),
        context=cooccurrence.context_similarity(first, second),
        spelling=pair_spelling(vocabulary, first, second),
        overlap=cooccurrence.overlap(first, second),
        rarer_images=cooccurrence.rarer_counts(first, second).astype(np.float64),
    )
    evidence.slip, evidence.words_apart = pair_slip_links(vocabulary, first, second, evidence.spelling, ranks)
    # Another number of a word before the last (`leg up` / `legs up`) is asked of pairs that are one spelling key;
    # different numbers (`1980s` / `1990s`) of pairs near enough in spelling for it to count (a slip of a word's least).
    evidence.number_apart = pairs_where(number_apart, vocabulary, first, second, evidence.spelling == 1.0)
    evidence.numerals_apart = pairs_where(numerals_apart, vocabulary, first, second, evidence.spelling >= 0.5)
    if probe is not None:
        evidence.probe = probe(evidence)
    return evidence

