#!/usr/bin/env python3
"""Training steps after a per-epoch tf.random.set_seed, against the stage's reseeding (tagger.train.callbacks).

A stage's one fit reseeds before each epoch so a resumed run draws what an uninterrupted one drew. Calling
keras.utils.set_random_seed there calls tf.random.set_seed, which clears TensorFlow's kernel caches; every later
step of that fit then runs slower. tagger's EpochSeeds sets the global seeds once, at the stage's start, and
resets only what the steps draw from (the layers' seed states) before each epoch.

Both variants train the same model (MobileNetV2 from random weights, the tagger's head, Adam, dropout) on the
same in-memory batches in one process, taking turns; printed: ms per step of the epochs after the first (the
first holds the tracing) and the ratio, and whether both gave the same weights (they must: same arithmetic).

Measured on this project's machine (2 cores of an AMD EPYC, no GPU), 64 px, batches of 32, 18 steps an epoch,
4 epochs: set_seed each epoch 1022 ms a step, once 406 ms: x2.52, the same weights. The demo (data/run_demo.sh) went from 545 s
to 296 s with the same outputs.

    python benchmarks/epoch_seeds.py [--image-size 64] [--batch-size 32] [--steps 18] [--epochs 4]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def set_seed_each_epoch(epoch_seed):
    """The reseeding as it was: keras.utils.set_random_seed before every epoch."""
    import keras

    from tagger.train.callbacks import reseed_layers

    class Reseed(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            keras.utils.set_random_seed(epoch_seed(epoch))
            reseed_layers(self.model, epoch_seed(epoch))

    return Reseed()


def train(variant: str, options) -> tuple[float, np.ndarray]:
    """ms per step after the first epoch, and the trained tag layer's kernel."""
    import keras
    import tensorflow as tf

    from tagger.model.network import TAGS_LAYER, build_tagger
    from tagger.settings import ModelSettings
    from tagger.train.callbacks import EpochSeeds

    keras.utils.set_random_seed(0)
    model = build_tagger(ModelSettings(backbone="mobilenetv2", image_size=options.image_size, weights="none"), 12)
    model.compile(optimizer=keras.optimizers.Adam(0.002), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    count = options.steps * options.batch_size
    pixels = rng.integers(0, 256, (count, options.image_size, options.image_size, 3)).astype(np.float32)
    labels = (rng.random((count, 12)) < 0.3).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(options.batch_size).repeat()
    seed = lambda epoch: 1_009 + epoch  # noqa: E731
    reseed = set_seed_each_epoch(seed) if variant == "set_seed each epoch" else EpochSeeds(seed)

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.began)

    times = EpochTimes()
    model.fit(batches, epochs=options.epochs, steps_per_epoch=options.steps, verbose=0, callbacks=[reseed, times])
    return 1000 * float(np.mean(times.seconds[1:])) / options.steps, np.asarray(model.get_layer(TAGS_LAYER).kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--epochs", type=int, default=4)
    options = parser.parse_args()
    results = {variant: train(variant, options) for variant in ("set_seed each epoch", "once per stage")}
    for variant, (ms, _) in results.items():
        print(f"{variant:>20}: {ms:7.1f} ms a step (epochs 2-{options.epochs})")
    before, after = results["set_seed each epoch"][0], results["once per stage"][0]
    same = np.array_equal(results["set_seed each epoch"][1], results["once per stage"][1])
    print(f"speed-up x{before / after:.2f}; same trained weights: {same}")


if __name__ == "__main__":
    main()
