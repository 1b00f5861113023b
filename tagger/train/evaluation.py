"""The evaluation after training: metrics.json, thresholds.json content, and report.html."""

import html
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve

from tagger import runfolder
from tagger.train.metrics import (
    THRESHOLD_RULES,
    choose_thresholds,
    classification_metrics,
    confused_pairs,
    mean_average_precision,
    per_tag_average_precision,
    per_tag_f1,
)

WEAKEST = 20


def evaluate_and_report(run_dir: Path, vocabulary, train_labels, validation_labels, validation_scores, history,
                        options, stage1: dict | None = None) -> tuple[dict, dict]:
    """Returns (metrics, thresholds) and writes report.html.

    stage1: the stage-1 head's best validation mAP and the logistic-regression yardstick (tagger.train.baseline).
    """
    modes = {mode: choose_thresholds(validation_labels, validation_scores, mode, options.target_precision)
             for mode in THRESHOLD_RULES}
    thresholds, global_threshold = modes[options.mode]
    predicted = (validation_scores >= thresholds).astype(float)
    ap = per_tag_average_precision(validation_labels, validation_scores)
    f1 = per_tag_f1(validation_labels, predicted)
    train_counts = train_labels.sum(axis=0)
    present = validation_labels.sum(axis=0) > 0
    frequent = train_counts >= np.median(train_counts)
    weakest = sorted(np.flatnonzero(present), key=lambda tag: (ap[tag], vocabulary[tag]))[:WEAKEST]
    metrics = {
        "validation_images": int(len(validation_labels)),
        "tags_in_validation": int(present.sum()),
        "mAP": mean_average_precision(validation_labels, validation_scores),
        "mAP_frequent_tags": _nanmean(ap[frequent]),
        "mAP_rare_tags": _nanmean(ap[~frequent]),
        "frequent_tag_rule": f"at least {float(np.median(train_counts)):g} training images (the median)",
        "threshold_mode": options.mode,
        "at_tag_thresholds": classification_metrics(validation_labels, predicted),
        "at_global_threshold": classification_metrics(validation_labels,
                                                      (validation_scores >= global_threshold).astype(float)),
        "at_0.5": classification_metrics(validation_labels, (validation_scores >= 0.5).astype(float)),
        "per_tag": {tag: {"train_images": int(train_counts[i]), "validation_images": int(validation_labels[:, i].sum()),
                          "AP": None if np.isnan(ap[i]) else float(ap[i]), "F1": float(f1[i]),
                          "threshold": float(thresholds[i])} for i, tag in enumerate(vocabulary)},
        "weakest_tags": [{"tag": vocabulary[i], "AP": float(ap[i]), "train_images": int(train_counts[i]),
                          "validation_images": int(validation_labels[:, i].sum())} for i in weakest],
        "confused_pairs": confused_pairs(validation_labels, predicted, vocabulary),
        "stage1": stage1,
        "history": history,
    }
    threshold_file = {
        "mode": options.mode,
        "default": global_threshold,
        "tags": {tag: float(value) for tag, value in zip(vocabulary, thresholds)},
        "modes": {mode: {tag: float(value) for tag, value in zip(vocabulary, values)}
                  for mode, (values, _) in modes.items()},
    }
    write_training_report(run_dir, metrics, validation_labels, validation_scores)
    return metrics, threshold_file


def _nanmean(values) -> float | None:
    values = np.asarray(values, float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, x_label: str, y_label: str,
               width: int = 440, height: int = 260) -> str:
    """A small inline SVG line chart; no plotting library needed to read the report."""
    points = [point for values in series.values() for point in values]
    if not points:
        return ""
    left, bottom, right, top = 50, 35, 10, 25
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x_min, x_max = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_min, y_max = min(0.0, min(ys)), max(1.0, max(ys)) if y_label.endswith("(0-1)") else max(ys) or 1.0

    def position(x, y):
        return (left + (x - x_min) / (x_max - x_min) * (width - left - right),
                height - bottom - (y - y_min) / ((y_max - y_min) or 1) * (height - bottom - top))

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='11'>",
             f"<text x='{width / 2}' y='14' text-anchor='middle' font-weight='bold'>{html.escape(title)}</text>",
             f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' stroke='#444'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='#444'/>",
             f"<text x='{width / 2}' y='{height - 5}' text-anchor='middle'>{html.escape(x_label)}</text>",
             f"<text x='12' y='{height / 2}' transform='rotate(-90 12 {height / 2})' text-anchor='middle'>"
             f"{html.escape(y_label)}</text>",
             f"<text x='{left - 4}' y='{top + 4}' text-anchor='end'>{y_max:.2g}</text>",
             f"<text x='{left - 4}' y='{height - bottom}' text-anchor='end'>{y_min:.2g}</text>"]
    for index, (name, values) in enumerate(series.items()):
        colour = colours[index % len(colours)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (position(px, py) for px, py in values))
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.8' points='{path}'/>")
        parts.append(f"<text x='{width - right - 4}' y='{top + 14 * (index + 1)}' text-anchor='end' "
                     f"fill='{colour}'>{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def write_training_report(run_dir: Path, metrics: dict, labels: np.ndarray, scores: np.ndarray) -> None:
    escape = html.escape
    curves, maps, epoch_offset = {}, {}, 0
    for stage, entries in metrics["history"].items():
        curves[f"{stage} loss"] = [(epoch_offset + e["epoch"], e["loss"]) for e in entries]
        maps[f"{stage} mAP"] = [(epoch_offset + e["epoch"], e["validation_mAP"]) for e in entries]
        epoch_offset += len(entries)
    precision, recall, _ = precision_recall_curve(labels.ravel(), scores.ravel()) if labels.sum() else ([], [], [])
    step = max(1, len(precision) // 400)
    pr_curve = {"all image-tag pairs": [(float(r), float(p)) for p, r in zip(precision[::step], recall[::step])]}

    def table(rows, header):
        head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    def number(value):
        return "n/a" if value is None or value != value else f"{value:.4f}"

    summary = [("mAP", number(metrics["mAP"])), ("mAP, frequent tags", number(metrics["mAP_frequent_tags"])),
               ("mAP, rare tags", number(metrics["mAP_rare_tags"]))]
    stage1 = metrics.get("stage1")
    if stage1:
        summary.append(("stage-1 head mAP (best epoch, cached features)", number(stage1["head_mAP"])))
        yardstick = stage1["logistic_regression"]
        summary.append(("logistic regression on the same features (scikit-learn, C=1)",
                        number(yardstick["mAP"]) if yardstick else "not run (train.baseline)"))
    for name in ("at_tag_thresholds", "at_global_threshold", "at_0.5"):
        summary.append((name.replace("_", " "), ", ".join(f"{key} {number(value)}" for key, value in metrics[name].items())))
    page = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Training report</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}td,th{padding:.2em .6em;text-align:left}"
        "th{border-bottom:1px solid #ccc}svg{margin:0 1em 1em 0}</style></head><body>",
        "<h1>Training report</h1>",
        f"<p>{metrics['validation_images']} validation images, {metrics['tags_in_validation']} tags present. "
        f"Frequent tags: {escape(metrics['frequent_tag_rule'])}. Thresholds: {escape(metrics['threshold_mode'])}.</p>",
        table(summary, ["measure", "value"]),
        "<h2>Curves</h2>",
        line_chart(curves, "training loss", "epoch", "loss"),
        line_chart(maps, "validation mAP", "epoch", "mAP (0-1)"),
        line_chart(pr_curve, "precision-recall (all tags pooled)", "recall", "precision (0-1)"),
        f"<h2>The {len(metrics['weakest_tags'])} weakest tags</h2>",
        table([(t["tag"], number(t["AP"]), t["train_images"], t["validation_images"]) for t in metrics["weakest_tags"]],
              ["tag", "AP", "train images", "validation images"]),
        "<h2>Tags the model confuses</h2><p>Share of images tagged A (and not B) on which B is predicted: "
        "often variants or near-variants, worth a look in the variant report.</p>",
        table([(p["tagged"], p["predicted"], p["images"], f"{p['share']:.2f}") for p in metrics["confused_pairs"]],
              ["tagged A", "predicted B", "images", "share of A"]),
        "<h2>Every tag</h2>",
        table([(tag, v["train_images"], v["validation_images"], number(v["AP"]), number(v["F1"]), number(v["threshold"]))
               for tag, v in metrics["per_tag"].items()], ["tag", "train", "validation", "AP", "F1", "threshold"]),
        "</body></html>\n",
    ]
    runfolder.write_text(run_dir / runfolder.REPORT, "".join(page))
