"""The logistic-regression yardstick stays cheap: sampled rows, capped iterations, a time budget, and says so."""

import numpy as np

import tagger.train.baseline as baseline


def features_and_labels(rows: int = 2600, tags: int = 4):
    random = np.random.default_rng(0)
    labels = (random.random((rows, tags)) < np.linspace(0.4, 0.1, tags)).astype(np.float32)
    features = (labels @ random.normal(size=(tags, 16)) + random.normal(size=(rows, 16))).astype(np.float32)
    return features, labels


def test_yardstick_samples_rows_and_says_how_it_was_computed():
    features, labels = features_and_labels()
    result = baseline.logistic_regression_baseline(features, labels, range(2400), range(2400, 2600), "on")
    assert result["method"] == "lbfgs, C=1, at most 200 iterations, on 2000 of 2400 training images"
    assert result["tags_fitted"] == 4 and 0.5 < result["mAP"] <= 1.0


def test_a_spent_time_budget_keeps_the_most_frequent_tags_fitted_so_far(monkeypatch):
    features, labels = features_and_labels()
    monkeypatch.setattr(baseline, "TIME_BUDGET", 0.0)
    result = baseline.logistic_regression_baseline(features, labels, range(2400), range(2400, 2600), "on")
    assert result["tags_fitted"] == 1
    assert result["method"].endswith("; 1 of 4 tags (the most frequent) within the 0 s budget, mAP over those")
    full = baseline.logistic_regression_baseline(features[:, :], labels[:, :1], range(2400), range(2400, 2600), "on")
    assert result["mAP"] == full["mAP"]  # the first tag's AP alone
