"""The confidence beside each pair is a measured share of true pairs, per kind of pair, on the set where that
kind fares worst."""

from tagger.variants.calibration import (
    CALIBRATION, IMAGES, KINDS, NEAR_MISS, NEVER_TOGETHER, SLIP_OF_A_WORD, SPELLING_ONLY, TOLD_APART, confidence,
    fit_calibration, pair_kind,
)


def test_blocks_of_score_get_their_smoothed_share_and_a_higher_score_is_never_less_sure():
    # 12 pairs under 0.7, the only 3 true ones lowest (isotonic pools them all: 3 of 12), then 12 of 12.
    scores = [0.5 + 0.01 * i for i in range(12)] + [0.7 + 0.01 * i for i in range(12)]
    truths = [1, 1, 1] + [0] * 9 + [1] * 12
    table = fit_calibration(scores, truths, [IMAGES] * 24)
    assert table[IMAGES] == ((0.0, round(4 / 14, 3)), (0.7, round(13 / 14, 3)))
    assert table[NEAR_MISS] == ((0.0, 0.5),)  # no pairs of that kind: no claim either way
    assert confidence(0.2, IMAGES, table) == confidence(0.69, IMAGES, table) == round(4 / 14, 3)
    assert confidence(0.7, IMAGES, table) == confidence(0.99, IMAGES, table) == round(13 / 14, 3)


def test_each_kind_is_fitted_on_the_set_where_it_fares_worst():
    scores = [0.6] * 20
    truths = [1] * 10 + [1] * 8 + [0] * 2
    table = fit_calibration(scores, truths, [SPELLING_ONLY] * 20, ["easy"] * 10 + ["nearspell"] * 10)
    assert table[SPELLING_ONLY] == ((0.0, round(9 / 12, 3)),)  # nearspell's 8 of 10, not the average 18 of 20


def test_a_set_with_a_few_pairs_of_a_kind_is_pooled_and_does_not_set_it_by_being_small():
    # One true pair of its own, (1 + 1) / (1 + 2) = 0.67, would be the 'worst' set beside 30 of 30 elsewhere.
    table = fit_calibration([0.6] * 31, [1] * 31, [IMAGES] * 31, ["scenes"] * 30 + ["danbooru"])
    assert table[IMAGES] == ((0.0, round(31 / 32, 3)),)
    # Small sets together, once they are many pairs, compete as one: 6 of 12 over four small sets.
    table = fit_calibration([0.6] * 42, [1] * 30 + [1, 0, 0] * 2 + [1, 1, 0] * 2, [IMAGES] * 42,
                            ["scenes"] * 30 + ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3)
    assert table[IMAGES] == ((0.0, round(7 / 14, 3)),)
    # A few pairs, all false, still make the worst set: fewer than 10 pairs, but below every larger set.
    table = fit_calibration([0.6] * 39, [1] * 30 + [0] * 9, [IMAGES] * 39, ["scenes"] * 30 + ["b"] * 9)
    assert table[IMAGES] == ((0.0, round(1 / 11, 3)),)
    # Set names of any type (the pool's name is a string).
    table = fit_calibration([0.6] * 31, [1] * 31, [IMAGES] * 31, [7] * 30 + [8])
    assert table[IMAGES] == ((0.0, round(31 / 32, 3)),)


def test_a_block_of_few_pairs_joins_the_block_below_it():
    # 9 of 12 at 0.6 and one true pair at 0.7: alone it would be a block of its own, above.
    table = fit_calibration([0.6] * 12 + [0.7], [1] * 9 + [0] * 3 + [1], [IMAGES] * 13)
    assert table[IMAGES] == ((0.0, round(11 / 15, 3)),)


def test_the_shipped_table_is_monotone_and_each_kind_is_looked_up():
    for kind in KINDS:
        blocks = CALIBRATION[kind]
        assert blocks[0][0] == 0.0
        assert [low for low, _ in blocks] == sorted(low for low, _ in blocks)
        assert [share for _, share in blocks] == sorted(share for _, share in blocks)
    assert pair_kind(True, "") == IMAGES
    assert pair_kind(True, "spelling only: check") == SPELLING_ONLY
    assert pair_kind(True, "spelling only: a slip of a word, check") == SLIP_OF_A_WORD
    # A member joined through another member, its own pair with the canonical a near miss: not confirmed.
    assert pair_kind(True, "near miss") == NEAR_MISS
    assert pair_kind(True, "") == IMAGES
    assert pair_kind(False, "near miss") == NEAR_MISS
    assert pair_kind(False, "near miss: images tell them apart") == TOLD_APART
    assert pair_kind(False, "near miss: alike, never on one image") == NEVER_TOGETHER
    # Each flag the rule writes, by its constant: a reworded flag must not fall back to another kind unseen.
    from tagger.variants import calibration, rule

    assert [pair_kind(False, flag) for flag in (rule.NEAR_MISS, rule.IMAGES_DIFFER, rule.SPELLED_ALIKE,
                                                rule.NEVER_TOGETHER, rule.GROUPS_DISAGREE, rule.JOINED_THROUGH,
                                                rule.TYPED_TOGETHER)] == \
        [NEAR_MISS, TOLD_APART, calibration.SPELLED_ALIKE, NEVER_TOGETHER, NEAR_MISS, NEAR_MISS,
         calibration.TYPED_TOGETHER]
    assert [pair_kind(True, flag) for flag in (rule.SPELLING_ONLY, rule.SLIP_OF_A_WORD, rule.JOINED_THROUGH)] == \
        [SPELLING_ONLY, SLIP_OF_A_WORD, NEAR_MISS]
