#!/usr/bin/env python3
"""Peak memory of fine-tuning (stages 2 and 3) per backbone, unfrozen depth and batch size (issue 17).

Each configuration runs in its own process: the tagger is built (random weights: memory does not depend on their
values), the last N backbone layers unfrozen as train.py does (BatchNorm frozen, as over pretrained statistics),
compiled with train.py's optimizer, and fitted for a few steps on random pixels. Printed beside each measured
peak (the process's maximum resident memory, start-up included) is train.py's estimate before it starts
(tagger/train/memory.py), which is what train.py compares with the machine's available memory.

    python benchmarks/finetune_memory.py [--configs efficientnetv2-l:384:30:2,...] [--steps 3]

A configuration is backbone:image_size:unfreeze_layers:batch_size (unfreeze_layers 0: the whole backbone).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CONFIGS = ("mobilenetv2:224:100:8,mobilenetv2:224:100:32,mobilenetv2:224:0:32,"
                   "efficientnetv2-l:384:30:2,efficientnetv2-l:384:30:8,"
                   "efficientnetv2-l:384:0:1,efficientnetv2-l:384:0:2,efficientnetv2-l:384:0:4")


def measure(backbone: str, size: int, layers: int, batch: int, steps: int) -> dict:
    """One configuration, in this process: peak resident memory after a few training steps."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tagger.model.network import backbone_of, build_tagger
    from tagger.settings import ModelSettings
    from tagger.train.losses import make_loss
    from tagger.train.memory import finetune_memory_estimate
    from tagger.train.optim import ScaledAdam
    from tagger.train.stages import unfreeze_last_layers

    began = time.perf_counter()
    tagger = build_tagger(ModelSettings(backbone=backbone, image_size=size, weights="none"), 80)
    unfrozen = unfreeze_last_layers(backbone_of(tagger), layers or 10**9, keep_batchnorm_frozen=True)
    estimate = finetune_memory_estimate(tagger)
    tagger.compile(optimizer=ScaledAdam(learning_rate=1e-4), loss=make_loss("bce", 0.0))
    random = np.random.default_rng(0)
    pixels = random.integers(0, 256, (batch * steps, size, size, 3)).astype(np.float32)
    labels = (random.random((batch * steps, 80)) < 0.05).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(batch)
    fitted = time.perf_counter()
    tagger.fit(data, epochs=1, verbose=0)
    step_seconds = (time.perf_counter() - fitted) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"backbone": backbone, "size": size, "unfrozen": unfrozen, "batch": batch, "peak_gb": peak / 2**30,
            "estimate_gb": estimate.at_batch(batch) / 2**30, "estimate": estimate.parts(), "step_s": step_seconds,
            "seconds": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backbone, size, layers, batch = args.child.split(":")
        print(json.dumps(measure(backbone, int(size), int(layers), int(batch), args.steps)))
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB", flush=True)
    print(f"{'backbone':>18} {'px':>4} {'unfrozen':>8} {'batch':>5} {'peak GB':>8} {'estimate GB':>11} "
          f"{'est/peak':>8} {'s/step':>7}", flush=True)
    for config in args.configs.split(","):
        result = subprocess.run([sys.executable, __file__, "--child", config, "--steps", str(args.steps)],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if result.returncode:
            print(f"{config}: failed (exit {result.returncode}): {result.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        r = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"{r['backbone']:>18} {r['size']:>4} {r['unfrozen']:>8} {r['batch']:>5} {r['peak_gb']:>8.2f} "
              f"{r['estimate_gb']:>11.2f} {r['estimate_gb'] / r['peak_gb']:>8.2f} {r['step_s']:>7.1f}   "
              f"{json.dumps(r['estimate'])}", flush=True)


if __name__ == "__main__":
    main()
