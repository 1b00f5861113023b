"""Joining scored pairs into variant groups (CombinedVariants; DBSCANVariants, the baseline, clusters the tags' mean
images) and listing the near misses beside them. How one pair is scored is tagger.variants.rule's."""

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.cluster import DBSCAN

from tagger.variants.calibration import confidence, pair_kind
from tagger.variants.canonical import CanonicalRanks
from tagger.variants.evidence import CooccurrenceStats, candidate_pairs, pair_evidence, visual_spaces
from tagger.variants.rule import (
    GROUPS_DISAGREE, JOINED_THROUGH, NEAR_MISS, NEAR_MISS_SHARE, NEVER_TOGETHER, SPELLED_ALIKE, TYPED_TOGETHER,
    PairEvidence, ramp,
)

if TYPE_CHECKING:  # imported by fit itself, only when the probe is used
    from tagger.variants.separability import ProbeResult


@dataclass
class VariantGroup:
    canonical: str
    members: list[str]  # canonical first (tagger.variants.canonical), then by count
    counts: list[int]
    similarities: list[float]  # each member's visual evidence with the canonical (PairEvidence.visual)
    scores: list[float] | None = None  # combined score of each member with the canonical (combined method)
    evidence: "PairEvidence | None" = None  # evidence of each member against the canonical
    flags: list[str] | None = None  # per member: why to look twice (e.g. "spelling only: check"); "" if nothing
    confidences: list[float] | None = None  # per member: the score calibrated (tagger.variants.calibration)
    _spelled: list[str] | None = field(default=None, repr=False, compare=False)  # spelling_links, once worked out

    def spelling_links(self) -> list[str] | None:
        """Per member: its spelling link with the canonical in words (PairEvidence.spelling_link; "" for the canonical
        itself); None without the pairs' evidence (the DBSCAN baseline). Worked out when first asked: only the groups
        written out need it, not every group a fit proposes."""
        if self.evidence is None:
            return None
        if self._spelled is None:
            self._spelled = [""] + [self.evidence.spelling_link(index, self.canonical, member)
                                    for index, member in enumerate(self.members) if index]
        return self._spelled


class DBSCANVariants:
    """DBSCAN with cosine distance over per-tag mean embeddings; each cluster of 2+ tags is a group."""

    def __init__(self, eps: float = 0.3, min_samples: int = 2):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, tag_vectors: np.ndarray, vocabulary: list[str], counts: list[int],
            rejected_pairs=frozenset(), chosen_canonicals=frozenset()) -> "DBSCANVariants":
        if len(vocabulary) != len(tag_vectors) or len(counts) != len(vocabulary):
            raise ValueError(f"need one vector and one count per tag; received {len(tag_vectors)} vectors, "
                             f"{len(vocabulary)} tags, {len(counts)} counts")
        if len(vocabulary) < self.min_samples:
            self.labels_ = np.full(len(vocabulary), -1)
        else:
            self.labels_ = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric="cosine").fit(tag_vectors).labels_
        self.groups_ = []
        ranks = CanonicalRanks(vocabulary, counts, chosen_canonicals, ask=np.flatnonzero(self.labels_ >= 0))
        for label in sorted(set(self.labels_) - {-1}):
            # The canonical: the spelling of the collection's language, then the most used (tagger.variants.canonical).
            ordered = ranks.ordered(np.flatnonzero(self.labels_ == label))
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


NEAR_MISSES_LISTED = 50  # near misses listed of each kind (flag), best first: a review list, not a dump
PROBE_COLUMNS = ("auc", "null_mean", "null_std", "reference", "gap", "gap_null_mean", "gap_null_std", "gap_reference",
                 "unseen", "unseen_null_mean", "unseen_null_std", "together_z", "together_separation",
                 "together_top_z", "together_top_separation", "together_power")
# Scores equal to this many decimals are one score to the join order: the probe's own sampling moves a score by more
# (drawn with another seed, by 0.02 at the median over the suite's scored pairs, 0.01 or more for two in three), so a
# smaller difference is no evidence (1.0 / 0.9998: the images confirm both).
SCORE_DECIMALS = 2


def typing_habit(evidence: PairEvidence, scores: np.ndarray, min_score: float) -> tuple[float, float] | None:
    """How the collection types its spelling variants together: the median share of the rarer tag's images carrying
    both, over the pairs linked by spelling that the step would merge without the habit (scores: theirs before it), and
    its spread (1.4826 x the median absolute deviation: a normal's standard deviation). None without such pairs. The
    pairs it would merge, not every pair spelled alike: distinct words a letter apart that never meet (`rod` / `road`)
    say nothing of how a variant is typed. The median, not the mean: a few look-alikes shown together under near names
    are what the habit is measured to find. The spread is read off the pairs at or under the median: the look-alikes
    stand out above it only, and at a dozen pairs three of them (together_nearspell: `ceiling` / `ceilings` sharing 10
    of 20 images beside variants sharing 0-3 of 8-18) would widen a spread read on both sides until none stood out.
    (One or two pairs cannot stand out from their own median and spread.)"""
    shares = evidence.overlap[(evidence.spelled() >= 0.5) & (scores >= min_score)]
    if not len(shares):
        return None
    typical = float(np.median(shares))
    return typical, 1.4826 * float(np.median(typical - shares[shares <= typical]))


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
            image_embeddings=None, image_photos=None, accepted_pairs=frozenset(),
            chosen_canonicals=frozenset()) -> "CombinedVariants":
        """tag_vectors: one array of L2-normalized tag vectors, or a list of views of them (the first is searched
        for neighbours; visual evidence is the mean cosine over the views).
        rejected_pairs: frozensets of two tags a person rejected; they never end up in one group.
        accepted_pairs: frozensets of two tags a person accepted (review.csv); among the pairs scoring min_score, those
        join first (asked across groups as every pair is), and neither tag leaves the other's group: the person
        decided (where two pairs are true, `r3d` with `red` and with `rot` once `red` / `rot` is rejected, the one
        accepted, not the one the images score 0.03 higher with this machine's model). An accepted pair scoring under it is not proposed: its row is kept in
        review.csv, and apply_review.py merges it.
        image_embeddings: per-image embeddings (rows of tag_images' columns) for the separability probe.
        image_photos: per-image photo hashes (the manifest's photo column), so the probe counts copies of a photo once.
        chosen_canonicals: tags a person accepted another tag into (review.csv): each names the group it is in
        (tagger.variants.canonical)."""
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
        self.typing_habit_ = None
        self.chosen_canonicals_ = frozenset(chosen_canonicals)
        # Every tag of a candidate pair, a group's member or a near miss's, read in one pass at the first ranking
        # (or the first pair asked whether it is two words of the collection's language).
        self.canonical_ranks_ = CanonicalRanks(vocabulary, counts, self.chosen_canonicals_, ask=np.unique(pairs))
        self.evidence_ = self._evidence(pairs[:, 0], pairs[:, 1], tag_vectors, vocabulary)
        self.rejected_ = {frozenset(pair) for pair in rejected_pairs}
        self.accepted_ = {frozenset(pair) for pair in accepted_pairs} - self.rejected_
        self.typing_habit_ = typing_habit(self.evidence_, self._scores(self.evidence_, vocabulary), self.min_score)
        self.evidence_.typing_habit = self.typing_habit_
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
                                 probe=self._probe_pairs if self.probe_ is not None else None,
                                 ranks=self.canonical_ranks_)
        if self.never_alone_.any():
            evidence.names_alone = (~(self.never_alone_[evidence.first] | self.never_alone_[evidence.second])).astype(
                np.float64)
        evidence.typing_habit = self.typing_habit_
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
        accepted = self._accepted(vocabulary)
        order = self._join_order(accepted)
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
            ordered = self.canonical_ranks_.ordered(members)
            canonical = ordered[0]
            evidence = self._evidence(np.full(len(ordered), canonical), np.array(ordered), tag_vectors, vocabulary)
            scores = self._scores(evidence, vocabulary)
            # A member whose own pair with the canonical scores under the near misses' cut-off joined through another
            # member: flagged, and judged by its own evidence (calibration's near miss), not as a merge the images
            # confirm (a weak spelling link under that cut-off is no reason of its own to be in the group).
            flags = [""] + [(JOINED_THROUGH if score < NEAR_MISS_SHARE * self.min_score else "")
                            if flag in ("", SPELLED_ALIKE, TYPED_TOGETHER) else flag
                            for flag, score in zip(evidence.flags(self.min_score, scores)[1:], scores[1:])]
            groups.append(VariantGroup(
                canonical=vocabulary[canonical], members=[vocabulary[i] for i in ordered],
                counts=[int(counts[i]) for i in ordered], similarities=evidence.visual.tolist(),
                scores=scores.tolist(), evidence=evidence, flags=flags,
                confidences=[1.0] + [confidence(score, pair_kind(True, flag))
                                     for score, flag in zip(scores[1:], flags[1:])],
            ))
        # Most confident first, as synonyms.html says and the review page ranks them; score among equal confidences.
        groups.sort(key=lambda group: (-min(group.confidences[1:]), -min(group.scores[1:]), group.canonical))
        return groups

    def _join_order(self, accepted: np.ndarray) -> np.ndarray:
        """Candidate pairs a person accepted first (accepted), then best score first. Scores equal to SCORE_DECIMALS
        are one score (every merge on spelling alone scores 0.6, a pair the images confirm 1.0 or nearly); among them:

        - a pair spelling also links (two routes agree: `r3d` / `red` before `r3d` / `rot` once `red` / `rot` is
          rejected);
        - then the pair whose images lean least towards telling its tags apart, counted from a z of 1 as the rule's
          hint of a difference is (the lower of the two tests' higher z; 0 where the images could not be asked):
          `dining tables` joins `dining table` before `dining atble`, a look-alike its images sit further from;
        - then, where the images leave them equal (a lean under a z of 1 is chance's), the pair with the likelier
          canonical (CanonicalRanks): a person aliases variants to a concept's main spelling, so where two such merges
          cannot both hold, the main spelling keeps its own: `vases`, one key with `vase` and, read as -es, with
          `vas`, a word one slip from `vase`, joins `vase`, and `vas` is listed;
        - not the one whose tags come first in the vocabulary."""
        lean = np.zeros(len(self.scores_))
        probe = self.evidence_.probe
        if probe is not None:
            lean = np.round(ramp(np.nan_to_num(np.fmax(probe.gap_z, probe.z), nan=0.0), 1, 3), 6)
        score, spelled = np.round(self.scores_, SCORE_DECIMALS), np.round(self.evidence_.spelled(), 6)
        # Each tag's place as a canonical, among the tags of the pairs that may join (the rest are never joined).
        joined = np.flatnonzero(self.scores_ >= self.min_score)
        tags = np.unique(np.concatenate([self.evidence_.first[joined], self.evidence_.second[joined]]))
        place = np.zeros(len(self.canonical_ranks_.vocabulary), np.int64)
        place[sorted(tags.tolist(), key=self.canonical_ranks_.key)] = np.arange(len(tags))
        canonical = np.minimum(place[self.evidence_.first], place[self.evidence_.second])
        return np.lexsort((np.arange(len(self.scores_)), canonical, lean, -spelled, -score, ~accepted))

    def _accepted(self, vocabulary) -> np.ndarray:
        """Per candidate pair: whether a person accepted it."""
        index = {tag: position for position, tag in enumerate(vocabulary)}
        pairs = [sorted(index[tag] for tag in pair)
                 for pair in self.accepted_ if len(pair) == 2 and pair <= index.keys()]
        if not pairs:
            return np.zeros(len(self.scores_), bool)
        # Each unordered pair as one number: a lookup over every candidate pair without a Python loop over them.
        first, second = np.minimum(self.evidence_.first, self.evidence_.second), np.maximum(self.evidence_.first,
                                                                                              self.evidence_.second)
        return np.isin(first * len(vocabulary) + second, [low * len(vocabulary) + high for low, high in pairs])

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
                    if any(frozenset((vocabulary[tag], vocabulary[other])) in self.accepted_ for other in members):
                        continue  # a person accepted it into this group
                    rest = sorted(members - {tag})
                    distinct = self._group_distinct([tag], rest)
                    alone = len(np.setdiff1d(self.probe_.images_of(tag), self.probe_.images_of_tags(tuple(rest))))
                    worst[tag] = (distinct >= 0.5, alone < MIN_IMAGES and not self._one_without_lift(
                        tag, rest, tag_vectors, vocabulary), distinct, tag)
                tag = max(worst, key=lambda tag: worst[tag]) if worst else None
                if tag is None or not any(worst[tag][:2]):
                    break
                members.discard(tag)
                group_of[tag] = {tag}

    def _one_without_lift(self, tag: int, others: list[int], tag_vectors, vocabulary) -> bool:
        """Whether the tag scores as one (min_score) with one of the others without the lift of named twice."""
        evidence = self._evidence(np.full(len(others), tag), np.array(others), tag_vectors, vocabulary)
        evidence.names_alone = np.zeros(len(others))
        return bool(self._scores(evidence, vocabulary).max() >= self.min_score)

    def _near_misses(self, vocabulary, counts) -> list[dict]:
        """Pairs scored as one and kept apart by another pair, pairs just under min_score, spelling-near pairs the
        images tell apart, pairs spelled alike the images cannot decide and those typed together beyond the collection's
        habit (best score first), then pairs alike and never together (most alike in company first): listed, not
        merged, at most near_misses of each kind (flag); how many more of each there were is near_misses_left_out_."""
        group_of = {tag: set(group.members) for group in self.groups_ for tag in group.members}
        flags = self.evidence_.flags(self.min_score, self.scores_)
        for index in np.flatnonzero(self.scores_ >= self.min_score):
            flags[index] = GROUPS_DISAGREE  # not merged (a pair merged is one group already, and not listed)
        answers = self.evidence_.probe_answers()  # once for both lists: every candidate pair's
        listed, left_out = self._listed(np.argsort(-self.scores_, kind="stable"), flags, group_of, vocabulary)
        alike = self.evidence_.never_together(flags, self.min_score, self.scores_)
        for index in alike:
            flags[index] = NEVER_TOGETHER
        alike_listed, alike_left_out = self._listed(alike, flags, group_of, vocabulary)
        self.near_misses_left_out_ = dict(left_out + alike_left_out)
        return [self._near_miss(index, *self.canonical_ranks_.ordered(
                    (self.evidence_.first[index], self.evidence_.second[index])), flags, answers, vocabulary, counts)
                for index in listed + alike_listed]

    def _listed(self, order, flags, group_of, vocabulary) -> tuple[list[int], Counter]:
        """The near misses among the pairs in order (their indices), at most near_misses of each kind (flag), and how
        many of each kind were left out."""
        chosen, listed = [], Counter()
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
            if listed[flags[index]] <= self.near_misses:
                chosen.append(int(index))
        left_out = Counter({flag: count - self.near_misses for flag, count in listed.items()
                            if count > self.near_misses})
        return chosen, left_out

    def _near_miss(self, index, canonical, variant, flags, answers, vocabulary, counts) -> dict:
        """One near miss as synonyms.json lists it, its two tags ordered as a group's would be."""
        evidence = self.evidence_
        return {"canonical": vocabulary[canonical], "variant": vocabulary[variant], "score": float(self.scores_[index]),
                "visual": float(evidence.visual[index]), "context": float(evidence.context[index]),
                "spelling": float(evidence.spelling[index]), "overlap": float(evidence.overlap[index]),
                **({} if evidence.text is None else {"text": float(evidence.text[index])}),
                "probe": None if answers is None else answers[index],
                "spelled": evidence.spelling_link(index, vocabulary[canonical], vocabulary[variant]) or None,
                "canonical_count": int(counts[canonical]), "variant_count": int(counts[variant]), "flag": flags[index],
                "confidence": confidence(float(self.scores_[index]), pair_kind(False, flags[index]))}
