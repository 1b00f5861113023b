"""Evidence that two tags are one: candidate pairs, and visual, co-occurrence and spelling scores.

Candidate pairs come from nearest neighbours (in the visual space and in a character n-gram space),
never from an all-pairs matrix, so the step scales to tens of thousands of tags.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from tagger.spelling import spelling_key, spelling_similarity

# Above this many dimensions (and tags), neighbours are searched in a PCA projection: the search is
# matrix products, and 256 dimensions keep the neighbour order while costing a fraction of 1,280.
SEARCH_DIMENSIONS = 256
CHUNK = 512  # rows of similarities at a time: 512 x 50,000 float32 is 100 MB
PAIR_CHUNK = 4096  # pairs whose co-occurrence rows are gathered at once


def nearest_neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """For L2-normalized rows: the k most cosine-similar other rows, in chunks (memory: CHUNK x n)."""
    count = len(vectors)
    k = min(k, count - 1)
    if k <= 0:
        return np.zeros((count, 0), np.int64)
    vectors = np.ascontiguousarray(vectors, np.float32)
    indices = np.empty((count, k), np.int64)
    for start in range(0, count, CHUNK):
        similarities = vectors[start:start + CHUNK] @ vectors.T
        rows = np.arange(similarities.shape[0])
        similarities[rows, rows + start] = -np.inf
        top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
        indices[start:start + CHUNK] = top
    return indices


def reduced_for_search(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    if vectors.shape[1] <= SEARCH_DIMENSIONS or len(vectors) <= 4 * SEARCH_DIMENSIONS:
        return vectors
    projected = TruncatedSVD(SEARCH_DIMENSIONS, random_state=seed).fit_transform(vectors)
    return projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)


def spelling_vectors(vocabulary: list[str]) -> np.ndarray:
    """Character n-grams of each tag's spelling key, TF-IDF weighted and L2-normalized (sparse)."""
    keys = [f" {spelling_key(tag)} " for tag in vocabulary]
    return TfidfVectorizer(analyzer="char", ngram_range=(2, 3), lowercase=False).fit_transform(keys).tocsr()


def sparse_nearest_neighbours(vectors: sparse.csr_matrix, k: int) -> np.ndarray:
    count = vectors.shape[0]
    k = min(k, count - 1)
    indices = np.zeros((count, max(k, 0)), np.int64)
    if k <= 0:
        return indices
    for start in range(0, count, CHUNK):
        similarities = (vectors[start:start + CHUNK] @ vectors.T).toarray()
        rows = np.arange(similarities.shape[0])
        similarities[rows, rows + start] = -np.inf
        indices[start:start + CHUNK] = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
    return indices


def candidate_pairs(tag_vectors: np.ndarray, vocabulary: list[str], neighbours: int) -> np.ndarray:
    """Unordered pairs (i < j) that are near in the visual space or in spelling."""
    visual = nearest_neighbours(reduced_for_search(tag_vectors), neighbours)
    spelled = sparse_nearest_neighbours(spelling_vectors(vocabulary), neighbours)
    pairs = []
    for neighbour_table in (visual, spelled):
        left = np.repeat(np.arange(len(neighbour_table)), neighbour_table.shape[1])
        pairs.append(np.stack([left, neighbour_table.ravel()], axis=1))
    pairs = np.concatenate(pairs)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


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
        together.setdiag(0)
        together.eliminate_zeros()
        return cls(counts=counts, together=together)

    def has_context(self, tags: np.ndarray) -> np.ndarray:
        return np.diff(self.together.indptr)[tags] > 0

    def overlap(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Share of the rarer tag's images that also carry the other tag."""
        both = np.asarray(self.together[first, second]).ravel()
        return both / np.maximum(np.minimum(self.counts[first], self.counts[second]), 1)

    def context_similarity(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Cosine of the two tags' context profiles, leaving out the two tags themselves."""
        squared_norms = np.asarray(self.together.multiply(self.together).sum(axis=1)).ravel()
        both = np.asarray(self.together[first, second]).ravel()
        dot = np.empty(len(first))
        for start in range(0, len(first), PAIR_CHUNK):  # bounded memory however many pairs
            end = start + PAIR_CHUNK
            rows = self.together[first[start:end]].multiply(self.together[second[start:end]])
            dot[start:end] = np.asarray(rows.sum(axis=1)).ravel()
        # Each profile loses its entry for the other tag of the pair (the diagonal is already zero).
        denominator = np.sqrt(np.maximum(squared_norms[first] - both**2, 0) * np.maximum(squared_norms[second] - both**2, 0))
        return np.divide(dot, denominator, out=np.zeros_like(dot), where=denominator > 0)


def pair_spelling(vocabulary: list[str], first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.array([spelling_similarity(vocabulary[a], vocabulary[b]) for a, b in zip(first, second)], np.float64)
