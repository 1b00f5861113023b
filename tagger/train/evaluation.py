"""The evaluation after training: metrics.json, thresholds.json content, and report.html."""

import html
import logging
import math
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve

from tagger import runfolder
from tagger.tagtext import visible
from tagger.train.charts import epoch_chart, pr_chart
from tagger.train.metrics import (
    THRESHOLD_RULES,
    choose_thresholds,
    classification_metrics,
    confused_pairs,
    mean_average_precision,
    per_tag_average_precision,
    per_tag_f1,
)
from tagger.train.tensorboard import write_pr_curves

log = logging.getLogger(__name__)

WEAKEST = 20  # at most this many tags in report.html's list of weakest tags ...
WEAK_AP = 0.5  # ... and only tags whose validation AP is below this
PER_TAG_CURVES = 6  # weakest tags drawn one by one in the per-tag precision-recall chart

# One line each in report.html, so a reader needs no paper to read the table.
METRIC_MEANINGS = {
    "mAP": "mean over tags of average precision: how well each tag's scores rank its images above the others "
           "(1 = perfect, independent of thresholds)",
    "CP": "per-tag precision, averaged over tags (of the images given a tag, the share that carry it)",
    "CR": "per-tag recall, averaged over tags (of the images carrying a tag, the share given it)",
    "CF1": "harmonic mean of CP and CR (the macro F1: every tag counts the same)",
    "OP": "overall precision over all image-tag decisions pooled (frequent tags weigh more)",
    "OR": "overall recall over all image-tag decisions pooled",
    "OF1": "harmonic mean of OP and OR (the micro F1)",
}


def evaluate_and_report(run_dir: Path, vocabulary, train_labels, validation_labels, validation_scores, history,
                        options, stage1: dict | None = None) -> tuple[dict, dict]:
    """Returns (metrics, thresholds) and writes report.html and the validation PR curves for TensorBoard.

    stage1: the stage-1 head's best validation mAP and the logistic-regression yardstick (tagger.train.baseline).
    A tag on fewer than options.min_positives validation images gets the global threshold: one chosen from
    two or three images is noise (a tag's threshold of 0.08 from 3 images).
    """
    positives = validation_labels.sum(axis=0)
    too_few = positives < options.min_positives
    modes = {}
    for mode in THRESHOLD_RULES:
        per_tag, global_value = choose_thresholds(validation_labels, validation_scores, mode, options.target_precision)
        modes[mode] = (np.where(too_few, global_value, per_tag), global_value)
    thresholds, global_threshold = modes[options.mode]
    if too_few.sum() * 2 > len(too_few):  # report.html lists them; most tags at one threshold is worth a line here
        log.info(f"{int(too_few.sum())} of {len(too_few)} tags are on fewer than {options.min_positives} validation "
                 f"images (train.thresholds.min_positives) and use the global threshold {global_threshold:.2f}; "
                 "for thresholds of their own, give validation more images (prepare.py --data.validation_fraction)")
    predicted = (validation_scores >= thresholds).astype(float)
    ap = per_tag_average_precision(validation_labels, validation_scores)
    f1 = per_tag_f1(validation_labels, predicted)
    train_counts = train_labels.sum(axis=0)
    present = validation_labels.sum(axis=0) > 0
    frequent = train_counts >= np.median(train_counts)
    weak = [tag for tag in np.flatnonzero(present) if ap[tag] < WEAK_AP]
    weakest = sorted(weak, key=lambda tag: (ap[tag], vocabulary[tag]))[:WEAKEST]
    metrics = {
        "validation_images": int(len(validation_labels)),
        "tags_in_validation": int(present.sum()),
        "mAP": mean_average_precision(validation_labels, validation_scores),
        "mAP_frequent_tags": _nanmean(ap[frequent]),
        "mAP_rare_tags": _nanmean(ap[~frequent]),
        "frequent_tag_rule": f"at least {math.ceil(float(np.median(train_counts)))} training images (the median)",
        "threshold_mode": options.mode,
        "global_threshold": float(global_threshold),
        "global_threshold_rule": f"tags on fewer than {options.min_positives} validation images "
                                 "(train.thresholds.min_positives) use the global threshold",
        "at_tag_thresholds": classification_metrics(validation_labels, predicted),
        "at_global_threshold": classification_metrics(validation_labels,
                                                      (validation_scores >= global_threshold).astype(float)),
        "at_0.5": classification_metrics(validation_labels, (validation_scores >= 0.5).astype(float)),
        "per_tag": {tag: {"train_images": int(train_counts[i]), "validation_images": int(positives[i]),
                          "AP": None if np.isnan(ap[i]) else float(ap[i]),
                          "F1": None if positives[i] == 0 else float(f1[i]),  # as AP: nothing to find, no measure
                          "threshold": float(thresholds[i]),
                          "threshold_from": "global" if too_few[i] else "tag"} for i, tag in enumerate(vocabulary)},
        "weak_tag_rule": f"AP below {WEAK_AP:g}, at most {WEAKEST}, weakest first",
        "weakest_tags": [{"tag": vocabulary[i], "AP": float(ap[i]), "train_images": int(train_counts[i]),
                          "validation_images": int(positives[i])} for i in weakest],
        "confused_pairs": confused_pairs(validation_labels, predicted, vocabulary),
        "stage1": stage1,
        "history": history,
    }
    threshold_file = {
        "mode": options.mode,
        "default": global_threshold,
        "tags": {tag: float(value) for tag, value in zip(vocabulary, thresholds)},
        "global_for": [tag for tag, few in zip(vocabulary, too_few) if few],
        "modes": {mode: {tag: float(value) for tag, value in zip(vocabulary, values)}
                  for mode, (values, _) in modes.items()},
    }
    write_training_report(run_dir, metrics, validation_labels, validation_scores, thresholds, vocabulary, weakest)
    write_pr_curves(run_dir, vocabulary, validation_labels, validation_scores, list(weakest))
    return metrics, threshold_file


def _nanmean(values) -> float | None:
    values = np.asarray(values, float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def write_training_report(run_dir: Path, metrics: dict, labels: np.ndarray, scores: np.ndarray,
                          thresholds: np.ndarray, vocabulary: list[str], weakest: list[int]) -> None:
    def escape(text):  # tags shown as a person can tell them apart: invisible characters made visible
        return html.escape(visible(str(text)))
    losses, maps, epoch_offset = {}, {}, 0
    for stage, entries in metrics["history"].items():
        losses[stage] = [(epoch_offset + e["epoch"], e["loss"]) for e in entries]
        maps[stage] = [(epoch_offset + e["epoch"], e["validation_mAP"]) for e in entries]
        epoch_offset += len(entries)
    charts = [epoch_chart(losses, "training loss", "loss"),
              epoch_chart(maps, "validation mAP", "mAP", unit_range=True)]
    if labels.sum():
        precision, recall, _ = precision_recall_curve(labels.ravel(), scores.ravel())
        marks = [(metrics[key]["OR"], metrics[key]["OP"], label) for key, label in
                 [("at_tag_thresholds", "tag thresholds"), ("at_global_threshold",
                  f"global {metrics['global_threshold']:.2f}"), ("at_0.5", "0.5")]]
        charts.append(pr_chart({"all image-tag pairs": (recall, precision)}, {"all image-tag pairs": marks},
                               "precision-recall, all tags pooled"))
    drawn = [tag for tag in weakest if labels[:, tag].sum()][:PER_TAG_CURVES]
    if drawn:
        curves, marks = {}, {}
        for tag in drawn:
            precision, recall, _ = precision_recall_curve(labels[:, tag], scores[:, tag])
            chosen = scores[:, tag] >= thresholds[tag]
            hits = float((chosen * labels[:, tag]).sum())
            # No precision to mark where no validation image reaches the threshold (a dot at precision 1 read as perfect)
            passes = "" if chosen.any() else f"; threshold {thresholds[tag]:.2f} passes no image"
            name = f"{vocabulary[tag]} (AP {metrics['per_tag'][vocabulary[tag]]['AP']:.2f}{passes})"
            if chosen.any():
                marks[name] = [(hits / labels[:, tag].sum(), hits / chosen.sum(), f"{thresholds[tag]:.2f}")]
            curves[name] = (recall, precision)
        charts.append(pr_chart(curves, marks, "precision-recall, weakest tags"))

    def table(rows, header):
        head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    def number(value):
        return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"

    summary = [("mAP", number(metrics["mAP"])), ("mAP, frequent tags", number(metrics["mAP_frequent_tags"])),
               ("mAP, rare tags", number(metrics["mAP_rare_tags"]))]
    stage1 = metrics.get("stage1")
    if stage1:
        summary.append(("stage-1 head mAP (best epoch, cached features)", number(stage1["head_mAP"])))
        yardstick = stage1["logistic_regression"]
        summary.append(("logistic regression on the same features (C=1)",
                        number(yardstick["mAP"]) if yardstick else "not run (train.head.baseline)"))
        if yardstick:
            summary.append(("how the logistic regression was computed",
                            f"{yardstick['method']}; {yardstick['seconds']:.1f} s"))
        if stage1.get("head_start"):
            summary.append(("stage-1 head kept", "its start, the logistic regression's solution (no epoch beat it)"
                            if stage1["head_best_epoch"] == 0 else f"epoch {stage1['head_best_epoch']}"))
    decisions = [(name.replace("_", " "), *(number(metrics[name][key]) for key in ("CP", "CR", "CF1", "OP", "OR", "OF1")))
                 for name in ("at_tag_thresholds", "at_global_threshold", "at_0.5")]
    global_tags = [tag for tag, entry in metrics["per_tag"].items() if entry["threshold_from"] == "global"]
    weak = metrics["weakest_tags"]
    page = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Training report</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}td,th{padding:.2em .6em;text-align:left}"
        "th{border-bottom:1px solid #ccc}svg{margin:0 1em 1em 0;vertical-align:top}.flag{color:#b00}"
        "dt{font-weight:bold;float:left;width:4em}dd{margin-left:4.5em}svg{max-width:100%;height:auto}"
        "@media (max-width:600px){body{margin:.8em}td,th{padding:.2em .3em}}</style></head><body>",
        "<h1>Training report</h1>",
        f"<p>{metrics['validation_images']} validation images, {metrics['tags_in_validation']} tags present. "
        f"Frequent tags: {escape(metrics['frequent_tag_rule'])}. Thresholds: {escape(metrics['threshold_mode'])}; "
        f"{escape(metrics['global_threshold_rule'])} ({metrics['global_threshold']:.3f}).</p>",
        table(summary, ["measure", "value"]),
        "<h2>Decisions</h2>",
        table(decisions, ["at", "CP", "CR", "CF1", "OP", "OR", "OF1"]),
        "<dl>" + "".join(f"<dt>{escape(key)}</dt><dd>{escape(meaning)}</dd>" for key, meaning in METRIC_MEANINGS.items())
        + "</dl>",
        "<h2>Curves</h2>",
        "<p>Dots mark where the decisions are taken: on the pooled curve at the tags' own thresholds, the global "
        "threshold and 0.5; on each weakest tag's curve at its own threshold (the number beside the dot).</p>",
        "<div class='charts'>" + "".join(charts) + "</div>",
        f"<h2>Weakest tags (AP below {WEAK_AP:g})</h2>",
        table([(t["tag"], number(t["AP"]), t["train_images"], t["validation_images"]) for t in weak],
              ["tag", "AP", "train images", "validation images"]) if weak
        else f"<p>No tag has a validation AP below {WEAK_AP:g}.</p>",
        "<h2>Tags the model confuses</h2><p>Share of images tagged A (and not B) on which B is predicted: "
        "often variants or near-variants, worth a look in the variant report.</p>",
        table([(p["tagged"], p["predicted"], p["images"], f"{p['share']:.2f}") for p in metrics["confused_pairs"]],
              ["tagged A", "predicted B", "images", "share of A"]),
        "<h2>Every tag</h2>",
        (f"<p class='flag'>{len(global_tags)} tags are on too few validation images for a threshold of their own "
         f"and use the global one (marked *): {escape(', '.join(global_tags[:30]))}"
         f"{' ...' if len(global_tags) > 30 else ''}</p>" if global_tags else ""),
        table([(tag, v["train_images"], v["validation_images"], number(v["AP"]), number(v["F1"]),
                number(v["threshold"]) + (" *" if v["threshold_from"] == "global" else ""))
               for tag, v in metrics["per_tag"].items()], ["tag", "train", "validation", "AP", "F1", "threshold"]),
        "</body></html>\n",
    ]
    runfolder.write_text(run_dir / runfolder.REPORT, "".join(page))
