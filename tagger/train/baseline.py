"""A yardstick for stage 1: scikit-learn's one-vs-rest logistic regression on the same cached features.

The report shows it beside the trained head; a head well below it means stage 1 needs other settings.
"""

import logging
import time

import numpy as np

from tagger.train.metrics import mean_average_precision

log = logging.getLogger(__name__)

# Rows x tags above which the yardstick is skipped under 'auto': its time grows with both.
AUTO_LIMIT = 5_000_000


def logistic_regression_baseline(features: np.ndarray, labels: np.ndarray, train_rows, validation_rows,
                                 setting: str) -> dict | None:
    """{'mAP', 'seconds', 'tags_fitted'} of one-vs-rest logistic regression (C=1), or None when skipped."""
    size = len(train_rows) * labels.shape[1]
    if setting == "off" or (setting == "auto" and size > AUTO_LIMIT):
        if setting == "auto":
            log.info(f"logistic-regression yardstick skipped: {len(train_rows)} images x {labels.shape[1]} tags is over "
                  f"{AUTO_LIMIT:,} (--train.baseline on runs it anyway)")
        return None
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    train_labels = labels[train_rows]
    # A tag needs a positive and a negative to fit; any other tag scores a constant (AP of a constant: its frequency).
    fitted = np.flatnonzero((train_labels.sum(axis=0) > 0) & (train_labels.sum(axis=0) < len(train_rows)))
    scores = np.zeros((len(validation_rows), labels.shape[1]))
    for tag in fitted:
        model = LogisticRegression(C=1.0, max_iter=2000).fit(features[train_rows], train_labels[:, tag])
        scores[:, tag] = model.predict_proba(features[validation_rows])[:, 1]
    result = {"mAP": mean_average_precision(labels[validation_rows], scores),
              "seconds": round(time.perf_counter() - start, 2), "tags_fitted": int(len(fitted))}
    log.info(f"logistic-regression yardstick on the same features: validation mAP {result['mAP']:.4f} "
          f"({result['seconds']:.1f} s)")
    return result
