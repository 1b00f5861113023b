"""Stage 1's convex problem solved directly; its solution is both the head's start and the report's yardstick.

The head on frozen features is a multi-label logistic regression. This solves scikit-learn's
LogisticRegression(C=1) problem for every tag (log-loss summed over the training images x C, plus |w|^2 / 2,
the intercept free) on every training image, all tags at once: one pair of matrix products per iteration
whatever the vocabulary, where scikit-learn fits tag after tag (169 s on 6,000 images x 27 tags before; its
time budget then left tags out). The features are centred and whitened by their covariance first, so every
direction has about the same curvature and plain accelerated gradient steps of a known safe size converge;
the weights are mapped back to the raw features at the end. Deterministic: no sampling, no clock, an iteration cap.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np

from tagger.logs import counted
from tagger.train.metrics import mean_average_precision

log = logging.getLogger(__name__)

# Rows x tags above which the yardstick is skipped under 'auto': its time grows with both.
AUTO_LIMIT = 5_000_000
ITERATIONS = 300
# Fewer iterations on a large problem, so the solve stays within a few of the head's epochs (each iteration costs
# two products of rows x features x tags multiply-adds, an epoch three): at most WORK_LIMIT multiply-adds.
MIN_ITERATIONS, WORK_LIMIT = 30, 2e11
INVERSE_REGULARIZATION = 1.0  # scikit-learn's C


@dataclass
class Yardstick:
    record: dict  # {'mAP', 'seconds', 'tags_fitted', 'method', ...}: metrics.json's stage1.logistic_regression
    kernel: np.ndarray  # features x tags, for the raw features; zero for the tags not fitted
    bias: np.ndarray  # tags: the clipped log-odds for the tags not fitted
    fitted: list  # the tags fitted: those with a positive and a negative training image


def logistic_regression_baseline(features: np.ndarray, labels: np.ndarray, train_rows, validation_rows,
                                 setting: str, warm_start: bool = True) -> Yardstick | None:
    """The logistic regression's solution and its record (validation mAP over every tag), or None when skipped."""
    size = len(train_rows) * labels.shape[1]
    if setting == "off" or (setting == "auto" and size > AUTO_LIMIT):
        if setting == "auto":
            log.info(f"logistic-regression yardstick skipped: {len(train_rows)} images x {labels.shape[1]} tags is over "
                     f"{AUTO_LIMIT:,} (--train.head.baseline on runs it anyway)")
        return None
    start = time.perf_counter()
    rows = np.asarray(train_rows)
    cap = iteration_cap(len(rows), features.shape[1], labels.shape[1])
    kernel, bias, fitted, iterations, gradient = fit_logistic_regression(features[rows], labels[rows], iterations=cap)
    scores = np.asarray(features[validation_rows], np.float64) @ kernel + bias
    method = (f"L2 logistic regression, C={INVERSE_REGULARIZATION:g} (scikit-learn's LogisticRegression objective), "
              f"all {len(rows)} training images, {len(fitted)} of {labels.shape[1]} tags at once; accelerated "
              f"gradient on whitened features, {counted(iterations, 'iteration')} (at most {cap}), largest gradient "
              f"norm {gradient:.1e}; " + ("the head starts from this solution (train.head.warm_start)" if warm_start
                                          else "the head starts from scratch (train.head.warm_start false)"))
    record = {"mAP": mean_average_precision(labels[validation_rows], scores),
              "seconds": round(time.perf_counter() - start, 2), "tags_fitted": len(fitted), "method": method,
              "iterations": iterations, "gradient_norm": gradient}
    log.info(f"logistic-regression yardstick on the same features: validation mAP {record['mAP']:.4f} "
             f"({record['seconds']:.1f} s; {method})")
    return Yardstick(record, kernel.astype(np.float32), bias.astype(np.float32), fitted)


def iteration_cap(rows: int, width: int, tags: int) -> int:
    """ITERATIONS, or fewer (not under MIN_ITERATIONS) where they would cost more than WORK_LIMIT multiply-adds."""
    return int(min(ITERATIONS, max(MIN_ITERATIONS, WORK_LIMIT // (2 * max(rows * width * tags, 1)))))


def tag_log_odds(labels: np.ndarray) -> np.ndarray:
    """Each tag's log-odds of its frequency in labels (clipped away from 0 and 1): the bias of a tag layer
    whose weights are zero, as both the solver and the head start."""
    frequency = np.clip(labels.mean(axis=0) if len(labels) else np.zeros(labels.shape[1]), 1e-4, 1 - 1e-4)
    return np.log(frequency / (1 - frequency))


def fit_logistic_regression(features: np.ndarray, labels: np.ndarray, inverse_regularization=INVERSE_REGULARIZATION,
                            iterations: int | None = None, tolerance: float = 1e-4):
    """(kernel, bias, fitted tags, iterations run, the largest tag's final gradient norm) minimizing, for each tag,
    C x sum of log-losses + |w|^2 / 2, for all tags at once.

    In whitened coordinates u (w = P u, P = V (S/4 + penalty)^-1/2 from the centred covariance V S V^T) the
    objective's curvature is at most 1 along u and 1/4 along the intercept (the log-loss's is at most 1/4 of the
    covariance; centring decouples the intercept), so gradient steps of 1 and 4 are safe; Nesterov momentum,
    restarted per tag when it points uphill (O'Donoghue and Candes 2015), speeds them up.
    """
    from scipy.special import expit

    iterations = ITERATIONS if iterations is None else iterations

    # One float64 copy, centred in place: at 400,000 images x 1,280 features each copy is 4 GB.
    centred = np.array(features, np.float64)
    labels = np.asarray(labels, np.float64)
    rows, width = centred.shape
    positives = labels.sum(axis=0)
    fitted = [int(tag) for tag in np.flatnonzero((positives > 0) & (positives < rows))]
    kernel, bias = np.zeros((width, labels.shape[1])), tag_log_odds(labels)
    if not fitted:
        return kernel, bias, fitted, 0, 0.0
    targets = labels[:, fitted]
    # Divided by C x rows: the same minimum, a scale that does not depend on the set's size.
    penalty = 1.0 / (inverse_regularization * rows)
    mean = centred.mean(axis=0)
    centred -= mean
    if rows < width:  # fewer images than features: the SVD of the rows costs rows^2 x width, not width^3
        _, singular, right = np.linalg.svd(centred, full_matrices=False)
        spread, directions = singular**2 / rows, right.T
    else:
        spread, directions = np.linalg.eigh(centred.T @ centred / rows)
    # Directions the training features do not spread along (all but rows - 1 of them when there are fewer rows
    # than features) carry no gradient: their weights stay at 0, so they are left out of the products.
    kept = spread > spread.max() * 1e-10
    spread, directions = spread[kept], directions[:, kept]
    curvature = spread / 4 + penalty
    precondition = directions / np.sqrt(curvature)
    # The iterations in float32: half the memory traffic of float64, and far more precise than the tolerance.
    whitened = (centred @ precondition).astype(np.float32)
    penalty_along = (penalty / curvature)[:, None].astype(np.float32)
    targets = targets.astype(np.float32)

    weights = np.zeros((len(spread), len(fitted)), np.float32)
    intercepts = bias[fitted].astype(np.float32)
    previous_weights, previous_intercepts = weights, intercepts
    momentum_count = np.ones(len(fitted), np.float32)  # Nesterov's t, per tag
    run, gradient_norm = 0, np.inf
    for run in range(1, iterations + 1):
        next_count = ((1 + np.sqrt(1 + 4 * momentum_count**2)) / 2).astype(np.float32)
        factor = (momentum_count - 1) / next_count
        ahead_weights = weights + factor * (weights - previous_weights)
        ahead_intercepts = intercepts + factor * (intercepts - previous_intercepts)
        residual = expit(whitened @ ahead_weights + ahead_intercepts) - targets
        gradient_weights = whitened.T @ residual / rows + penalty_along * ahead_weights
        gradient_intercepts = residual.mean(axis=0)
        # The largest of the tags' gradient norms: every tag is solved, whatever the vocabulary's size.
        gradient_norm = float(np.sqrt(((gradient_weights**2).sum(axis=0) + gradient_intercepts**2).max()))
        previous_weights, previous_intercepts = weights, intercepts
        weights = ahead_weights - gradient_weights
        intercepts = ahead_intercepts - np.float32(4) * gradient_intercepts
        uphill = ((gradient_weights * (weights - previous_weights)).sum(axis=0)
                  + gradient_intercepts * (intercepts - previous_intercepts)) > 0
        momentum_count = np.where(uphill, np.float32(1.0), next_count)
        if gradient_norm < tolerance:
            break
    raw_weights = precondition @ weights.astype(np.float64)
    kernel[:, fitted] = raw_weights
    bias[fitted] = intercepts - mean @ raw_weights
    return kernel, bias, fitted, run, gradient_norm
