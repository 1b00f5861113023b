"""Per-tag thresholds sit between validation scores: round-off of another float32 engine cannot flip a decision."""

import numpy as np

from tagger.train.metrics import THRESHOLD_RULES, between_scores, best_f1_threshold, choose_thresholds


def test_threshold_is_the_midpoint_below_the_score_the_rule_picked():
    scores = np.array([0.1, 0.4, 0.4, 0.7, 0.9], np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    assert best_f1_threshold(labels, scores) == np.float32(0.7)  # the rule's pick: a validation score
    assert between_scores(scores, np.float32(0.7)) == (np.float64(np.float32(0.4)) + np.float64(np.float32(0.7))) / 2
    assert between_scores(scores, np.float32(0.1)) == np.float64(np.float32(0.1)) / 2  # nothing below: halfway to 0


def test_chosen_thresholds_keep_the_rules_decisions_halfway_between_neighbouring_scores():
    random = np.random.default_rng(0)
    labels = (random.random((200, 6)) < 0.3).astype(float)
    scores = np.clip(labels * 0.3 + random.random((200, 6)) * 0.7, 0, 1).astype(np.float32)
    for mode, rule in THRESHOLD_RULES.items():
        thresholds, _ = choose_thresholds(labels, scores, mode)
        for tag in range(6):
            column = scores[:, tag].astype(np.float64)
            picked = rule(labels[:, tag], scores[:, tag], 0.9)
            # The rule's validation decisions, unchanged.
            assert np.array_equal(column >= thresholds[tag], column >= picked), (mode, tag)
            # Exactly halfway between the lowest score kept and the highest left out: no score on it.
            kept, left_out = column[column >= thresholds[tag]], column[column < thresholds[tag]]
            assert thresholds[tag] == (kept.min() + (left_out.max() if len(left_out) else 0.0)) / 2, (mode, tag)
            assert not np.any(column == thresholds[tag])
