"""Validation metrics and per-tag thresholds for multi-label predictions."""

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

DEFAULT_THRESHOLD = 0.5


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over tags that occur in labels of each tag's average precision."""
    present = labels.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    return float(average_precision_score(labels[:, present], scores[:, present], average="macro"))


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The score threshold (predict tag when score >= it) with the best F1, or None without positives."""
    if labels.sum() == 0:
        return None
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def choose_thresholds(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-tag best-F1 thresholds, and one global threshold (best micro F1) for tags unseen in validation."""
    global_threshold = best_f1_threshold(labels.ravel(), scores.ravel())
    global_threshold = DEFAULT_THRESHOLD if global_threshold is None else global_threshold
    per_tag = [best_f1_threshold(labels[:, t], scores[:, t]) for t in range(labels.shape[1])]
    return np.array([global_threshold if t is None else t for t in per_tag], np.float64), global_threshold


def f1_scores(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """Micro and macro precision/recall/F1; macro over tags that occur in labels."""
    true_positive = (labels * predicted).sum(axis=0)
    predicted_count, actual_count = predicted.sum(axis=0), labels.sum(axis=0)

    def f1(tp, pred, act):
        precision = np.divide(tp, pred, out=np.zeros_like(tp, dtype=float), where=pred > 0)
        recall = np.divide(tp, act, out=np.zeros_like(tp, dtype=float), where=act > 0)
        score = np.divide(2 * precision * recall, precision + recall,
                          out=np.zeros_like(tp, dtype=float), where=(precision + recall) > 0)
        return precision, recall, score

    micro_p, micro_r, micro_f1 = f1(true_positive.sum(), predicted_count.sum(), actual_count.sum())
    present = actual_count > 0
    macro_p, macro_r, macro_f1 = (values[present].mean() if present.any() else float("nan")
                                  for values in f1(true_positive, predicted_count, actual_count))
    return {"micro_precision": float(micro_p), "micro_recall": float(micro_r), "micro_f1": float(micro_f1),
            "macro_precision": float(macro_p), "macro_recall": float(macro_r), "macro_f1": float(macro_f1)}


def evaluate(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> dict:
    return {
        "validation_images": int(len(labels)),
        "tags_in_validation": int((labels.sum(axis=0) > 0).sum()),
        "mAP": mean_average_precision(labels, scores),
        "at_tag_thresholds": f1_scores(labels, (scores >= thresholds).astype(float)),
        "at_0.5": f1_scores(labels, (scores >= DEFAULT_THRESHOLD).astype(float)),
    }
