"""Grouping tags into variant groups from per-tag mean image embeddings."""

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.cluster import DBSCAN
from sklearn.preprocessing import normalize

from tagger.variants.calibration import confidence, pair_kind

if TYPE_CHECKING:  # imported by fit itself, only when the probe is used
    from tagger.variants.separability import ProbeResult


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
    similarities: list[float]  # each member's visual evidence with the canonical (PairEvidence.visual)
    scores: list[float] | None = None  # combined score of each member with the canonical (combined method)
    evidence: "PairEvidence | None" = None  # evidence of each member against the canonical
    flags: list[str] | None = None  # per member: why to look twice (e.g. "spelling only: check"); "" if nothing
    confidences: list[float] | None = None  # per member: the score calibrated (tagger.variants.calibration)


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


def ramp(values, low: float, high: float) -> np.ndarray:
    """0 below low, 1 above high, linear between."""
    return np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0)


SPELLING_ONLY = "spelling only: check"
SLIP_OF_A_WORD = "spelling only: a slip of a word, check"  # one tag a word, the other one slip from it and no word
NEAR_MISS = "near miss"
IMAGES_DIFFER = "near miss: images tell them apart"
# Alike in images and company, never typed on one image, no spelling link, and too few images for the probe to
# decide: how a translation or synonym of a rare tag looks. Listed for review (ranked by meaning), never merged:
# distinct look-alikes that never meet (tv / curtain) look the same at a few images a tag.
NEVER_TOGETHER = "near miss: alike, never on one image"
# Scored as one tag, yet not merged: joining would put it in one group with a tag that scores apart from it (`coats`
# spelled like `coat`, whose translation `mantel` looks like something else): the person decides, it is not dropped.
GROUPS_DISAGREE = "near miss: scored as one, kept apart by another pair"
# In a group through another member, its own pair with the canonical scoring under the near misses' cut-off (`r3d` and
# `rot`, each one with `red`, 0.17 with each other on the suite's scenes_correlated): proposed, judged by its own
# evidence.
JOINED_THROUGH = "joined through another member: check"
NEAR_MISSES_LISTED = 50  # near misses listed of each kind (flag), best first: a review list, not a dump
ALIKE_MEANING = 0.5  # where the rule's strength ramp starts: the means begin to count as alike
# What the separability probe found for a pair (PairEvidence.probe_answers), shown as the "probe" evidence: can the
# two tags' images be told apart? Read off the rule's own terms at their midpoints: distinct, same, and the power of
# the images to see the tags at all. Words, not yes / no: review.csv's decision column takes those.
PROBE_TWO, PROBE_ONE, PROBE_UNSURE, PROBE_FAINT, PROBE_NOT_ASKED = "two tags", "one tag", "unsure", "faint", "not asked"


@dataclass
class PairEvidence:
    """Evidence for candidate pairs (parallel arrays); parts() weighs it (the README's rule)."""

    first: np.ndarray
    second: np.ndarray
    visual: np.ndarray  # cosine of centered per-tag mean embeddings, averaged over the views (the head's logits)
    context: np.ndarray  # cosine of co-occurrence profiles; NaN when a tag has no company but its partner
    spelling: np.ndarray  # 1 - typing slips / length of the spelling keys (tagger.variants.spelling)
    overlap: np.ndarray  # share of the rarer tag's images carrying both
    probe: "ProbeResult | None" = None  # held-out separability of the two tags' images (NaN: not probed)
    text: np.ndarray | None = None  # cosine of the tag names' text embeddings (cluster.text_evidence; else None)
    slip: np.ndarray | None = None  # one tag is a slip of the other, a word (tagger.variants.words; None: not asked)
    # 1 where each tag names images by itself (CombinedVariants.never_alone_), 0 where one never does: its shared use
    # is then no second name the images can vouch for (None: both do)
    names_alone: np.ndarray | None = None

    def spelled_by_similarity(self) -> np.ndarray:
        """The spelling similarity's ramp, the rule's spelling link but for a slip of a word."""
        return ramp(self.spelling, 0.6, 0.95)

    def spelled(self) -> np.ndarray:
        """The rule's spelling link, 0 to 1: the spelling similarity's ramp, or 1 for a slip of a word (`windw` /
        `window` is as good a link as an undone plural: the other tag is a word of no language; see
        tagger.variants.words)."""
        by_similarity = self.spelled_by_similarity()
        return by_similarity if self.slip is None else np.maximum(by_similarity, self.slip)

    def parts(self) -> dict[str, np.ndarray]:
        """The documented rule (README, "How variants are scored"), term by term."""
        visual = np.clip(self.visual, 0, 1)
        meaning = np.where(np.isnan(self.context), visual, visual * (0.5 + 0.5 * np.nan_to_num(self.context)))
        strength = ramp(meaning, 0.5, 0.9)
        spelled = self.spelled()
        distinct = np.zeros(len(self.first))
        same = np.zeros(len(self.first))
        power = np.zeros(len(self.first))
        named_twice = np.zeros(len(self.first))
        if self.probe is not None:
            probed = ~np.isnan(self.probe.auc)
            z = np.nan_to_num(self.probe.z)
            # Different concepts: a difference between the two tags' images beyond what shuffled labels give
            # (significance), a fair share of the difference that sets these tags apart from unrelated images
            # (separation: a variant used a little more on some images than others is not a different concept),
            # and images that can see the tags at all (power: images that cannot see them cannot say they are
            # two). Two tests read the images: the gap between their mean images (all images, no folds: the power
            # at a few dozen images a tag) and the held-out discriminant's AUC. Where the discriminant can see the
            # tags (sees), both must find the difference (one test's chance extreme is not two concepts), and the
            # share is the discriminant's: it is whitened, so a subtle difference of concept, navy beside blue,
            # counts as much as the kind of image a spelling is used on, which the gap's plain distance weighs far
            # more. Where it cannot, the gap decides alone.
            gap_z, gap_power = np.nan_to_num(self.probe.gap_z), np.nan_to_num(self.probe.gap_power)
            separation, reference_z = np.nan_to_num(self.probe.separation), np.nan_to_num(self.probe.reference_z)
            sees = ramp(reference_z, 3, 6)
            by_gap = ramp(gap_z, 2, 4)
            # Past what chance reaches among all the pairs probed (family_z), the discriminant's difference stands
            # alone: it is no chance extreme, and the gap's plain distance may be blind to it (a difference where the
            # images vary least, which whitening weighs fully).
            alone = ramp(z, self.probe.family_z, self.probe.family_z + 2)
            significance = np.maximum(sees * np.minimum(ramp(z, 2, 4), by_gap) + (1 - sees) * by_gap, alone)
            share = sees * separation + (1 - sees) * np.nan_to_num(self.probe.gap_separation)
            power = np.maximum(ramp(gap_power, 2, 4), ramp(reference_z, 2, 4))
            distinct = significance * ramp(share, 0.2, 0.4) * power
            # Tags that share images: two concepts shown together (a coat worn over a shirt) add, on each side, the
            # other's look to the images carrying both, by a fair share of what sets it apart from unrelated images
            # and beyond chance as distinct reads the gap, where the images can see the tags (power); a spelling typed
            # twice adds nothing (nor, along the other's direction, does a second annotator on one kind of image).
            if self.probe.together_z is not None:
                added = ramp(np.nan_to_num(self.probe.together_z), 2, 4) * \
                    ramp(np.nan_to_num(self.probe.together_separation), 0.2, 0.4) * power
                distinct = np.maximum(distinct, added)
            # One thing named twice: neither side's images carrying both add the other's look, where that test could
            # have seen a fair share of it (the least share called distinct, 0.4 of the other's whole look, at
            # distinct's significance): the images say the shared use is a second name, not company, and the overlap
            # counts no more against the pair (two annotators' tags merged: half a concept's images carry both).
            if self.probe.together_power is not None:
                top_added = ramp(np.nan_to_num(self.probe.together_top_z), 1, 3) * \
                    ramp(np.nan_to_num(self.probe.together_top_separation), 0.2, 0.4)
                named_twice = np.where(probed, ramp(0.4 * np.nan_to_num(self.probe.together_power), 2, 4)
                                       * (1 - top_added), 0)
                if self.names_alone is not None:
                    named_twice = named_twice * self.names_alone
            distinct = np.where(probed, distinct, 0)
            # One concept: the images could tell these tags from the rest (power) but not from each other, or only
            # by a small share of what sets them apart from the rest (at hundreds of images a tag, a spelling used
            # more on some kinds of image is told apart beyond chance, by a little). The discriminant reads only the
            # collection's main directions: a difference off them that the gap finds there (unseen: a fair share,
            # beyond chance as distinct reads the gap) is no sameness it could have seen. (Not a difference either:
            # at a few dozen real photos a side the unseen part finds one in true variants too.)
            unseen = 0.0 if self.probe.unseen is None else (
                ramp(np.nan_to_num(self.probe.unseen_z), 2, 4)
                * ramp(np.nan_to_num(self.probe.unseen_separation), 0.2, 0.4))
            # Where the discriminant cannot see the tags, the gap can vouch for them as one where it would have found
            # a difference of the least share called distinct (0.4, so z = 0.4² x gap power) at distinct's
            # significance (2 to 4), and neither test found one (the discriminant's difference still counts: the gap's
            # plain distance hardly weighs a difference where the images vary least, which whitening weighs fully).
            differ = ramp(z, 1, 3) * ramp(separation, 0.2, 0.4)
            gap_differ = ramp(gap_z, 1, 3) * ramp(np.nan_to_num(self.probe.gap_separation), 0.2, 0.4)
            gap_sees = ramp(gap_power * 0.4 ** 2, 2, 4)
            same_by_gap = gap_sees * (1 - np.maximum(np.maximum(gap_differ, differ), unseen))
            same = np.where(probed, sees * (1 - np.maximum(differ, unseen)) + (1 - sees) * same_by_gap, 0)
            # The images carrying both are a second test of one concept, with a power of its own: where they show one
            # thing named twice and the images of each alone found no difference, at whatever power they had, the
            # pair is one, however few images carry one only (a second name typed beside the first on most of a
            # concept's images). Not where those found a hint of one: on real photos a small object beside another
            # (a knife on a dining table) adds little of its look to the images carrying both.
            same = np.maximum(same, named_twice * (1 - np.maximum(np.maximum(differ, gap_differ), unseen)))
        # Close means cannot tell one concept from two that share their scenes (door / cabinet in the same
        # rooms, coat / shirt on the same people): with the probe on, the meaning route counts only as far
        # as the probe finds the tags one (same), and the means must agree a little. A pair it could not
        # ask (too few images of its own, past max_probes) is unconfirmed, not judged by its means.
        images_agree = strength if self.probe is None else same * ramp(meaning, 0.0, 0.2)
        spelling_case = spelled * (0.6 + 0.3 * images_agree)  # spelling alone: 0.6, proposed but flagged
        support = 1 - (1 - images_agree) * (1 - spelling_case)
        score = support * (1 - distinct) * (1 - self.overlap * (1 - spelled) * (1 - named_twice)) ** 2
        return {"meaning": meaning, "strength": strength, "spelled": spelled,
                "spelled_by_slip": spelled > self.spelled_by_similarity(), "distinct": distinct, "same": same,
                "power": power, "named_twice": named_twice, "images_agree": images_agree, "score": score}

    def probe_answers(self) -> list[str] | None:
        """Per pair, what the separability probe found, in words a person can filter on (PROBE_TWO ... PROBE_NOT_ASKED);
        None without the probe (the DBSCAN baseline, cluster.probe false)."""
        if self.probe is None:
            return None
        parts = self.parts()
        return np.select([np.isnan(self.probe.auc), parts["distinct"] >= 0.5, parts["same"] >= 0.5, parts["power"] < 0.5],
                         [PROBE_NOT_ASKED, PROBE_TWO, PROBE_ONE, PROBE_FAINT], PROBE_UNSURE).tolist()

    def scores(self) -> np.ndarray:
        """The confidence that each pair is one tag (see parts and the README)."""
        return self.parts()["score"]

    def flags(self, min_score: float, scores: np.ndarray | None = None) -> list[str]:
        """Why a person should look twice: a merge carried by spelling alone, or a pair just missed. scores: the pairs'
        scores as the step decided on them (a person's rejections, the text route: CombinedVariants._scores);
        default the rule's own."""
        parts = self.parts()
        scores = parts["score"] if scores is None else scores
        flags = []
        for score, spelled, agree, distinct, slip in zip(scores, parts["spelled"], parts["images_agree"],
                                                         parts["distinct"], parts["spelled_by_slip"]):
            if score >= min_score:
                flags.append((SLIP_OF_A_WORD if slip else SPELLING_ONLY) if spelled > 0 and agree < 0.5 else "")
            elif spelled >= 0.5 and distinct >= 0.5:
                flags.append(IMAGES_DIFFER)
            elif score >= NEAR_MISS_SHARE * min_score:
                flags.append(NEAR_MISS)
            else:
                flags.append("")
        return flags

    def never_together(self, flags: list[str], min_score: float, scores: np.ndarray | None = None) -> np.ndarray:
        """Pairs (indices, most alike first) alike in images and company, never on one image, with no spelling
        link and not told apart, each tag's most alike such partner of the other: how a translation or synonym
        of a rare tag looks: among the pairs that never meet, a tag's translation tends to be its most alike
        partner (on the suite's translations set, 20 of the 37 pairs listed over three seeds were true; 24 of 120
        without the choice of each tag's most alike partner). scores: as flags'."""
        parts = self.parts()
        scores = parts["score"] if scores is None else scores
        # Rounded, and ties to the first pair: a last-bit difference between CPU kernels cannot change a partner.
        meaning = np.round(parts["meaning"], 6)
        # Under the near misses' cut-off: a pair scoring above it and kept out of a group (by a pair across the
        # groups) is not a pair the images could not decide.
        unlinked = (self.overlap == 0) & (parts["spelled"] == 0) & (parts["distinct"] < 0.5) & \
            (scores < NEAR_MISS_SHARE * min_score)
        best: dict[int, int] = {}
        for index in np.flatnonzero(unlinked):
            for tag in (int(self.first[index]), int(self.second[index])):
                if tag not in best or meaning[index] > meaning[best[tag]]:
                    best[tag] = int(index)
        listed = [index for index in set(best.values())
                  if not flags[index] and best[int(self.first[index])] == index == best[int(self.second[index])]
                  and meaning[index] >= ALIKE_MEANING]
        return np.array(sorted(listed, key=lambda index: (-meaning[index], index)), np.int64)


PROBE_COLUMNS = ("auc", "null_mean", "null_std", "reference", "gap", "gap_null_mean", "gap_null_std", "gap_reference",
                 "unseen", "unseen_null_mean", "unseen_null_std", "together_z", "together_separation",
                 "together_top_z", "together_top_separation", "together_power")
NEAR_MISS_SHARE = 0.6  # pairs scoring from 60% of min_score up to it are listed as near misses
# Scores equal to this many decimals are one score to the join order: the probe's own sampling moves a score by more
# (drawn with another seed, by 0.02 at the median over the suite's scored pairs, 0.01 or more for two in three), so a
# smaller difference is no evidence (1.0 / 0.9998: the images confirm both).
SCORE_DECIMALS = 2


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


def pair_evidence(first, second, tag_vectors, vocabulary, cooccurrence, probe=None) -> PairEvidence:
    from tagger.variants.evidence import pair_slips, pair_spelling

    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    evidence = PairEvidence(
        first=first, second=second,
        # Several views (embeddings, the trained head's logits): the mean of their cosines.
        visual=np.mean([pair_cosines(space, first, second) for space in visual_spaces(tag_vectors)],
                       axis=0).astype(np.float64),
        context=cooccurrence.context_similarity(first, second),
        spelling=pair_spelling(vocabulary, first, second),
        overlap=cooccurrence.overlap(first, second),
    )
    evidence.slip = pair_slips(vocabulary, first, second, evidence.spelling)
    if probe is not None:
        evidence.probe = probe(evidence)
    return evidence


class CombinedVariants:
    """Variant groups from visual, co-occurrence, spelling and separability evidence over nearest-neighbour candidates.

    Pairs scoring at least min_score are joined, best first; two groups join only when every pair
    across them scores at least half of min_score, so one loose pair cannot chain unrelated tags, or the images find
    the groups one concept (_group_parts' same: a pair across them may score low where its own few images cannot
    vouch), never across a rejected pair, and only when the images do not tell the groups apart (its distinct).
    probe: the separability probe asked about pairs the images could decide (default: SeparabilityProbe()
    when fit receives image embeddings); max_probes: at most this many pairs probed, most promising first.
    """

    def __init__(self, min_score: float = 0.5, neighbours: int = 10, probe=None, max_probes: int = 5000,
                 near_misses: int = NEAR_MISSES_LISTED):
        self.min_score = min_score
        self.neighbours = neighbours
        self.probe = probe
        self.max_probes = max_probes
        self.near_misses = near_misses

    def fit(self, tag_vectors, vocabulary, counts, tag_images, rejected_pairs=frozenset(),
            image_embeddings=None, image_photos=None) -> "CombinedVariants":
        """tag_vectors: one array of L2-normalized tag vectors, or a list of views of them (the first is searched
        for neighbours; visual evidence is the mean cosine over the views).
        rejected_pairs: frozensets of two tags a person rejected; they never end up in one group.
        image_embeddings: per-image embeddings (rows of tag_images' columns) for the separability probe.
        image_photos: per-image photo hashes (the manifest's photo column), so the probe counts copies of a photo once."""
        from tagger.variants.evidence import CooccurrenceStats, candidate_pairs
        from tagger.variants.separability import SeparabilityProbe

        if any(len(space) != len(vocabulary) for space in visual_spaces(tag_vectors)) or len(counts) != len(vocabulary):
            raise ValueError(f"need one vector and one count per tag; received {len(visual_spaces(tag_vectors)[0])} "
                             f"vectors, {len(vocabulary)} tags, {len(counts)} counts")
        if image_embeddings is not None and len(image_embeddings) != tag_images.shape[1]:
            raise ValueError(f"need one embedding per image; received {len(image_embeddings)} embeddings for "
                             f"{tag_images.shape[1]} images")
        self.timings_ = {}
        clock = time.perf_counter()
        self.cooccurrence_ = CooccurrenceStats.from_tag_images(tag_images)
        self.timings_["co-occurrence"], clock = time.perf_counter() - clock, time.perf_counter()
        pairs = (candidate_pairs(visual_spaces(tag_vectors)[0], vocabulary, self.neighbours, self.cooccurrence_)
                 if len(vocabulary) > 1
                 else np.zeros((0, 2), int))
        self.timings_["candidate pairs"], clock = time.perf_counter() - clock, time.perf_counter()
        self.probe_ = None
        self._probed, self.probes_asked_ = {}, 0
        if image_embeddings is not None and len(vocabulary) > 1:
            self.probe_ = (self.probe or SeparabilityProbe()).fit(image_embeddings, tag_images, image_photos)
        self.timings_["probe null"], clock = time.perf_counter() - clock, time.perf_counter()
        self.never_alone_ = np.zeros(len(vocabulary), bool)
        self.evidence_ = self._evidence(pairs[:, 0], pairs[:, 1], tag_vectors, vocabulary)
        self.rejected_ = {frozenset(pair) for pair in rejected_pairs}
        self.scores_ = self._scores(self.evidence_, vocabulary)
        if self.probe_ is not None:  # the lift of named twice holds for tags that name images by themselves
            self.never_alone_ = self._never_alone(tag_images)
            if self.never_alone_.any():
                self.evidence_ = self._evidence(pairs[:, 0], pairs[:, 1], tag_vectors, vocabulary)
                self.scores_ = self._scores(self.evidence_, vocabulary)
        self.timings_["evidence"], clock = time.perf_counter() - clock, time.perf_counter()
        self.groups_ = self._group(tag_vectors, vocabulary, counts)
        self.near_misses_ = self._near_misses(vocabulary, counts)
        self.timings_["grouping"] = time.perf_counter() - clock
        return self

    def _evidence(self, first, second, tag_vectors, vocabulary) -> PairEvidence:
        evidence = pair_evidence(first, second, tag_vectors, vocabulary, self.cooccurrence_,
                                 probe=self._probe_pairs if self.probe_ is not None else None)
        if self.never_alone_.any():
            evidence.names_alone = (~(self.never_alone_[evidence.first] | self.never_alone_[evidence.second])).astype(
                np.float64)
        return evidence

    def _never_alone(self, tag_images: sparse.csr_matrix) -> np.ndarray:
        """Per tag: whether every image carrying it, but fewer than the probe's MIN_IMAGES, also carries another tag of
        those it could be grouped with (its component among the pairs scoring at least NEAR_MISS_SHARE x min_score). A
        second name typed beside the first (two people's tags merged) also names images by itself, typed by those who
        use only it; a tag that never does (`vintage`, `sketch`: something about some of a concept's images, beside
        whichever of its spellings they carry) shares its images as a second name would and looks like the rest of them,
        so its shared use is no second name the images can vouch for. The whole component, not the tag's own partners:
        an attribute may score as one with the concept's plural only, and its images carry the singular. (A large
        component only withholds the lift from more tags: the rule as it was without it.)"""
        from scipy.sparse.csgraph import connected_components

        from tagger.variants.separability import MIN_IMAGES

        count = tag_images.shape[0]
        joined = np.flatnonzero(self.scores_ >= NEAR_MISS_SHARE * self.min_score)
        if not len(joined):
            return np.zeros(count, bool)
        first, second = self.evidence_.first[joined], self.evidence_.second[joined]
        graph = sparse.csr_matrix((np.ones(len(joined)), (first, second)), shape=(count, count))
        component = connected_components(graph, directed=False)[1]
        tags = np.unique(np.r_[first, second])
        carried = (tag_images[tags] > 0).astype(np.float64).tocsr()
        # Per component and image, how many of its tags the image carries; a tag names an image alone where that is 1.
        members = sparse.csr_matrix((np.ones(len(tags)), (component[tags], np.arange(len(tags)))),
                                    shape=(count, len(tags)))
        per_image = (members @ carried).tocsr()
        alone = np.asarray(carried.multiply(per_image[component[tags]] == 1).sum(axis=1)).ravel()
        never = np.zeros(count, bool)
        never[tags] = alone < MIN_IMAGES
        return never

    def _probe_pairs(self, evidence: PairEvidence) -> "ProbeResult":
        """Probe results for the pairs the images could decide; NaN (not probed) for the rest.

        Worth asking: a spelling link, or meaning enough for the images to carry the pair, whatever their shared
        use (the images carrying both may say it is one thing named twice). Each pair is probed once per fit."""
        from tagger.variants.separability import ProbeResult

        parts = evidence.parts()
        worth = (parts["spelled"] > 0) | (parts["meaning"] >= 0.2)
        keys = [(int(min(a, b)), int(max(a, b))) for a, b in zip(evidence.first, evidence.second)]
        ask = [i for i in np.flatnonzero(worth) if keys[i] not in self._probed]
        # The most promising first, so the cap (bounded cost) leaves out the least likely pairs.
        ask.sort(key=lambda i: (-max(parts["spelled"][i], parts["meaning"][i]), keys[i]))
        ask = ask[:max(0, self.max_probes - self.probes_asked_)]
        if ask:
            result = self.probe_.probe(np.array([keys[i][0] for i in ask]), np.array([keys[i][1] for i in ask]))
            for row, i in enumerate(ask):
                self._probed[keys[i]] = tuple(float(getattr(result, name)[row])
                                              for name in PROBE_COLUMNS)
            self.probes_asked_ += len(ask)
        width = len(PROBE_COLUMNS)
        columns = np.array([self._probed.get(key, (np.nan,) * width) if worth[i] else (np.nan,) * width
                            for i, key in enumerate(keys)], np.float64).reshape(-1, width)
        return ProbeResult(**{name: columns[:, index] for index, name in enumerate(PROBE_COLUMNS)},
                           family=self.max_probes)

    def _scores(self, evidence: PairEvidence, vocabulary) -> np.ndarray:
        scores = evidence.scores()
        if self.rejected_:
            rejected = [frozenset((vocabulary[a], vocabulary[b])) in self.rejected_
                        for a, b in zip(evidence.first, evidence.second)]
            scores[np.array(rejected, bool)] = 0.0
        return scores

    def _group(self, tag_vectors, vocabulary, counts) -> list[VariantGroup]:
        group_of = {index: {index} for index in range(len(vocabulary))}
        order = self._join_order()
        for pair in order[self.scores_[order] >= self.min_score]:
            a, b = int(self.evidence_.first[pair]), int(self.evidence_.second[pair])
            if group_of[a] is group_of[b]:
                continue
            left, right = sorted(group_of[a]), sorted(group_of[b])
            if any(frozenset((vocabulary[x], vocabulary[y])) in self.rejected_ for x in left for y in right):
                continue  # never across a pair a person rejected: nothing else to ask
            cross = self._scores(self._evidence(np.repeat(left, len(right)), np.tile(right, len(left)), tag_vectors,
                                                vocabulary), vocabulary)
            # The groups' own images asked once: one concept (same) where a pair across scores low, two (distinct).
            group = self._group_parts(left, right) if self.probe_ is not None and len(left) + len(right) > 2 else {}
            one = cross.min() >= self.min_score / 2 or group.get("same", 0.0) >= 0.5
            if one and group.get("distinct", 0.0) < 0.5:
                merged = group_of[a] | group_of[b]
                for member in merged:
                    group_of[member] = merged
        if self.probe_ is not None:
            self._leave_one_out(group_of, tag_vectors, vocabulary)
        groups, seen = [], set()
        for members in group_of.values():
            if len(members) < 2 or id(members) in seen:
                continue
            seen.add(id(members))
            ordered = sorted(members, key=lambda i: (-counts[i], vocabulary[i]))
            canonical = ordered[0]
            evidence = self._evidence(np.full(len(ordered), canonical), np.array(ordered), tag_vectors, vocabulary)
            scores = self._scores(evidence, vocabulary)
            # A member whose own pair with the canonical scores under the near misses' cut-off joined through another
            # member: flagged, and judged by its own evidence (calibration's near miss), not as a merge the images
            # confirm.
            flags = [""] + [flag or (JOINED_THROUGH if score < NEAR_MISS_SHARE * self.min_score else "")
                            for flag, score in zip(evidence.flags(self.min_score, scores)[1:], scores[1:])]
            groups.append(VariantGroup(
                canonical=vocabulary[canonical], members=[vocabulary[i] for i in ordered],
                counts=[int(counts[i]) for i in ordered], similarities=evidence.visual.tolist(),
                scores=scores.tolist(), evidence=evidence, flags=flags,
                confidences=[1.0] + [confidence(score, pair_kind(True, flag))
                                     for score, flag in zip(scores[1:], flags[1:])],
            ))
        groups.sort(key=lambda group: (-min(group.scores[1:]), group.canonical))
        return groups

    def _join_order(self) -> np.ndarray:
        """Candidate pairs best score first. Scores equal to SCORE_DECIMALS are one score (every merge on spelling alone
        scores 0.6, a pair the images confirm 1.0 or nearly); among them a pair spelling also links goes first (two
        routes agree: `r3d` / `red` before `r3d` / `rot` once `red` / `rot` is rejected), then the pair whose images
        lean least towards telling its tags apart (the lower of the two tests' higher z, 0 where the images could not be
        asked): where two such merges cannot both hold (`dining atble` told apart from `dining table`, each spelled
        like `dining tables`), the likelier goes first, not the one whose tags come first in the vocabulary."""
        hint = np.zeros(len(self.scores_))
        probe = self.evidence_.probe
        if probe is not None:
            hint = np.round(np.nan_to_num(np.fmax(probe.gap_z, probe.z), nan=0.0), 6)
        score, spelled = np.round(self.scores_, SCORE_DECIMALS), np.round(self.evidence_.spelled(), 6)
        return np.lexsort((np.arange(len(self.scores_)), hint, -spelled, -score))

    def _group_distinct(self, left: list[int], right: list[int]) -> float:
        return float(self._group_parts(left, right)["distinct"])

    def _group_parts(self, left: list[int], right: list[int]) -> dict:
        """The rule's terms (distinct, same, ...) for two groups of tags, asked of the images carrying a tag of
        one and none of the other's against the reverse: each pair across them may look like one concept where a
        tag's images are mostly the other group's concept under another of its spellings, and one concept it is
        not (a descriptor typed on both spellings of one concept and on some images of a look-alike)."""
        from tagger.variants.separability import ProbeResult

        result = self.probe_.probe_groups(left, right)
        probe = ProbeResult(**{name: getattr(result, name) for name in PROBE_COLUMNS}, family=self.max_probes)
        nothing = np.zeros(1)
        evidence = PairEvidence(first=np.array(left[:1]), second=np.array(right[:1]), visual=nothing,
                                context=np.full(1, np.nan), spelling=nothing, overlap=nothing, probe=probe)
        return {name: value[0] for name, value in evidence.parts().items()}

    def _leave_one_out(self, group_of: dict[int, set], tag_vectors, vocabulary) -> None:
        """Each group of three tags or more, each tag against the rest of its group: a tag leaves it where the images
        call it two from the rest (_group_distinct), or where it names no image by itself within the group (every
        image carrying it, but fewer than the probe's MIN_IMAGES, carries another of its tags) and scores as one
        with none of them without the lift of named twice (a second name also names images by itself; see
        _never_alone). The worst first (told apart, then naming nothing alone), until none is or two tags are left.
        Pairs joined best first cannot see a tag's fit to a group it joined before the group's other spellings:
        `orange ish` joins `orange` on images that are mostly orange ones spelled `0range`; against the group they
        are the look-alike's."""
        from tagger.variants.separability import MIN_IMAGES

        groups = {id(members): members for members in group_of.values() if len(members) >= 3}
        for members in sorted(groups.values(), key=min):
            while len(members) >= 3:
                worst = {}
                for tag in sorted(members):
                    rest = sorted(members - {tag})
                    distinct = self._group_distinct([tag], rest)
                    alone = len(np.setdiff1d(self.probe_.images_of(tag), self.probe_.images_of_tags(tuple(rest))))
                    worst[tag] = (distinct >= 0.5, alone < MIN_IMAGES and not self._one_without_lift(
                        tag, rest, tag_vectors, vocabulary), distinct, tag)
                tag = max(worst, key=lambda tag: worst[tag])
                if not any(worst[tag][:2]):
                    break
                members.discard(tag)
                group_of[tag] = {tag}

    def _one_without_lift(self, tag: int, others: list[int], tag_vectors, vocabulary) -> bool:
        """Whether the tag scores as one (min_score) with one of the others without the lift of named twice."""
        evidence = self._evidence(np.full(len(others), tag), np.array(others), tag_vectors, vocabulary)
        evidence.names_alone = np.zeros(len(others))
        return bool(self._scores(evidence, vocabulary).max() >= self.min_score)

    def _near_misses(self, vocabulary, counts) -> list[dict]:
        """Pairs scored as one and kept apart by another pair, pairs just under min_score and spelling-near pairs the
        images tell apart (best score first), then pairs alike and never together (most alike first): listed, not
        merged, at most near_misses of each kind (flag); how many more of each there were is near_misses_left_out_."""
        group_of = {tag: set(group.members) for group in self.groups_ for tag in group.members}
        flags = self.evidence_.flags(self.min_score, self.scores_)
        for index in np.flatnonzero(self.scores_ >= self.min_score):
            flags[index] = GROUPS_DISAGREE  # not merged (a pair merged is one group already, and not listed)
        position = {tag: index for index, tag in enumerate(vocabulary)}
        answers = self.evidence_.probe_answers()  # once for both lists: every candidate pair's
        missed, left_out = self._listed(np.argsort(-self.scores_, kind="stable"), flags, answers, group_of, position,
                                        vocabulary, counts)
        alike = self.evidence_.never_together(flags, self.min_score, self.scores_)
        for index in alike:
            flags[index] = NEVER_TOGETHER
        alike_missed, alike_left_out = self._listed(alike, flags, answers, group_of, position, vocabulary, counts)
        self.near_misses_left_out_ = dict(left_out + alike_left_out)
        return missed + alike_missed

    def _listed(self, order, flags, answers, group_of, position, vocabulary, counts) -> tuple[list[dict], Counter]:
        """The near misses among the pairs in order, at most near_misses of each kind (flag), and how many of each
        kind were left out."""
        missed, listed = [], Counter()
        for index in order:
            first, second = vocabulary[self.evidence_.first[index]], vocabulary[self.evidence_.second[index]]
            left, right = group_of.get(first, {first}), group_of.get(second, {second})
            # Taking the pair joins their groups: not listed when they are one already, or when a person rejected
            # a pair across them (red / rot rejected, r3d in red's group: rot / r3d is that decision again).
            if not flags[index].startswith(NEAR_MISS) or second in left \
                    or any(frozenset((a, b)) in self.rejected_ for a in left for b in right):
                continue
            # Each kind its own room: the pairs told apart score near 0 and would be the first left out of a shared one.
            listed[flags[index]] += 1
            if listed[flags[index]] > self.near_misses:
                continue
            canonical, variant = sorted((first, second), key=lambda t: (-counts[position[t]], t))
            evidence = self.evidence_
            missed.append({"canonical": canonical, "variant": variant, "score": float(self.scores_[index]),
                           "visual": float(evidence.visual[index]), "context": float(evidence.context[index]),
                           "spelling": float(evidence.spelling[index]), "overlap": float(evidence.overlap[index]),
                           **({} if evidence.text is None else {"text": float(evidence.text[index])}),
                           "probe": None if answers is None else answers[index],
                           "canonical_count": int(counts[position[canonical]]),
                           "variant_count": int(counts[position[variant]]), "flag": flags[index],
                           "confidence": confidence(float(self.scores_[index]), pair_kind(False, flags[index]))})
        left_out = Counter({flag: count - self.near_misses for flag, count in listed.items()
                            if count > self.near_misses})
        return missed, left_out
