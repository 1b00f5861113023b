"""Stage 1's input: the frozen backbone's pooled features of every image, computed once and cached on disk."""

import logging

import numpy as np

from tagger import runfolder
from tagger.pieces import Pieces
from tagger.train.augment import epoch_order_tensor

log = logging.getLogger(__name__)


def stage1_features(tagger, manifest: runfolder.Manifest, settings, precision: str) -> np.ndarray:
    """Pooled frozen-backbone features of every manifest image (features.npy, reused by embed.py)."""
    from tagger.model.choice import choose_inference
    from tagger.model.inference import batch_function
    from tagger.model.network import embedding_model

    run_dir = settings.paths.run_dir
    # Computed at the training precision: reduced inference precision waits for the trained model's check.
    choice = choose_inference(settings.embed.engine, precision, None, images=len(manifest.paths))
    key = {**runfolder.feature_cache_key(settings.model, manifest), "precision": precision, "engine": choice.engine}
    features = runfolder.cached_features(run_dir, key)
    if features is None:
        log.info(f"computing backbone features of {len(manifest.paths)} images once (cached for stage 1 and embed.py); "
                 f"engine {choice.engine} ({choice.engine_reason}), precision {precision} (the training precision)")
        (run_dir / runfolder.FEATURE_CACHE_KEY).unlink(missing_ok=True)
        # In pieces, so a run killed while caching (hours, on a large set) resumes instead of starting over.
        pieces = Pieces(run_dir / runfolder.FEATURE_PIECES, key, len(manifest.paths), settings.embed.chunk_size)
        # At the training precision (the model is built under it), by embed.py's engine.
        predict = batch_function(embedding_model(tagger), choice.engine, "float32", settings.model.image_size)
        pieces.compute(predict, manifest.paths, settings.model.image_size, settings.embed.batch_size,
                       range(pieces.total))
        pieces.join(run_dir / runfolder.FEATURE_CACHE)
        runfolder.write_json(run_dir / runfolder.FEATURE_CACHE_KEY, key)
        features = runfolder.cached_features(run_dir, key)
    else:
        log.info(f"using cached backbone features from {run_dir / runfolder.FEATURE_CACHE}")
    return np.asarray(features)


def unit_length_scale(features: np.ndarray) -> float:
    """1 / root-mean-square length of the feature rows: stage 1 sees features of about unit length, so one
    learning rate suits every backbone (their features' scales differ by orders of magnitude)."""
    mean_square = float(np.mean(np.einsum("ij,ij->i", features, features, dtype=np.float64))) if len(features) else 0.0
    return 1.0 / np.sqrt(mean_square) if mean_square > 0 and np.isfinite(mean_square) else 1.0


def head_batch_size(setting: int, rows: int) -> int:
    """The setting, or for 0 a size giving about 64 steps an epoch: small sets still get enough updates,
    large ones big enough matrix products to run near the machine's arithmetic rate."""
    return setting or int(np.clip(rows // 64, 32, 1024))


def cached_feature_epochs(features: np.ndarray, labels: np.ndarray, rows, batch_size: int, seed: int):
    """A function epoch (an int or a scalar tensor) -> shuffled batches of cached features; the arrays go to
    TensorFlow once, then each batch is a gather, so an epoch over 150,000 rows copies nothing it does not train on."""
    import tensorflow as tf

    feature_tensor, label_tensor, row_tensor = tf.constant(features), tf.constant(labels), tf.constant(np.asarray(rows))

    def epoch_data(epoch):
        order = tf.gather(row_tensor, epoch_order_tensor(len(rows), seed, epoch))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.map(lambda index: (tf.gather(feature_tensor, index), tf.gather(label_tensor, index)),
                           num_parallel_calls=tf.data.AUTOTUNE)

    return epoch_data
