"""Running the network over images, writing embeddings to disk as they come (memory stays flat)."""

import hashlib
import sys
import json
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.images import image_dataset


def write_embeddings(embedder, paths: list[str], image_size: int, batch_size: int, target: Path) -> None:
    """embedder's output for every image, in order, as a float32 .npy; target appears only when complete."""
    import keras

    width = embedder.output.shape[-1]
    # A live bar on a terminal; in a log file, one line at the end instead of a stream of redraws.
    progress = keras.utils.Progbar(len(paths), unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
    with runfolder.atomic_path(target, ".npy") as temporary:
        output = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(len(paths), width))
        start = 0
        for pixels in image_dataset(paths, image_size, batch_size):
            batch = np.asarray(embedder(pixels, training=False), dtype=np.float32)
            output[start:start + len(batch)] = batch
            start += len(batch)
            progress.update(start)
        output.flush()
        del output


def image_ids_array(image_ids: list[str]) -> np.ndarray:
    """Fixed-width unicode, so image_ids.npy loads without pickle."""
    width = max((len(image_id) for image_id in image_ids), default=1)
    return np.array(image_ids, dtype=f"<U{width}")


def feature_cache_key(model_settings, manifest: runfolder.Manifest) -> dict:
    """What the frozen-backbone features depend on; a cache with another key is recomputed."""
    weights = model_settings.weights
    weights_path = Path(weights)
    if weights_path.is_file():
        stat = weights_path.stat()
        weights = f"{weights_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    images = hashlib.sha256(json.dumps([manifest.image_ids, manifest.paths]).encode()).hexdigest()
    return {"backbone": model_settings.backbone, "image_size": model_settings.image_size,
            "weights": weights, "images": images}


def cached_features(run_dir: Path, key: dict) -> np.ndarray | None:
    """The stage-1 feature cache when it was made with this key, else None."""
    cache, cache_key = run_dir / runfolder.FEATURE_CACHE, run_dir / runfolder.FEATURE_CACHE_KEY
    if cache.exists() and cache_key.exists() and json.loads(cache_key.read_text()) == key:
        return np.load(cache, mmap_mode="r", allow_pickle=False)
    return None
