"""Validation metrics and per-tag thresholds for multi-label predictions.

Names follow the multi-label literature (ML-GCN, ASL): CP/CR/CF1 average over tags (per-class),
OP/OR/OF1 pool every image-tag decision (overall).
"""

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

DEFAULT_THRESHOLD = 0.5


def per_tag_average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of each tag; NaN for tags without a positive in labels."""
    result = np.full(labels.shape[1], np.nan)
    for tag in np.flatnonzero(labels.sum(axis=0) > 0):
        result[tag] = average_precision_score(labels[:, tag], scores[:, tag])
    return result


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over tags that occur in labels of each tag's average precision."""
    values = per_tag_average_precision(labels, scores)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _curve(labels, scores):
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    return precision[:-1], recall[:-1], thresholds


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The score threshold (predict the tag when score >= it) with the best F1; None without positives."""
    if labels.sum() == 0:
        return None
    precision, recall, thresholds = _curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def precision_equals_recall_threshold(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.sum() == 0:
        return None
    precision, recall, thresholds = _curve(labels, scores)
    return float(thresholds[int(np.argmin(np.abs(precision - recall)))])


def target_precision_threshold(labels: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """The lowest threshold reaching the target precision (most recall); the most precise one if none does."""
    if labels.sum() == 0:
        return None
    precision, _, thresholds = _curve(labels, scores)
    reaching = np.flatnonzero(precision >= target)
    return float(thresholds[reaching[0]] if len(reaching) else thresholds[int(np.argmax(precision))])


THRESHOLD_RULES = {
    "best_f1": lambda labels, scores, target: best_f1_threshold(labels, scores),
    "precision_equals_recall": lambda labels, scores, target: precision_equals_recall_threshold(labels, scores),
    "target_precision": target_precision_threshold,
}


def choose_thresholds(labels: np.ndarray, scores: np.ndarray, mode: str = "best_f1",
                      target: float = 0.9) -> tuple[np.ndarray, float]:
    """Per-tag thresholds by the rule `mode`, and one global threshold (best overall F1) for tags unseen in validation.

    Each is moved from the validation score the rule picked to the midpoint below it (between_scores), so the
    validation decisions stay the rule's and no validation score sits on a threshold.
    """
    global_threshold = best_f1_threshold(labels.ravel(), scores.ravel())
    global_threshold = (DEFAULT_THRESHOLD if global_threshold is None
                        else between_scores(scores.ravel(), global_threshold))
    rule = THRESHOLD_RULES[mode]
    per_tag = [rule(labels[:, tag], scores[:, tag], target) for tag in range(labels.shape[1])]
    return np.array([global_threshold if t is None else between_scores(scores[:, tag], t)
                     for tag, t in enumerate(per_tag)], np.float64), global_threshold


def between_scores(scores: np.ndarray, threshold: float) -> float:
    """The midpoint between threshold (a score the rule picked) and the highest score below it (0 if none).

    A threshold equal to a validation score flips that image's decision on any round-off: another float32
    engine (oneDNN's kernel order, OpenVINO, ONNX Runtime) differs from model.keras by ~1e-6. Halfway to the
    next score, every validation decision keeps a margin of half the gap to its neighbour.
    """
    scores = np.asarray(scores, np.float64)
    below = scores[scores < threshold]
    lower = float(below.max()) if len(below) else 0.0
    return (lower + float(threshold)) / 2


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """CP, CR, CF1 over tags present in labels, and OP, OR, OF1 over all decisions."""
    true_positive = (labels * predicted).sum(axis=0)
    predicted_count, actual_count = predicted.sum(axis=0), labels.sum(axis=0)
    present = actual_count > 0

    def ratio(numerator, denominator):
        return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0)

    per_tag_precision = ratio(true_positive, predicted_count)[present]
    per_tag_recall = ratio(true_positive, actual_count)[present]
    cp = float(per_tag_precision.mean()) if present.any() else float("nan")
    cr = float(per_tag_recall.mean()) if present.any() else float("nan")
    op = float(ratio(true_positive.sum(), predicted_count.sum()))
    orr = float(ratio(true_positive.sum(), actual_count.sum()))
    return {"CP": cp, "CR": cr, "CF1": harmonic(cp, cr), "OP": op, "OR": orr, "OF1": harmonic(op, orr)}


def per_tag_f1(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    true_positive = (labels * predicted).sum(axis=0)
    denominator = labels.sum(axis=0) + predicted.sum(axis=0)
    return np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive, dtype=float),
                     where=denominator > 0)


def harmonic(first: float, second: float) -> float:
    return 0.0 if first + second == 0 else 2 * first * second / (first + second)


def confused_pairs(labels: np.ndarray, predicted: np.ndarray, vocabulary: list[str], top: int = 20,
                   max_tags: int = 2000) -> list[dict]:
    """Pairs (A, B): share of A's images, not tagged B, on which the model predicts B.

    High shares often mean B is a variant or near-variant of A. Limited to the max_tags most
    frequent tags so the count matrix stays small.
    """
    keep = np.argsort(-labels.sum(axis=0), kind="stable")[:max_tags]
    labels, predicted = labels[:, keep], predicted[:, keep]
    false_positive = predicted * (1 - labels)
    counts = labels.T @ false_positive  # [a, b]: images tagged a, not b, predicted b
    np.fill_diagonal(counts, 0)
    share = counts / np.maximum(labels.sum(axis=0), 1)[:, None]
    flat = np.argsort(-share, axis=None, kind="stable")[:top]
    pairs = []
    for a, b in zip(*np.unravel_index(flat, share.shape)):
        if counts[a, b] > 0:
            pairs.append({"tagged": vocabulary[keep[a]], "predicted": vocabulary[keep[b]],
                          "images": int(counts[a, b]), "share": float(share[a, b])})
    return pairs
