"""The confidence shown with each pair: how often pairs like it were true where the truth was known.

The score (PairEvidence.parts) ranks pairs and decides the merges, but it is not a probability: on the
benchmark suite 90% of the pairs given 0.5-0.7 were true (held out). The confidence is the share of true pairs among
the suite's pairs of the same kind with about the same score:

- kinds: "images" (proposed, the images agree), "spelling only" (proposed on its spelling, flagged), "slip of a
  word" (proposed as one tag one slip from the other, a word: tagger.variants.words; flagged), "near miss"
  (listed under the cut-off, not merged), "told apart" (listed: near in spelling, the images tell them apart),
  "spelled alike" (listed: linked by spelling under the near misses, the images undecided) and "alike, never
  together" (listed: alike, never on one image, too few images to decide) and "typed together" (listed: spelled
  alike, the images unsure, sharing more images than the collection's spelling-linked pairs do), because one score
  means different things in each;
- per kind, blocks of score are fitted by isotonic regression (a higher score is never less sure);
- each kind is fitted on the suite's set where its share of true pairs is lowest (seeds pooled): each set
  breaks one assumption (look-alike classes with near spellings, variants the images cannot see, ...), and the
  confidence must hold on each, not on their average. Sets with fewer than MIN_BLOCK_PAIRS pairs of the kind
  are pooled into one (which competes once it has that many, or when its share is below every larger set's),
  so a set is the worst by its share, not by being small;
- on that set, blocks of score are fitted by isotonic regression (a higher score is never less sure), each
  block at least 10 pairs, its share smoothed as (true + 1) / (pairs + 2), so a few pairs never claim
  certainty, and no block above the blocks over it.

CALIBRATION is made by `python benchmarks/variant_suite.py --seeds 0,1,2,3,4,5 --demo-runs <a demo run>
--calibrate` (fitted on every set and seed of the suite; the same command also reports the calibration on held-out
seeds) and pasted here.
"""

import numpy as np

from tagger.variants import rule

IMAGES, SPELLING_ONLY, SLIP_OF_A_WORD, NEAR_MISS, TOLD_APART, SPELLED_ALIKE, NEVER_TOGETHER, TYPED_TOGETHER = (
    "images", "spelling only", "slip of a word", "near miss", "told apart", "spelled alike", "alike, never together",
    "typed together")
KINDS = (IMAGES, SPELLING_ONLY, SLIP_OF_A_WORD, NEAR_MISS, TOLD_APART, SPELLED_ALIKE, NEVER_TOGETHER, TYPED_TOGETHER)
MIN_BLOCK_PAIRS = 10
SMALLER_SETS = "(the smaller sets)"  # the sets with fewer than MIN_BLOCK_PAIRS pairs of a kind, pooled

# kind -> ((lowest score of the block, confidence), ...), blocks by increasing score. Made by
# `benchmarks/variant_suite.py --seeds 0,1,2,3,4,5 --demo-runs <the demo's run> --calibrate` (coco128 and the scenes
# through the shared MobileNetV2 ImageNet weights; the midscale sets' Gaussian features): images fitted on
# scenes_correlated (39 of 39 true, the smallest of the sets where every pair was; 1,086 of 1,086 over the suite, on
# synthetic images and features: coco128's tags have too few images for the images to confirm a merge), spelling only
# on together_nearspell (32 of 39: look-alike classes shown together, one renamed to the other's plural; 35 of 41 on
# nearspell, 603 of 603 elsewhere), the slip of a word on nearslip (3 of 17, where look-alike
# classes are renamed to a slip of each other's name; 73 of 73 elsewhere), near misses on midscale_attribute (7 of
# 14; 104 of 160 over the suite, 86 of 125 over the sets with fewer than 10; members joined through another member
# count here),
# pairs near in spelling that the images tell apart on scenes_signature (0 of 47), pairs spelled alike under the near
# misses on danbooru (2 of 22, `white pants` / `white panties` among them, two words of the language near in spelling,
# and `legs up` / `leg up`, a word before the last in another number;
# 2 of 10 on reposts: misspellings such as `gass` true, `shirt lift` / `skirt lift` and `car` / `cat` not; 32 of 66
# over the suite), pairs alike and never together on shared (0 of 48; 41 of 76 on
# translations), pairs spelled alike and typed together beyond the collection's habit on together_nearspell (0 of 11,
# the only set with such pairs). Held out (fitted without each seed), 1,086 of the 1,086 pairs given 0.9-1 were true,
# 670 of 683 at 0.7-0.9, 29 of 46 at 0.5-0.7 and 353 of 1,328 under 0.5 (each kind is given its worst set's share, so
# on most sets a kind is truer than its confidence says). A pair is shown as each member against its group's
# canonical, so the canonical's rule (tagger.variants.canonical) decides which pairs are fitted. Why six seeds, and
# the fit's whole printout: benchmarks/README.md.
CALIBRATION: dict[str, tuple[tuple[float, float], ...]] = {
    IMAGES: ((0.0, 0.976),),
    SPELLING_ONLY: ((0.0, 0.805),),
    SLIP_OF_A_WORD: ((0.0, 0.211),),
    NEAR_MISS: ((0.0, 0.5),),
    TOLD_APART: ((0.0, 0.02),),
    SPELLED_ALIKE: ((0.0, 0.125),),
    NEVER_TOGETHER: ((0.0, 0.02),),
    TYPED_TOGETHER: ((0.0, 0.077),),
}


# The rule's flags (tagger.variants.rule) that name a kind of their own; every other flag of a shown pair (a near miss
# just under the cut-off, one kept apart by another pair, a member joined through another member) is a near miss.
FLAG_KINDS = {rule.SPELLING_ONLY: SPELLING_ONLY, rule.SLIP_OF_A_WORD: SLIP_OF_A_WORD, rule.IMAGES_DIFFER: TOLD_APART,
              rule.SPELLED_ALIKE: SPELLED_ALIKE, rule.NEVER_TOGETHER: NEVER_TOGETHER,
              rule.TYPED_TOGETHER: TYPED_TOGETHER}


def pair_kind(proposed: bool, flag: str) -> str:
    """The calibration kind of a shown pair: proposed by its images, by spelling alone or as a slip of a word, a near
    miss, a pair near in spelling that the images tell apart, one spelled alike that they cannot decide, a pair
    listed as alike and never on one image, or one spelled alike and typed together beyond the collection's habit.

    The merges on spelling are two routes with risks of their own: an undone plural, leetspeak or a slip of near
    spelling fails where distinct classes are named as each other's plural (nearspell, danbooru); the slip of a word,
    where a made-up name is one slip from a word (nearslip). Each is fitted on its own worst set. A listed pair, or a
    member that joined its group through another member while its own pair with the canonical is a near miss
    (`p4per` beside `paepr`, joined through `paper`), is judged by its own evidence."""
    if proposed and not flag:
        return IMAGES
    return FLAG_KINDS.get(flag, NEAR_MISS)


def confidence(score: float, kind: str, table=None) -> float:
    """The calibrated share of true pairs among pairs of this kind at this score."""
    blocks = (table or CALIBRATION)[kind]
    value = blocks[0][1]
    for low, share in blocks:
        if score >= low:
            value = share
    return value


def fit_calibration(scores, truths, kinds, sets=None) -> dict[str, tuple[tuple[float, float], ...]]:
    """The table CALIBRATION holds, fitted on pairs whose truth is known (see the module's docstring).

    sets: the set each pair comes from; each kind is then fitted on the set where its share of true pairs is
    lowest."""
    from sklearn.isotonic import IsotonicRegression

    scores, truths, kinds = np.asarray(scores, np.float64), np.asarray(truths, np.float64), np.asarray(kinds)
    sets = np.asarray(sets if sets is not None else [""] * len(scores))
    table = {}
    for kind in KINDS:
        inside = np.flatnonzero(kinds == kind)
        if not len(inside):
            table[kind] = ((0.0, 0.5),)
            continue
        # A set with fewer than MIN_BLOCK_PAIRS pairs of this kind is pooled with the other such sets: one pair
        # of one set, true, would otherwise set the kind at (1 + 1) / (1 + 2) by being small, not by being hard.
        # The pool competes once it has that many pairs, or when its share of true pairs is below every larger
        # set's (few pairs, all false, are still a set where the kind fares worst).
        names = np.unique(sets[inside])
        small = {name for name in names if np.sum(sets[inside] == name) < MIN_BLOCK_PAIRS}
        groups = {str(name): inside[sets[inside] == name] for name in names if name not in small}
        pooled = inside[np.isin(sets[inside], list(small))]
        if len(pooled) and (len(pooled) >= MIN_BLOCK_PAIRS or not groups or
                            truths[pooled].mean() < min(truths[group].mean() for group in groups.values())):
            groups[SMALLER_SETS] = pooled
        worst = min(groups, key=lambda name: (smoothed_share(truths[groups[name]]), name))
        inside = groups[worst]
        inside = inside[np.argsort(scores[inside], kind="stable")]
        fitted = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0).fit_transform(scores[inside], truths[inside])
        # A block: a run of pairs with one fitted value, of at least MIN_BLOCK_PAIRS (a smaller one joins the
        # block below it, the first the one above): a share of one or two pairs says nothing.
        starts = [0] + [i for i in range(1, len(fitted)) if fitted[i] != fitted[i - 1]]
        starts = [start for start, stop in zip(starts, starts[1:] + [len(fitted)]) if stop - start >= MIN_BLOCK_PAIRS]
        starts = [0] + starts[1:] if starts else [0]
        lows = [0.0] + [round(float(scores[inside[start]]), 4) for start in starts[1:]]
        shares = [smoothed_share(truths[inside[start:stop]]) for start, stop in zip(starts, starts[1:] + [len(fitted)])]
        # Smoothing can put a small block above a larger one over it: each takes the least of itself and those above.
        shares = np.minimum.accumulate(np.array(shares)[::-1])[::-1]
        blocks = []
        for low, share in zip(lows, shares):
            if not blocks or round(float(share), 3) != blocks[-1][1]:
                blocks.append((low, round(float(share), 3)))
        table[kind] = tuple(blocks)
    return table


def smoothed_share(truths) -> float:
    """(true + 1) / (pairs + 2): a few pairs, all true, do not make certainty."""
    return (float(np.sum(truths)) + 1) / (len(truths) + 2)
