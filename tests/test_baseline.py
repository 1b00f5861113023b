"""The logistic-regression yardstick solves scikit-learn's problem, for all tags at once, and says how."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import tagger.train.baseline as baseline


def features_and_labels(rows: int = 600, tags: int = 4, width: int = 16):
    random = np.random.default_rng(0)
    labels = (random.random((rows, tags)) < np.linspace(0.4, 0.1, tags)).astype(np.float32)
    # Features of very unequal spread (and an offset), as a backbone's are.
    features = ((labels @ random.normal(size=(tags, width)) + random.normal(size=(rows, width)))
                * np.geomspace(0.05, 20, width))
    return (features + 3.0).astype(np.float32), labels


# More images than features (the covariance's eigenvectors), and fewer (the rows' SVD).
@pytest.mark.parametrize("rows, width", [(600, 16), (40, 64)])
def test_the_solution_is_scikit_learns_logistic_regression_for_every_tag(rows, width):
    features, labels = features_and_labels(rows, width=width)
    kernel, bias, fitted, iterations, gradient = baseline.fit_logistic_regression(features, labels, iterations=5000,
                                                                                  tolerance=1e-6)
    assert fitted == [0, 1, 2, 3] and gradient < 1e-6 and iterations < 5000
    features = features.astype(np.float64)
    for tag in fitted:
        reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(features, labels[:, tag])

        def objective(weights, intercept):  # scikit-learn's, C=1
            logits = features @ weights + intercept
            return np.logaddexp(0, logits).sum() - (labels[:, tag] * logits).sum() + 0.5 * weights @ weights

        # The same minimum (within a millionth of it: the iterations run in float32), at the same place.
        assert objective(kernel[:, tag], bias[tag]) <= objective(reference.coef_[0], reference.intercept_[0]) * (1 + 1e-6)
        np.testing.assert_allclose(kernel[:, tag], reference.coef_[0], atol=1e-3)
        np.testing.assert_allclose(bias[tag], reference.intercept_[0], rtol=1e-3)


def test_a_tag_without_positives_keeps_zero_weights_and_its_log_odds():
    features, labels = features_and_labels()
    labels[:, 2] = 0
    kernel, bias, fitted, _, _ = baseline.fit_logistic_regression(features, labels)
    assert fitted == [0, 1, 3]
    assert not kernel[:, 2].any() and bias[2] == np.log(1e-4 / (1 - 1e-4))


def test_the_record_says_how_the_yardstick_was_computed():
    features, labels = features_and_labels(rows=700)
    yardstick = baseline.logistic_regression_baseline(features, labels, range(600), range(600, 700), "on")
    record = yardstick.record
    assert record["tags_fitted"] == 4 and 0.5 < record["mAP"] <= 1.0
    assert record["method"] == (
        "L2 logistic regression, C=1 (scikit-learn's LogisticRegression objective), all 600 training images, "
        f"4 of 4 tags at once; accelerated gradient on whitened features, {record['iterations']} iterations "
        f"(at most 300), largest gradient norm {record['gradient_norm']:.1e}; the head starts from this solution "
        "(train.head.warm_start)")
    assert record["iterations"] < 300 and record["gradient_norm"] < 1e-4
    scores = features[600:] @ yardstick.kernel + yardstick.bias
    from tagger.train.metrics import mean_average_precision
    assert abs(mean_average_precision(labels[600:], scores) - record["mAP"]) < 1e-6


def test_a_large_problem_gets_fewer_iterations_never_under_the_minimum():
    assert baseline.iteration_cap(600, 16, 4) == baseline.ITERATIONS
    assert baseline.iteration_cap(6000, 1280, 27) == baseline.ITERATIONS
    assert baseline.iteration_cap(150_000, 1280, 33) == baseline.MIN_ITERATIONS
    assert baseline.iteration_cap(50_000, 1280, 20) == 78  # 2e11 // (2 x 50,000 x 1,280 x 20)


def test_auto_skips_a_problem_over_the_limit_and_off_skips_any():
    features, labels = features_and_labels(rows=700)
    assert baseline.logistic_regression_baseline(features, labels, range(600), range(600, 700), "off") is None
    wide = np.zeros((700, baseline.AUTO_LIMIT // 600 + 1), np.float32)
    assert baseline.logistic_regression_baseline(features, wide, range(600), range(600, 700), "auto") is None
