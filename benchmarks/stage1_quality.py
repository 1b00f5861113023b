#!/usr/bin/env python3
"""Stage-1 quality on real photos: train.py's head on cached features against scikit-learn's
one-vs-rest logistic regression on the very same features and split.

Defaults: ../shared/data/coco128 with MobileNetV2 and the ImageNet weights in ../shared/weights.

    python benchmarks/stage1_quality.py [--tags ../shared/data/coco128/tags.csv]
        [--weights ../shared/weights/mobilenetv2_imagenet_notop.weights.h5] [--image-size 224]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=Path, default=ROOT.parent / "shared/data/coco128/tags.csv")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared/weights/mobilenetv2_imagenet_notop.weights.h5")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--validation-fraction", type=float, default=0.3)
    parser.add_argument("--train-flags", default="", help="more train.py flags, e.g. '--train.head_learning_rate 0.01'")
    arguments = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from tagger import runfolder
    from tagger.cli import main as run_step
    from tagger.metrics import mean_average_precision
    from tagger.prepare import TRAIN, VALIDATION, prepare
    from tagger.training import train

    with tempfile.TemporaryDirectory() as work:
        run = ["--paths.run_dir", work]
        assert run_step(prepare, "prepare.py", "", [*run, "--data.source", str(arguments.tags),
                                                    "--data.min_tag_occurrences", str(arguments.min_count),
                                                    "--data.validation_fraction", str(arguments.validation_fraction)]) == 0
        start = time.perf_counter()
        assert run_step(train, "train.py", "", [*run, "--model.backbone", "mobilenetv2", "--model.weights",
                                                str(arguments.weights), "--model.image_size", str(arguments.image_size),
                                                "--train.head_epochs", str(arguments.head_epochs),
                                                "--train.patience", str(arguments.head_epochs),
                                                *arguments.train_flags.split()]) == 0
        train_seconds = time.perf_counter() - start
        run_dir = Path(work)
        manifest = runfolder.read_manifest(run_dir)
        vocabulary = runfolder.read_vocabulary(run_dir)
        labels = runfolder.label_matrix(manifest, vocabulary)
        features = np.load(run_dir / runfolder.FEATURE_CACHE)
        metrics = runfolder.read_json(run_dir / runfolder.METRICS, "train.py")
        train_rows, validation_rows = manifest.indices(TRAIN), manifest.indices(VALIDATION)

    usable = labels[train_rows].sum(axis=0) > 0  # a classifier needs a positive to learn from
    start = time.perf_counter()
    baseline = OneVsRestClassifier(LogisticRegression(max_iter=2000, C=1.0)).fit(
        features[train_rows], labels[train_rows][:, usable])
    baseline_scores = np.zeros((len(validation_rows), len(vocabulary)))
    baseline_scores[:, usable] = baseline.predict_proba(features[validation_rows])
    baseline_seconds = time.perf_counter() - start
    baseline_map = mean_average_precision(labels[validation_rows], baseline_scores)

    print(f"coco128: {len(train_rows)} train / {len(validation_rows)} validation images, {len(vocabulary)} tags, "
          f"MobileNetV2 ImageNet features at {arguments.image_size} px")
    print("| model | validation mAP | fit time |")
    print("|---|---|---|")
    print(f"| train.py stage 1 head ({arguments.head_epochs} epochs max, best epoch kept{', ' if arguments.train_flags else ''}"
          f"{arguments.train_flags}) | {metrics['mAP']:.4f} | "
          f"{train_seconds:.1f} s incl. features |")
    print(f"| scikit-learn one-vs-rest logistic regression (C=1) | {baseline_map:.4f} | {baseline_seconds:.1f} s |")
    print(f"head − logistic regression: {metrics['mAP'] - baseline_map:+.4f}")


if __name__ == "__main__":
    main()
