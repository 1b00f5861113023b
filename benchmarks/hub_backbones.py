#!/usr/bin/env python3
"""keras-hub backbones (DINOv2, SigLIP, CLIP) beside keras.applications ones: speed here, accuracy where weights are.

--throughput: images per second of each backbone at its default input size (the table's), random weights,
  the function engine (embed.py's default), float32, batches of --batch-size random pixels; best of --rounds
  rounds of --batches batches after one warm-up batch (on shared cores another process only slows a round down).
--accuracy: for each backbone with its pretrained preset (a machine with a network, or --weights naming local
  preset folders), prepare.py -> train.py on --tags (coco128) and the validation mAP from metrics.json, then
  benchmarks/variant_discovery.py with the same train flags (its variant precision / recall table), and the same
  with --cluster.text_evidence for backbones with a text tower.

    python benchmarks/hub_backbones.py --throughput
    python benchmarks/hub_backbones.py --accuracy --backbones dinov2-small,siglip2-base,clip-base \
        --tags /work/shared/data/coco128/tags.csv
"""

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

THROUGHPUT_BACKBONES = ("efficientnetv2-s,efficientnetv2-l,dinov2-small,dinov2-base,siglip-base,siglip2-base,"
                        "clip-base-patch32,clip-base")


def throughput(names: list[str], batch_size: int, batches: int, rounds: int) -> None:
    import keras

    from tagger.model.backbones import get_backbone_spec
    from tagger.model.inference import available_cores, batch_function
    from tagger.model.network import build_tagger, embedding_model
    from tagger.settings import ModelSettings

    print(f"machine: {platform.processor() or platform.machine()}, {available_cores()} cores; function engine, "
          f"float32, batch {batch_size}, random weights")
    print(f"{'backbone':24s} {'size':>5s} {'width':>6s} {'params (M)':>11s} {'images/s':>9s} {'worst':>7s}")
    for name in names:
        spec = get_backbone_spec(name)
        keras.utils.set_random_seed(0)
        model = embedding_model(build_tagger(ModelSettings(backbone=name, image_size=spec.default_image_size,
                                                           weights="none"), 1))
        run = batch_function(model, "function")
        pixels = np.random.default_rng(0).integers(0, 256, (batch_size, spec.default_image_size,
                                                            spec.default_image_size, 3)).astype(np.float32)
        run(pixels)  # tracing
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(batches):
                run(pixels)
            rates.append(batches * batch_size / (time.perf_counter() - start))
        print(f"{name:24s} {spec.default_image_size:5d} {model.output_shape[-1]:6d} "
              f"{model.count_params() / 1e6:11.1f} {max(rates):9.2f} {min(rates):7.2f}", flush=True)
        del model, run
        keras.backend.clear_session()


def accuracy(names: list[str], weights: dict, tags: Path, extra_flags: str) -> None:
    from tagger.model.backbones import get_backbone_spec

    for name in names:
        spec = get_backbone_spec(name)
        flags = (f"--model.backbone {name} --model.weights {shlex.quote(weights.get(name, 'pretrained'))} "
                 f"--model.image_size {spec.default_image_size} {extra_flags}")
        with tempfile.TemporaryDirectory() as folder:
            run_dir = Path(folder) / "run"
            for script, script_flags in [("prepare.py", f"--data.source {shlex.quote(str(tags))} "
                                                        "--data.min_tag_occurrences 3"), ("train.py", flags)]:
                result = subprocess.run([sys.executable, str(REPO / script), "--paths.run_dir", str(run_dir),
                                         *shlex.split(script_flags)], capture_output=True, text=True)
                if result.returncode:
                    print(f"{name}: {script} failed: {result.stderr.strip().splitlines()[-1:]}")
                    break
            else:
                metrics = json.loads((run_dir / "metrics.json").read_text())
                print(f"{name}: validation mAP {metrics['mAP']:.4f}", flush=True)
        variant_flags = ["--tags", str(tags), "--train-flags", flags]
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "variant_discovery.py"), *variant_flags])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--backbones", default=None, help="comma-separated table names")
    parser.add_argument("--weights", default="", help="name=preset_folder,... (default: each preset's own weights)")
    parser.add_argument("--tags", type=Path, default=Path("/work/shared/data/coco128/tags.csv"))
    parser.add_argument("--train-flags", default="--train.head.epochs 10")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    if arguments.throughput:
        throughput((arguments.backbones or THROUGHPUT_BACKBONES).split(","), arguments.batch_size,
                   arguments.batches, arguments.rounds)
    if arguments.accuracy:
        weights = dict(item.split("=", 1) for item in arguments.weights.split(",") if item)
        accuracy((arguments.backbones or "dinov2-small,dinov2-base,siglip2-base,clip-base").split(","), weights,
                 arguments.tags, arguments.train_flags)
    if not (arguments.throughput or arguments.accuracy):
        parser.error("give --throughput, --accuracy or both")


if __name__ == "__main__":
    main()
