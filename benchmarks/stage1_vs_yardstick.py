#!/usr/bin/env python3
"""Stage 1 against its yardstick, old behaviour and new side by side in one run, on each set (issue 17).

old: the head from zero weights (train.head.warm_start false), then the yardstick as train.py computed it before:
     scikit-learn's LogisticRegression(C=1) tag by tag, on at most 2,000 sampled training images, 200 lbfgs
     iterations, tags most frequent first until 20 s were spent (the copy below).
new: train.py's defaults: the same logistic regression solved for all tags at once on every training image
     (tagger/train/baseline.py), the head starting from that solution.
Both on the same cached features and split (computed once per set). Prints validation mAP of head and yardstick
and the seconds of each; targets: head >= yardstick - 0.005 on every set, and new head + yardstick seconds
no more than old.

Sets: coco128 (real photos; MobileNetV2 with the ImageNet weights of ../shared/weights at 224 px), and the demo
generator (data/make_demo.py) at --demo-images images, the same backbone at --demo-image-size px.

    python benchmarks/stage1_vs_yardstick.py [--demo-images 3000] [--skip-demo]
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tagger, whatever is installed

ROOT = Path(__file__).resolve().parents[1]
OLD_SAMPLE_ROWS, OLD_MAX_ITERATIONS, OLD_TIME_BUDGET = 2000, 200, 20.0


def old_yardstick(features, labels, train_rows, validation_rows, seed: int = 0) -> dict:
    """train.py's yardstick before issue 17 (tagger/train/baseline.py at 849b2f7), kept here to compare."""
    from sklearn.linear_model import LogisticRegression

    from tagger.train.metrics import mean_average_precision

    start = time.perf_counter()
    rows = np.asarray(train_rows)
    if len(rows) > OLD_SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, OLD_SAMPLE_ROWS, replace=False))
    train_features, train_labels = np.asarray(features[rows]), labels[rows]
    validation_features = np.asarray(features[validation_rows])
    positives = train_labels.sum(axis=0)
    fittable = [int(tag) for tag in np.argsort(-positives, kind="stable") if 0 < positives[tag] < len(rows)]
    scores, fitted = np.zeros((len(validation_rows), labels.shape[1])), []
    for tag in fittable:
        if fitted and time.perf_counter() - start > OLD_TIME_BUDGET:
            break
        model = LogisticRegression(C=1.0, max_iter=OLD_MAX_ITERATIONS).fit(train_features, train_labels[:, tag])
        scores[:, tag] = model.predict_proba(validation_features)[:, 1]
        fitted.append(tag)
    chosen = fitted if len(fitted) < len(fittable) else list(range(labels.shape[1]))
    return {"mAP": mean_average_precision(labels[validation_rows][:, chosen], scores[:, chosen]),
            "seconds": time.perf_counter() - start, "tags_fitted": len(fitted), "tags_fittable": len(fittable)}


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{model or platform.processor() or platform.machine()}, {usable} cores usable ({os.cpu_count()} online), "
            f"load average {load} at the start; {platform.platform()}, Python {platform.python_version()}")


def compare(name: str, run_dir: Path, prepare_flags: list, train_flags: list) -> dict:
    """Prepares the set, trains stage 1 the new way (filling the feature cache), then the old way on that cache."""
    from tagger import runfolder
    from tagger.cli import main as run_step
    from tagger.train.data import TrainingData

    run = ["--paths.run_dir", str(run_dir)]
    assert run_step("prepare", [*run, *prepare_flags]) == 0
    started = time.perf_counter()
    assert run_step("train", [*run, *train_flags]) == 0
    first_train_seconds = time.perf_counter() - started
    new = runfolder.read_json(run_dir / runfolder.METRICS, "train.py")["stage1"]
    shutil.rmtree(run_dir / runfolder.CHECKPOINTS)  # keep the feature cache, not the head
    assert run_step("train", [*run, *train_flags, "--train.head.warm_start", "false",
                              "--train.head.baseline", "off"]) == 0
    old = runfolder.read_json(run_dir / runfolder.METRICS, "train.py")["stage1"]
    data = TrainingData.read(run_dir)
    features = np.load(run_dir / runfolder.FEATURE_CACHE)
    old["logistic_regression"] = old_yardstick(features, data.labels, data.train_rows, data.validation_rows)
    return {"set": name, "images": f"{len(data.train_rows)} train / {len(data.validation_rows)} validation",
            "tags": len(data.vocabulary), "features": features.shape[1], "old": old, "new": new,
            "first_train_seconds": first_train_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", type=Path, default=ROOT.parent / "shared/data/coco128/tags.csv")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared/weights/mobilenetv2_imagenet_notop.weights.h5")
    parser.add_argument("--demo-images", type=int, default=3000)
    parser.add_argument("--demo-image-size", type=int, default=96)
    parser.add_argument("--skip-demo", action="store_true")
    arguments = parser.parse_args()
    backbone = ["--model.backbone", "mobilenetv2", "--model.weights", str(arguments.weights)]

    print(f"machine: {machine()}")
    results = []
    with tempfile.TemporaryDirectory() as work:
        results.append(compare("coco128, min count 3", Path(work) / "coco",
                               ["--data.source", str(arguments.coco), "--data.min_tag_occurrences", "3"],
                               [*backbone, "--model.image_size", "224"]))
        if not arguments.skip_demo:
            demo = Path(work) / "demo_data"
            subprocess.run([sys.executable, str(ROOT / "data/make_demo.py"), "--out", str(demo),
                            "--images", str(arguments.demo_images)], check=True, stdout=subprocess.DEVNULL)
            results.append(compare(f"demo generator, {arguments.demo_images} images", Path(work) / "demo",
                                   ["--data.source", str(demo / "tags.csv")],
                                   [*backbone, "--model.image_size", str(arguments.demo_image_size)]))

    print("\n| set | behaviour | head mAP | yardstick mAP | head − yardstick | head s | yardstick s | head + yardstick s |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        for behaviour in ("old", "new"):
            stage1 = result[behaviour]
            yardstick = stage1["logistic_regression"]
            kept = stage1.get("head_best_epoch")
            head_note = " (kept its start)" if stage1.get("head_start") and kept == 0 else f" (epoch {kept})"
            print(f"| {result['set']} ({result['images']}, {result['tags']} tags) | {behaviour} | "
                  f"{stage1['head_mAP']:.4f}{head_note} | {yardstick['mAP']:.4f}"
                  + (f" ({yardstick['tags_fitted']} of {yardstick['tags_fittable']} tags)"
                     if yardstick.get("tags_fittable", yardstick["tags_fitted"]) != yardstick["tags_fitted"] else "")
                  + f" | {stage1['head_mAP'] - yardstick['mAP']:+.4f} | {stage1['head_seconds']:.1f} | "
                  f"{yardstick['seconds']:.1f} | {stage1['head_seconds'] + yardstick['seconds']:.1f} |")
    for result in results:
        old, new = result["old"], result["new"]
        old_total = old["head_seconds"] + old["logistic_regression"]["seconds"]
        new_total = new["head_seconds"] + new["logistic_regression"]["seconds"]
        met = new["head_mAP"] >= new["logistic_regression"]["mAP"] - 0.005 and new_total <= old_total
        print(f"{result['set']}: new head {new['head_mAP']:.4f} vs its yardstick {new['logistic_regression']['mAP']:.4f}"
              f" (old yardstick {old['logistic_regression']['mAP']:.4f}); head + yardstick {new_total:.1f} s new, "
              f"{old_total:.1f} s old ({new_total / old_total:.2f}x); targets {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
