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


def test_the_report_marks_no_precision_where_a_tags_threshold_passes_no_validation_image(tmp_path):
    import html

    from tagger.settings import ThresholdSettings
    from tagger.train.evaluation import evaluate_and_report

    # 'common' has enough validation images for a threshold of its own; 'rare' two (under min_positives: the global
    # threshold), both scored under it, and under its other images: a weak tag whose threshold passes no image.
    labels = np.zeros((40, 2))
    labels[:20, 0] = 1
    labels[[0, 1], 1] = 1
    scores = np.zeros((40, 2), np.float32)
    scores[:, 0] = np.where(labels[:, 0] > 0, 0.8, 0.3) + np.linspace(0, 0.1, 40)
    scores[:, 1] = np.where(labels[:, 1] > 0, 0.05, 0.1)
    history = {"head": [{"epoch": 1, "loss": 0.5, "validation_mAP": 0.5}]}
    metrics, thresholds = evaluate_and_report(tmp_path, ["common", "rare"], labels, labels, scores, history,
                                              ThresholdSettings())
    assert thresholds["global_for"] == ["rare"] and thresholds["tags"]["rare"] > scores[:, 1].max()
    report = html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    weakest_chart = report[report.index("precision-recall, weakest tags"):]
    weakest_chart = weakest_chart[:weakest_chart.index("</svg>")]
    assert f"rare (AP 0.05; threshold {thresholds['tags']['rare']:.2f} passes no image)" in weakest_chart
    assert "<use " not in weakest_chart  # no dot drawn for it: its precision is undefined, not 1.0
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in report
