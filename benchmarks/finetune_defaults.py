#!/usr/bin/env python3
"""Stage 2 (fine-tuning the backbone's last layers) under several settings, side by side in one run (issue 17).

For each set: prepare.py, then one train.py of stage 1 alone (the feature cache, the head and its logistic-regression
yardstick), then train.py with stage 2 under each setting, each in a copy of that run folder (the feature cache
reused, so every setting starts from the same stage 1). Prints, per set and setting, the final validation mAP, its
gain over the yardstick, and the seconds of the whole train.py.

Settings (unfreeze_layers, learning_rate, backbone_learning_rate_scale, epochs):
  old      30, 1e-4, 0.1, 3   the defaults before issue 17
  bold     100, 1e-3, 1.0, 3  the setting issue 17 measured at +10.5 mAP points on 6,000 real photos
  auto     100, auto (the range test before stage 2), 1.0, 3
  defaults what train.py does today with --train.finetune.unfreeze_layers alone turned on (the table's last row
           names them)

Sets: coco128 (real photos; MobileNetV2 with the ImageNet weights of ../shared/weights at 224 px, min count 3),
the demo generator (data/make_demo.py) at --demo-images images and --demo-image-size px, and the scenes of
benchmarks/make_scenes.py (clean colour-shape tags, 1-3 shapes a picture) at --scenes-images and --scenes-image-size:
the set of over 5,000 training images.

    python benchmarks/finetune_defaults.py [--demo-images 2000] [--demo-image-size 96] [--skip-demo] [--only old,bold]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from stage1_vs_yardstick import machine  # noqa: E402

SETTINGS = {
    "old": ["--train.finetune.unfreeze_layers", "30", "--train.finetune.learning_rate", "1e-4",
            "--train.finetune.backbone_learning_rate_scale", "0.1", "--train.finetune.epochs", "3"],
    "bold": ["--train.finetune.unfreeze_layers", "100", "--train.finetune.learning_rate", "1e-3",
             "--train.finetune.backbone_learning_rate_scale", "1.0", "--train.finetune.epochs", "3"],
    "defaults": ["--train.finetune.unfreeze_layers", "100"],
    "defaults30": ["--train.finetune.unfreeze_layers", "30"],  # issue 17's depth, today's rates
    "auto": ["--train.finetune.unfreeze_layers", "100", "--train.finetune.learning_rate", "auto",
             "--train.finetune.backbone_learning_rate_scale", "1.0", "--train.finetune.epochs", "3"],
}


def train(run_dir: Path, flags: list[str]) -> tuple[dict, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--paths.run_dir", str(run_dir), "--quiet",
                             *flags], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"train.py failed in {run_dir}:\n{result.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text()), seconds


def compare(name: str, work: Path, prepare_flags: list[str], model_flags: list[str], only: list[str]) -> dict:
    base = work / "stage1"
    subprocess.run([sys.executable, str(ROOT / "prepare.py"), "--paths.run_dir", str(base), "--quiet",
                    *prepare_flags], cwd=ROOT, check=True)
    stage1, stage1_seconds = train(base, model_flags)
    rows = {}
    for setting in only:
        run_dir = work / setting
        shutil.copytree(base, run_dir, ignore=shutil.ignore_patterns("checkpoints", "model.keras"))
        metrics, seconds = train(run_dir, [*model_flags, *SETTINGS[setting]])
        range_tests = json.loads((run_dir / "training.json").read_text()).get("learning_rate_range_tests", [])
        rows[setting] = {"mAP": metrics["mAP"], "seconds": seconds, "range_tests": range_tests,
                         "finetune": json.loads((run_dir / "settings.train.json").read_text())["train"]["finetune"]}
        chosen = "".join(f", range test chose {test['chosen']:.2g} in {test['seconds']:.0f} s" for test in range_tests)
        print(f"{name}: {setting} mAP {metrics['mAP']:.4f} ({seconds:.0f} s{chosen})", flush=True)
    return {"set": name, "stage1": stage1, "stage1_seconds": stage1_seconds, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", type=Path, default=ROOT.parent / "shared/data/coco128/tags.csv")
    parser.add_argument("--weights", type=Path, default=ROOT.parent / "shared/weights/mobilenetv2_imagenet_notop.weights.h5")
    parser.add_argument("--coco-image-size", type=int, default=224)
    parser.add_argument("--demo-images", type=int, default=2000)
    parser.add_argument("--demo-image-size", type=int, default=96)
    parser.add_argument("--scenes-images", type=int, default=6000)
    parser.add_argument("--scenes-image-size", type=int, default=96)
    parser.add_argument("--skip-scenes", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-coco", action="store_true")
    parser.add_argument("--only", default=",".join(SETTINGS))
    arguments = parser.parse_args()
    only = arguments.only.split(",")
    backbone = ["--model.backbone", "mobilenetv2", "--model.weights", str(arguments.weights)]

    print(f"machine: {machine()}")
    results = []
    with tempfile.TemporaryDirectory() as work:
        if not arguments.skip_coco:
            results.append(compare("coco128, min count 3", Path(work) / "coco",
                                   ["--data.source", str(arguments.coco), "--data.min_tag_occurrences", "3"],
                                   [*backbone, "--model.image_size", str(arguments.coco_image_size)], only))
        if not arguments.skip_demo:
            demo = Path(work) / "demo_data"
            subprocess.run([sys.executable, str(ROOT / "data/make_demo.py"), "--out", str(demo),
                            "--images", str(arguments.demo_images), "--size", str(arguments.demo_image_size)], check=True, stdout=subprocess.DEVNULL)
            results.append(compare(f"demo generator, {arguments.demo_images} images at {arguments.demo_image_size} px",
                                   Path(work) / "demo", ["--data.source", str(demo / "tags.csv")],
                                   [*backbone, "--model.image_size", str(arguments.demo_image_size)], only))
        if not arguments.skip_scenes:
            scenes = Path(work) / "scenes_data"
            subprocess.run([sys.executable, str(ROOT / "benchmarks/make_scenes.py"), "--out", str(scenes),
                            "--images", str(arguments.scenes_images), "--size", str(arguments.scenes_image_size)],
                           check=True, stdout=subprocess.DEVNULL)
            results.append(compare(f"scenes, {arguments.scenes_images} images at {arguments.scenes_image_size} px",
                                   Path(work) / "scenes", ["--data.source", str(scenes / "tags.csv")],
                                   [*backbone, "--model.image_size", str(arguments.scenes_image_size)], only))

    print("\n| set | setting (layers, lr, backbone scale, epochs) | validation mAP | − yardstick | train.py s |")
    print("|---|---|---|---|---|")
    for result in results:
        yardstick = result["stage1"]["stage1"]["logistic_regression"]["mAP"]
        head = result["stage1"]["mAP"]
        print(f"| {result['set']} | stage 1 alone | {head:.4f} | {head - yardstick:+.4f} | {result['stage1_seconds']:.0f} |")
        for setting, row in result["rows"].items():
            f = row["finetune"]
            rate = (f"auto: {row['range_tests'][0]['chosen']:.2g}" if f["learning_rate"] == "auto"
                    else f"{f['learning_rate']:g}")
            described = (f"{setting} ({f['unfreeze_layers']}, {rate}, "
                         f"{f['backbone_learning_rate_scale']:g}, {f['epochs']})")
            print(f"| {result['set']} | {described} | {row['mAP']:.4f} | {row['mAP'] - yardstick:+.4f} | "
                  f"{row['seconds']:.0f} |")


if __name__ == "__main__":
    main()
