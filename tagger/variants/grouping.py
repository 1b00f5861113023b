"""Grouping tags into variant groups from per-tag mean image embeddings."""

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import DBSCAN
from sklearn.preprocessing import normalize


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


@dataclass
class VariantGroup:
    canonical: str
    members: list[str]  # canonical first, then by count
    counts: list[int]
    similarities: list[float]  # cosine similarity of each member's mean embedding to the canonical's
    scores: list[float] | None = None  # combined score of each member with the canonical (combined method)
    evidence: "PairEvidence | None" = None  # evidence of each member against the canonical


class DBSCANVariants:
    """DBSCAN with cosine distance over per-tag mean embeddings; each cluster of 2+ tags is a group."""

    def __init__(self, eps: float = 0.3, min_samples: int = 2):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, tag_vectors: np.ndarray, vocabulary: list[str], counts: list[int],
            rejected_pairs=frozenset()) -> "DBSCANVariants":
        if len(vocabulary) != len(tag_vectors) or len(counts) != len(vocabulary):
            raise ValueError(f"need one vector and one count per tag; received {len(tag_vectors)} vectors, "
                             f"{len(vocabulary)} tags, {len(counts)} counts")
        if len(vocabulary) < self.min_samples:
            self.labels_ = np.full(len(vocabulary), -1)
        else:
            self.labels_ = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric="cosine").fit(tag_vectors).labels_
        self.groups_ = []
        for label in sorted(set(self.labels_) - {-1}):
            members = np.flatnonzero(self.labels_ == label)
            # The canonical tag is the most used spelling; ties go to the alphabetically first.
            ordered = sorted(members, key=lambda i: (-counts[i], vocabulary[i]))
            canonical = ordered[0]
            ordered = [i for i in ordered if frozenset((vocabulary[i], vocabulary[canonical])) not in rejected_pairs]
            if len(ordered) < 2:
                continue
            self.groups_.append(VariantGroup(
                canonical=vocabulary[canonical],
                members=[vocabulary[i] for i in ordered],
                counts=[int(counts[i]) for i in ordered],
                similarities=[float(tag_vectors[i] @ tag_vectors[canonical]) for i in ordered],
            ))
        self.groups_.sort(key=lambda group: (-sum(group.counts), group.canonical))
        return self


@dataclass
class PairEvidence:
    """Evidence for candidate pairs (parallel arrays); see CombinedVariants for how it is weighed."""

    first: np.ndarray
    second: np.ndarray
    visual: np.ndarray  # cosine of centered per-tag mean embeddings
    context: np.ndarray  # cosine of co-occurrence profiles; NaN when a tag has no co-occurring tags
    spelling: np.ndarray  # 1 - normalized edit distance of spelling keys
    overlap: np.ndarray  # share of the rarer tag's images carrying both

    def scores(self) -> np.ndarray:
        """The documented rule (README, "How variants are scored").

        meaning  = visual * (0.5 + 0.5 * context), or visual alone where context is undefined
        strength = ramp(meaning, 0.5 -> 0.9); spelled = ramp(spelling, 0.6 -> 0.95) * ramp(meaning, 0 -> 0.2)
                   (spelling alone never merges: the images must not disagree)
        support  = 1 - (1 - strength) * (1 - spelled)          (either route can carry a pair)
        score    = support * (1 - overlap * (1 - spelled))^2   (tags that share images are
                   different tags, unless their spellings say they are one)
        """
        visual = np.clip(self.visual, 0, 1)
        meaning = np.where(np.isnan(self.context), visual, visual * (0.5 + 0.5 * np.nan_to_num(self.context)))
        strength = np.clip((meaning - 0.5) / 0.4, 0, 1)
        spelled = np.clip((self.spelling - 0.6) / 0.35, 0, 1) * np.clip(meaning / 0.2, 0, 1)
        support = 1 - (1 - strength) * (1 - spelled)
        return support * (1 - self.overlap * (1 - spelled)) ** 2


def visual_spaces(tag_vectors) -> list[np.ndarray]:
    """One array of L2-normalized tag vectors, or several views of the same tags (a list)."""
    return list(tag_vectors) if isinstance(tag_vectors, (list, tuple)) else [tag_vectors]


def pair_evidence(first, second, tag_vectors, vocabulary, cooccurrence) -> PairEvidence:
    from tagger.variants.evidence import pair_spelling

    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    context = cooccurrence.context_similarity(first, second)
    has_context = cooccurrence.has_context(first) & cooccurrence.has_context(second)
    return PairEvidence(
        first=first, second=second,
        # Several views (embeddings, the trained head's logits): the mean of their cosines.
        visual=np.mean([np.einsum("ij,ij->i", space[first], space[second]) for space in visual_spaces(tag_vectors)],
                       axis=0).astype(np.float64),
        context=np.where(has_context, context, np.nan),
        spelling=pair_spelling(vocabulary, first, second),
        overlap=cooccurrence.overlap(first, second),
    )


class CombinedVariants:
    """Variant groups from visual, co-occurrence and spelling evidence over nearest-neighbour candidates.

    Pairs scoring at least min_score are joined, best first; two groups join only when every pair
    across them scores at least half of min_score, so one loose pair cannot chain unrelated tags.
    """

    def __init__(self, min_score: float = 0.5, neighbours: int = 10):
        self.min_score = min_score
        self.neighbours = neighbours

    def fit(self, tag_vectors, vocabulary, counts, tag_images, rejected_pairs=frozenset()) -> "CombinedVariants":
        """tag_vectors: one array of L2-normalized tag vectors, or a list of views of them (the first is searched
        for neighbours; visual evidence is the mean cosine over the views).
        rejected_pairs: frozensets of two tags a person rejected; they never end up in one group."""
        from tagger.variants.evidence import CooccurrenceStats, candidate_pairs

        if any(len(space) != len(vocabulary) for space in visual_spaces(tag_vectors)) or len(counts) != len(vocabulary):
            raise ValueError(f"need one vector and one count per tag; received {len(visual_spaces(tag_vectors)[0])} "
                             f"vectors, {len(vocabulary)} tags, {len(counts)} counts")
        self.timings_ = {}
        clock = time.perf_counter()
        self.cooccurrence_ = CooccurrenceStats.from_tag_images(tag_images)
        self.timings_["co-occurrence"], clock = time.perf_counter() - clock, time.perf_counter()
        pairs = (candidate_pairs(visual_spaces(tag_vectors)[0], vocabulary, self.neighbours) if len(vocabulary) > 1
                 else np.zeros((0, 2), int))
        self.timings_["candidate pairs"], clock = time.perf_counter() - clock, time.perf_counter()
        self.evidence_ = pair_evidence(pairs[:, 0], pairs[:, 1], tag_vectors, vocabulary, self.cooccurrence_)
        self.rejected_ = {frozenset(pair) for pair in rejected_pairs}
        self.scores_ = self._scores(self.evidence_, vocabulary)
        self.timings_["evidence"], clock = time.perf_counter() - clock, time.perf_counter()
        self.groups_ = self._group(tag_vectors, vocabulary, counts)
        self.timings_["grouping"] = time.perf_counter() - clock
        return self

    def _scores(self, evidence: PairEvidence, vocabulary) -> np.ndarray:
        scores = evidence.scores()
        if self.rejected_:
            rejected = [frozenset((vocabulary[a], vocabulary[b])) in self.rejected_
                        for a, b in zip(evidence.first, evidence.second)]
            scores[np.array(rejected, bool)] = 0.0
        return scores

    def _group(self, tag_vectors, vocabulary, counts) -> list[VariantGroup]:
        group_of = {index: {index} for index in range(len(vocabulary))}
        order = np.argsort(-self.scores_, kind="stable")
        for pair in order[self.scores_[order] >= self.min_score]:
            a, b = int(self.evidence_.first[pair]), int(self.evidence_.second[pair])
            if group_of[a] is group_of[b]:
                continue
            left, right = sorted(group_of[a]), sorted(group_of[b])
            cross = self._scores(pair_evidence(np.repeat(left, len(right)), np.tile(right, len(left)), tag_vectors,
                                               vocabulary, self.cooccurrence_), vocabulary)
            if cross.min() >= self.min_score / 2:
                merged = group_of[a] | group_of[b]
                for member in merged:
                    group_of[member] = merged
        groups, seen = [], set()
        for members in group_of.values():
            if len(members) < 2 or id(members) in seen:
                continue
            seen.add(id(members))
            ordered = sorted(members, key=lambda i: (-counts[i], vocabulary[i]))
            canonical = ordered[0]
            evidence = pair_evidence(np.full(len(ordered), canonical), np.array(ordered), tag_vectors, vocabulary,
                                     self.cooccurrence_)
            groups.append(VariantGroup(
                canonical=vocabulary[canonical], members=[vocabulary[i] for i in ordered],
                counts=[int(counts[i]) for i in ordered], similarities=evidence.visual.tolist(),
                scores=self._scores(evidence, vocabulary).tolist(), evidence=evidence,
            ))
        groups.sort(key=lambda group: (-min(group.scores[1:]), group.canonical))
        return groups
