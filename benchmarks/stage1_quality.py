#!/usr/bin/env python3
"""Stage-1 quality on real photos: train.py's head on cached features against the logistic regression
(scikit-learn's C=1 objective) on the very same features and split (train.py solves the latter too,
as the yardstick in report.html and the head's start), for the default SGD head and for the Adam head it
replaced. benchmarks/stage1_vs_yardstick.py compares the head from zero with the head from that start.
With --cosine, each head also with the cosine tag layer (model.tag_layer cosine), side by side.

Defaults: ../shared/data/coco128 with MobileNetV2 and the ImageNet weights in ../shared/weights.

    python benchmarks/stage1_quality.py [--tags ../shared/data/coco128/tags.csv]
        [--weights ../shared/weights/mobilenetv2_imagenet_notop.weights.h5] [--image-size 224] [--cosine]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tagger, whatever is installed

ROOT = Path(__file__).resolve().parents[1]
HEADS = {  # name: train.py flags
    "sgd (default)": [],
    "adam, lr 0.001": ["--train.head.optimizer", "adam", "--train.head.learning_rate", "0.001"],
    "adam, lr 0.01": ["--train.head.optimizer", "adam", "--train.head.learning_rate", "0.01"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=Path, default=ROOT.parent / "shared/data/coco128/tags.csv")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared/weights/mobilenetv2_imagenet_notop.weights.h5")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--validation-fraction", type=float, default=0.3)
    parser.add_argument("--cosine", action="store_true", help="each head with the cosine tag layer too")
    arguments = parser.parse_args()
    tag_layers = ["dense", "cosine"] if arguments.cosine else ["dense"]

    from tagger import runfolder
    from tagger.cli import main as run_step

    rows = []
    with tempfile.TemporaryDirectory() as work:
        run = ["--paths.run_dir", work]
        assert run_step("prepare", [*run, "--data.source", str(arguments.tags),
                                                    "--data.min_tag_occurrences", str(arguments.min_count),
                                                    "--data.validation_fraction", str(arguments.validation_fraction)]) == 0
        for (name, flags), tag_layer in [(head, layer) for head in HEADS.items() for layer in tag_layers]:
            name, flags = (f"{name}, {tag_layer} tag layer", [*flags, "--model.tag_layer", tag_layer]) \
                if arguments.cosine else (name, flags)
            shutil.rmtree(Path(work) / "checkpoints", ignore_errors=True)  # keep the feature cache, not the head
            start = time.perf_counter()
            assert run_step("train", [*run, "--model.backbone", "mobilenetv2", "--model.weights",
                                                    str(arguments.weights), "--model.image_size", str(arguments.image_size),
                                                    "--train.head.epochs", str(arguments.head_epochs),
                                                    "--train.patience", str(arguments.head_epochs), *flags]) == 0
            seconds = time.perf_counter() - start
            metrics = runfolder.read_json(Path(work) / runfolder.METRICS, "train.py")
            rows.append((name, metrics, seconds))

    metrics = rows[0][1]
    yardstick = metrics["stage1"]["logistic_regression"]
    print(f"\ncoco128: {metrics['validation_images']} validation images, {len(metrics['per_tag'])} tags, "
          f"MobileNetV2 ImageNet features at {arguments.image_size} px, {arguments.head_epochs} head epochs")
    print("| model | validation mAP, best epoch | validation mAP, last epoch | train.py time |")
    print("|---|---|---|---|")
    for name, result, seconds in rows:
        history = result["history"]["head"]
        print(f"| stage-1 head, {name} | {result['stage1']['head_mAP']:.4f} | {history[-1]['validation_mAP']:.4f} "
              f"| {seconds:.1f} s (incl. yardstick) |")
    print(f"| logistic regression (C=1), train.py's yardstick | {yardstick['mAP']:.4f} | | {yardstick['seconds']:.1f} s |")
    for name, result, _ in rows:
        history = result["history"]["head"]
        print(f"{name}: head − logistic regression {result['stage1']['head_mAP'] - yardstick['mAP']:+.4f} (best epoch), "
              f"{history[-1]['validation_mAP'] - yardstick['mAP']:+.4f} (last epoch)")


if __name__ == "__main__":
    main()
