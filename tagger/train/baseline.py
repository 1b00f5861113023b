"""A yardstick for stage 1: scikit-learn's one-vs-rest logistic regression on the same cached features.

The report shows it beside the trained head; a head well below it means stage 1 needs other settings.
It is kept cheap, so it never costs more than a small part of a run: at most SAMPLE_ROWS training rows (a seeded
sample), lbfgs capped at MAX_ITERATIONS, and tags fitted most frequent first until TIME_BUDGET seconds are spent
(measured before: 169 s after a 5 s stage 1 on 6,000 images x 27 tags, with every row and 2,000 iterations).
"""

import logging
import time

import numpy as np

from tagger.train.metrics import mean_average_precision

log = logging.getLogger(__name__)

# Rows x tags above which the yardstick is skipped under 'auto': its time grows with both.
AUTO_LIMIT = 5_000_000
SAMPLE_ROWS = 2000
MAX_ITERATIONS = 200
TIME_BUDGET = 20.0


def logistic_regression_baseline(features: np.ndarray, labels: np.ndarray, train_rows, validation_rows,
                                 setting: str, seed: int = 0) -> dict | None:
    """{'mAP', 'seconds', 'tags_fitted', 'method'} of one-vs-rest logistic regression (C=1), or None when skipped.

    mAP is over the validation tags it fitted (all of them unless the time budget ran out; 'method' says).
    """
    size = len(train_rows) * labels.shape[1]
    if setting == "off" or (setting == "auto" and size > AUTO_LIMIT):
        if setting == "auto":
            log.info(f"logistic-regression yardstick skipped: {len(train_rows)} images x {labels.shape[1]} tags is over "
                  f"{AUTO_LIMIT:,} (--train.baseline on runs it anyway)")
        return None
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    rows = np.asarray(train_rows)
    if len(rows) > SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SAMPLE_ROWS, replace=False))
    train_features, train_labels = np.asarray(features[rows]), labels[rows]
    validation_features = np.asarray(features[validation_rows])
    positives = train_labels.sum(axis=0)
    # A tag needs a positive and a negative to fit; most frequent first, so a budget cut leaves the rare ones.
    fittable = [int(tag) for tag in np.argsort(-positives, kind="stable") if 0 < positives[tag] < len(rows)]
    scores, fitted = np.zeros((len(validation_rows), labels.shape[1])), []
    for tag in fittable:
        if fitted and time.perf_counter() - start > TIME_BUDGET:
            break
        model = LogisticRegression(C=1.0, max_iter=MAX_ITERATIONS).fit(train_features, train_labels[:, tag])
        scores[:, tag] = model.predict_proba(validation_features)[:, 1]
        fitted.append(tag)
    cut = len(fitted) < len(fittable)
    method = (f"lbfgs, C=1, at most {MAX_ITERATIONS} iterations, on {len(rows)} of {len(train_rows)} training images"
              + (f"; {len(fitted)} of {len(fittable)} tags (the most frequent) within the {TIME_BUDGET:g} s budget, "
                 "mAP over those" if cut else ""))
    chosen = fitted if cut else list(range(labels.shape[1]))
    result = {"mAP": mean_average_precision(labels[validation_rows][:, chosen], scores[:, chosen]),
              "seconds": round(time.perf_counter() - start, 2), "tags_fitted": len(fitted), "method": method}
    log.info(f"logistic-regression yardstick on the same features: validation mAP {result['mAP']:.4f} "
          f"({result['seconds']:.1f} s; {method})")
    return result
