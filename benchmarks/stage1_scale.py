#!/usr/bin/env python3
"""Stage 1 at scale: 150,000 cached 1,280-d features, 1,000 tags, 20 epochs, through train.py's own
stage loop (per-epoch shuffle, checkpoint, validation mAP). Synthetic features with a planted linear
signal. Prints the time, the arithmetic floor at this machine's measured float32 matmul rate, and
the fraction of it achieved. Target on 2 cores: under 4 minutes.

    python benchmarks/stage1_scale.py [--images 150000] [--dims 1280] [--tags 1000] [--epochs 20]
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tagger, whatever is installed


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 GFLOP/s of a large matrix product with TensorFlow (the engine that trains)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    tf.linalg.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        tf.linalg.matmul(a, b).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=150_000)
    parser.add_argument("--dims", type=int, default=1280)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None, help="default: train.head_batch_size")
    arguments = parser.parse_args()

    import keras

    from tagger.settings import TrainSettings
    from tagger.train.checkpoints import StageCheckpoint
    from tagger.train.hardware import configure_hardware
    from tagger.train.metrics import mean_average_precision
    from tagger.train.features import cached_feature_epochs, head_batch_size, unit_length_scale
    from tagger.train.stages import run_stage

    options = TrainSettings(head={"epochs": arguments.epochs}, patience=arguments.epochs)
    batch_size = head_batch_size(arguments.batch_size or options.head.batch_size, arguments.images * 9 // 10)
    hardware = configure_hardware(options.hardware)
    random = np.random.default_rng(0)
    features = np.maximum(random.standard_normal((arguments.images, arguments.dims), dtype=np.float32), 0)
    truth = random.standard_normal((arguments.dims, arguments.tags), dtype=np.float32) / np.sqrt(arguments.dims)
    logits = features @ truth
    labels = (logits > np.quantile(logits, 0.97, axis=0)).astype(np.float32)  # ~3% of images per tag, linear rule
    validation = np.arange(arguments.images) % 10 == 0
    train_rows, validation_rows = np.flatnonzero(~validation), np.flatnonzero(validation)

    keras.utils.set_random_seed(0)
    # The head train.py builds for stage 1 (tagger.model.network.head_model): scaled features, dropout, zero-initialized
    # tag layer with biases at the tags' log-odds.
    head = keras.Sequential([keras.Input((arguments.dims,)),
                             keras.layers.Rescaling(unit_length_scale(features[train_rows])),
                             keras.layers.Dropout(0.3),
                             keras.layers.Dense(arguments.tags, activation="sigmoid", kernel_initializer="zeros")])
    frequency = np.clip(labels[train_rows].mean(axis=0), 1e-4, 1 - 1e-4)
    head.layers[-1].bias.assign(np.log(frequency / (1 - frequency)))

    epoch_data = cached_feature_epochs(features, labels, train_rows, batch_size, seed=0)

    def validation_map():
        scores = head.predict(features[validation_rows], batch_size=4096, verbose=0)
        return mean_average_precision(labels[validation_rows], scores)

    rate = matmul_rate()
    with tempfile.TemporaryDirectory() as run_dir:
        checkpoint = StageCheckpoint(Path(run_dir), "head", {"benchmark": True})
        start = time.perf_counter()
        learning_rate = options.head.learning_rate * (arguments.tags if options.head.optimizer == "sgd" else 1)
        history = run_stage(checkpoint, head, hardware, learning_rate,
                            -(-len(train_rows) // batch_size), arguments.epochs, options, epoch_data,
                            validation_map, stage_number=1, optimizer_name=options.head.optimizer)
        seconds = time.perf_counter() - start
    # Per epoch: forward 2·N·D·T and weight gradient 2·N·D·T on the training rows, forward on validation.
    flops = arguments.epochs * (4 * len(train_rows) + 2 * len(validation_rows)) * arguments.dims * arguments.tags
    floor = flops / (rate * 1e9)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"float32 matmul {rate:.0f} GFLOP/s (2048x2048, TensorFlow)")
    print(f"stage 1 ({options.head.optimizer}): {arguments.images:,} x {arguments.dims} features, {arguments.tags} tags, "
          f"{arguments.epochs} epochs, batch {batch_size}: {seconds:.1f} s ({seconds / arguments.epochs:.2f} s/epoch); target 240 s")
    print(f"arithmetic floor at the measured rate: {floor:.1f} s; achieved {floor / seconds:.0%} of it")
    print(f"validation mAP: first epoch {history[0]['validation_mAP']:.4f}, last {history[-1]['validation_mAP']:.4f}")


if __name__ == "__main__":
    main()
