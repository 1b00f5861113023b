#!/usr/bin/env python3
"""Stage 1 two ways, one run, same images: the head trained on cached frozen-backbone features (what
train.py does) against the same head trained with model.fit over images through the frozen backbone.
Prints seconds per epoch of each and the ratio. Target: cached >= 50x faster at 384 px, efficientnetv2-s.

Both paths train the tagger's own head (tagger.model.network.head_model vs the whole tagger with its backbone
frozen), with the same optimizer, on real JPEGs (default ../shared/data/coco128). The first epoch of each
path is a warm-up (graph tracing) and not counted; the one-time cost of filling the cache is printed too.

    python benchmarks/stage1_cached_vs_fit.py [--images 64] [--image-size 384] [--backbone efficientnetv2-s]
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tagger, whatever is installed

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images-folder", type=Path, default=ROOT.parent / "shared/data/coco128/images")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=384)
    parser.add_argument("--backbone", default="efficientnetv2-s")
    parser.add_argument("--tags", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per path, after one warm-up epoch")
    arguments = parser.parse_args()

    import keras

    from tagger.images import image_dataset
    from tagger.model.inference import batch_function
    from tagger.model.network import build_tagger, embedding_model, head_model
    from tagger.settings import ModelSettings
    from tagger.train.features import cached_feature_epochs

    paths = sorted(str(path) for path in arguments.images_folder.rglob("*.jpg"))[:arguments.images]
    labels = (np.random.default_rng(0).random((len(paths), arguments.tags)) < 0.05).astype(np.float32)
    settings = ModelSettings(backbone=arguments.backbone, image_size=arguments.image_size, weights="none")
    keras.utils.set_random_seed(0)
    tagger = build_tagger(settings, arguments.tags)
    tagger.get_layer("backbone").trainable = False

    start = time.perf_counter()
    embed = batch_function(embedding_model(tagger), "function", "float32", arguments.image_size)
    features = np.concatenate([embed(batch) for batch in image_dataset(paths, arguments.image_size, arguments.batch_size)])
    cache_seconds = time.perf_counter() - start

    def timed_epochs(model, data) -> float:
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="binary_crossentropy")
        model.fit(data(), epochs=1, verbose=0)  # warm-up: tracing
        start = time.perf_counter()
        for _ in range(arguments.epochs):
            model.fit(data(), epochs=1, verbose=0)
        return (time.perf_counter() - start) / arguments.epochs

    import tensorflow as tf

    def image_epoch():
        pixels = image_dataset(paths, arguments.image_size, arguments.batch_size).unbatch()
        return tf.data.Dataset.zip((pixels, tf.data.Dataset.from_tensor_slices(labels))).batch(arguments.batch_size)

    cached_epochs = cached_feature_epochs(features, labels, np.arange(len(paths)), arguments.batch_size, seed=0)

    def feature_epoch():
        return cached_epochs(0).prefetch(tf.data.AUTOTUNE)  # as train.py's stage prefetches it

    cached = timed_epochs(head_model(tagger), feature_epoch)
    through_backbone = timed_epochs(tagger, image_epoch)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{len(paths)} JPEGs, {arguments.backbone} at {arguments.image_size} px (weights none: speed only), "
          f"{arguments.tags} tags, batch {arguments.batch_size}, mean of {arguments.epochs} epochs after a warm-up")
    print("| path | seconds per epoch | images per second |")
    print("|---|---|---|")
    print(f"| model.fit over images, frozen backbone | {through_backbone:.3f} | {len(paths) / through_backbone:.1f} |")
    print(f"| cached features (train.py stage 1) | {cached:.4f} | {len(paths) / cached:.0f} |")
    print(f"cached path {through_backbone / cached:.0f}x faster per epoch (target >= 50x); filling the cache once took "
          f"{cache_seconds:.1f} s, repaid after {cache_seconds / max(through_backbone - cached, 1e-9):.1f} epochs")


if __name__ == "__main__":
    main()
