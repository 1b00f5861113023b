"""The variant rule (README, "How variants are scored"): how one pair's evidence is weighed into a score, and what a
person is told about it (its flag, the probe's answer in words). Grouping the scored pairs is tagger.variants.grouping's."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tagger.variants.spelled import spelling_link

if TYPE_CHECKING:  # the probe is imported where it is used
    from tagger.variants.separability import ProbeResult


def ramp(values, low: float, high: float) -> np.ndarray:
    """0 below low, 1 above high, linear between."""
    return np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0)


SPELLING_ONLY = "spelling only: check"
SLIP_OF_A_WORD = "spelling only: a slip of a word, check"  # one tag a word, the other one slip from it and no word
NEAR_MISS = "near miss"
IMAGES_DIFFER = "near miss: images tell them apart"
# Linked by spelling, too weakly for the spelling alone to reach the near misses (`gass` / `grass`: one letter of five
# missing, spelled 0.43, scoring 0.23-0.26 on coco128), or two words of the collection's language near in spelling,
# which spelling alone never proposes (PairEvidence.words_apart: `white pants` / `white panties`; nor tags differing
# only in the number of a word before their last, PairEvidence.number_apart: `leg up` / `legs up`), and the images
# neither confirm nor tell them apart: a typo of a tag with few images looks so, and so do distinct words one letter
# apart (`door` / `odor`). Listed for review, never merged: the person who knows the words decides.
SPELLED_ALIKE = "near miss: spelled alike, images unsure"
# Alike in images and company, never typed on one image, no spelling link, and too few images for the probe to
# decide: how a translation or synonym of a rare tag looks. Listed for review (ranked by company), never merged:
# distinct look-alikes that never meet (tv / curtain) look the same at a few images a tag.
NEVER_TOGETHER = "near miss: alike, never on one image"
# Spelled alike, the images unsure, and typed together on more of their images than the collection's spelling-linked
# pairs are (PairEvidence.typing_habit): two things shown together under near names (`dining table` / `dining tables`
# for a table and the chairs around it), not one typed twice. Listed for review, not merged.
TYPED_TOGETHER = "near miss: spelled alike, typed together"
# Scored as one tag, yet not merged: joining would put it in one group with a tag that scores apart from it (`coats`
# spelled like `coat`, whose translation `mantel` looks like something else): the person decides, it is not dropped.
GROUPS_DISAGREE = "near miss: scored as one, kept apart by another pair"
# A tag used on fewer images than data.min_tag_occurrences (rare_tags.csv), spelled as a kept tag: what the spelling
# alone would propose, had both been used enough (tagger.variants.rare). Listed, never merged: its few images were not
# asked.
RARE_SPELLING = "near miss: a rare spelling, check"
# In a group through another member, its own pair with the canonical scoring under the near misses' cut-off (`r3d` and
# `rot`, each one with `red`, 0.17 with each other on the suite's scenes_correlated): proposed, judged by its own
# evidence.
JOINED_THROUGH = "joined through another member: check"
ALIKE_MEANING = 0.5  # where the rule's strength ramp starts: the means begin to count as alike
# What the separability probe found for a pair (PairEvidence.probe_answers), shown as the "probe" evidence: can the
# two tags' images be told apart? Read off the rule's own terms at their midpoints: distinct, same, and the power of
# the images to see the tags at all. Words, not yes / no: review.csv's decision column takes those.
PROBE_TWO, PROBE_ONE, PROBE_UNSURE, PROBE_FAINT, PROBE_NOT_ASKED = "two tags", "one tag", "unsure", "faint", "not asked"


NEAR_MISS_SHARE = 0.6  # pairs scoring from 60% of min_score up to it are listed as near misses


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
    # 1 where both tags are words of the collection's language near in spelling (`white pants` / `white panties`):
    # spelling alone does not propose them (None: not asked: the DBSCAN baseline, evidence made by hand)
    words_apart: np.ndarray | None = None
    # 1 where the tags differ only in the number of a word before their last (`leg up` / `legs up`: one leg raised or
    # both): spelling alone does not propose them either (None: not asked)
    number_apart: np.ndarray | None = None
    # 1 where the tags name different numbers (`1980s` / `1990s`, `100 yen` / `1000 yen`): their spelling is no link at
    # all, the letters they share are what they count (None: not asked)
    numerals_apart: np.ndarray | None = None
    # 1 where each tag names images by itself (CombinedVariants.never_alone_), 0 where one never does: its shared use
    # is then no second name the images can vouch for (None: both do)
    names_alone: np.ndarray | None = None
    rarer_images: np.ndarray | None = None  # images of the pair's rarer tag (the overlap's denominator)
    # How this collection types its spelling variants together (grouping.typing_habit): the typical share of the rarer
    # tag's images carrying both, and its spread, over the pairs linked by spelling the step would merge without it
    # (None: not measured)
    typing_habit: tuple[float, float] | None = None

    def spelled_by_similarity(self) -> np.ndarray:
        """The spelling similarity's ramp, the rule's spelling link but for a slip of a word."""
        return ramp(self.spelling, 0.6, 0.95)

    def spelled(self) -> np.ndarray:
        """The rule's spelling link, 0 to 1: the spelling similarity's ramp, or 1 for a slip of a word (`windw` /
        `window` is as good a link as an undone plural: the other tag is no word of the collection's languages; see
        tagger.variants.words); 0 where the tags name different numbers (`1980s` / `1990s`)."""
        by_similarity = self.spelled_by_similarity()
        linked = by_similarity if self.slip is None else np.maximum(by_similarity, self.slip)
        return linked if self.numerals_apart is None else linked * (1 - self.numerals_apart)

    def typed_together(self) -> np.ndarray:
        """0 to 1: the pair shares more of its images than this collection's spelling-linked pairs do, beyond chance
        and by a fair share. Whether one person types one spelling per image, or two people's tags are merged and half
        a concept's images carry two, is the collection's habit, read off its own pairs (median, and the spread under
        it, which look-alikes shown together, above it, do not widen: grouping.typing_habit); a pair linked by spelling
        and typed together far beyond it is two things shown together (a table and the chairs around it under near
        names). The share is read as a count of the rarer tag's images (binomial) beside the habit's own spread
        between pairs, at the rule's 2-4 for significance and 0.2-0.4 for a fair share (of the images the habit leaves
        unshared)."""
        if self.typing_habit is None or self.rarer_images is None:
            return np.zeros(len(self.first))
        typical, spread = self.typing_habit
        images = np.maximum(self.rarer_images, 1)
        rate = np.maximum(typical, 1 / images)  # a share of one image is the least a count of them shows
        excess = self.overlap - typical
        noise = np.sqrt(rate * (1 - rate) / images + spread ** 2)
        # No spread at all (a tag of one image, every pair typed together alike): nothing to stand out from.
        z = np.divide(excess, noise, out=np.zeros(len(self.first)), where=noise > 0)
        return ramp(z, 2, 4) * ramp(excess / max(1 - typical, 1e-9), 0.2, 0.4)

    def probe_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the images say of each pair, the rule's terms read off the separability probe: distinct (two
        concepts), same (one), power (can the images see the tags at all) and named_twice (the images carrying both
        show one thing named twice), each 0 to 1; all 0 without the probe and for a pair it did not ask."""
        if self.probe is None:
            return tuple(np.zeros(len(self.first)) for _ in range(4))
        named_twice = np.zeros(len(self.first))
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
        return distinct, same, power, named_twice

    def parts(self) -> dict[str, np.ndarray]:
        """The documented rule (README, "How variants are scored"), term by term."""
        visual = np.clip(self.visual, 0, 1)
        meaning = np.where(np.isnan(self.context), visual, visual * (0.5 + 0.5 * np.nan_to_num(self.context)))
        strength = ramp(meaning, 0.5, 0.9)
        spelled = self.spelled()
        distinct, same, power, named_twice = self.probe_terms()
        # Close means cannot tell one concept from two that share their scenes (door / cabinet in the same
        # rooms, coat / shirt on the same people): with the probe on, the meaning route counts only as far
        # as the probe finds the tags one (same), and the means must agree a little. A pair it could not
        # ask (too few images of its own, past max_probes) is unconfirmed, not judged by its means.
        images_agree = strength if self.probe is None else same * ramp(meaning, 0.0, 0.2)
        # Spelling alone: 0.6, proposed but flagged; not where the pair is typed together beyond the collection's
        # habit and the images do not vouch for it (the overlap counts against a spelling link only so).
        together = self.typed_together()
        # Two words of the collection's language near in spelling are two words more often than one typed wrong, and a
        # word before the last in another number names another thing (English marks a tag's number on its last
        # word): the spelling adds to the images' agreement, and alone proposes nothing (listed as spelled alike).
        alone = 0.6 * np.ones(len(self.first))
        for apart in (self.words_apart, self.number_apart):
            if apart is not None:
                alone = alone * (1 - apart)
        spelling_case = spelled * (alone + 0.3 * images_agree) * (1 - together * (1 - images_agree))
        support = 1 - (1 - images_agree) * (1 - spelling_case)
        score = support * (1 - distinct) * (1 - self.overlap * (1 - spelled) * (1 - named_twice)) ** 2
        return {"meaning": meaning, "strength": strength, "spelled": spelled,
                "spelled_by_slip": spelled > self.spelled_by_similarity(), "distinct": distinct, "same": same,
                "power": power, "named_twice": named_twice, "images_agree": images_agree, "typed_together": together,
                "score": score}

    def spelling_link(self, index: int, first: str, second: str) -> str:
        """The pair at index's spelling link in words (tagger.variants.spelled: `plural`, `typo of a word`,
        `two words`), first and second its two tags."""
        def holds(values) -> bool:
            return values is not None and bool(values[index])
        return spelling_link(first, second, float(self.spelling[index]), holds(self.slip), holds(self.words_apart),
                             holds(self.number_apart), holds(self.numerals_apart))

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
        """Why a person should look twice: a merge carried by spelling alone, a pair just missed, one spelled alike that
        the images cannot decide or that is typed together beyond the collection's habit.
        scores: the pairs' scores as the step decided on them (a person's rejections,
        the text route: CombinedVariants._scores); default the rule's own."""
        parts = self.parts()
        scores = parts["score"] if scores is None else scores
        flags = []
        for score, spelled, agree, distinct, slip, together in zip(
                scores, parts["spelled"], parts["images_agree"], parts["distinct"], parts["spelled_by_slip"],
                parts["typed_together"]):
            if score >= min_score:
                flags.append((SLIP_OF_A_WORD if slip else SPELLING_ONLY) if spelled > 0 and agree < 0.5 else "")
            elif spelled >= 0.5 and distinct >= 0.5:
                flags.append(IMAGES_DIFFER)
            elif spelled >= 0.5 and together >= 0.5 and agree < 0.5:
                flags.append(TYPED_TOGETHER)
            elif score >= NEAR_MISS_SHARE * min_score:
                flags.append(NEAR_MISS)
            elif spelled > 0 and distinct < 0.5:
                flags.append(SPELLED_ALIKE)
            else:
                flags.append("")
        return flags

    def never_together(self, flags: list[str], min_score: float, scores: np.ndarray | None = None) -> np.ndarray:
        """Pairs (indices, most alike in company first) alike in images and company, never on one image, with no
        spelling link and not told apart, each tag's most alike such partner of the other: how a translation or
        synonym of a rare tag looks: among the pairs that never meet, a tag's translation tends to be its most alike
        partner (on the suite's translations set, 20 of the 37 pairs listed over three seeds were true; 24 of 120
        without the choice of each tag's most alike partner). Ranked by company (context), then meaning: a
        translation keeps its concept's company, a look-alike the company of its own scenes, while the images of
        a few dozen pictures hardly tell them apart (the listed pairs were chosen for alike images): over the
        suite's six coco128 sets at seeds 0-5, the first pair of a run's list was true in 26 of 36 runs ranked so,
        17 ranked by meaning. A pair without company (context NaN) comes after those with it. scores: as flags'."""
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
        company = np.round(np.nan_to_num(self.context, nan=-np.inf), 6)
        return np.array(sorted(listed, key=lambda index: (-company[index], -meaning[index], index)), np.int64)
