"""Running the network over images, writing embeddings to disk as they come (memory stays flat)."""

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.images import image_dataset


class Pieces:
    """An output of one row per image, built as pieces of `size` rows that each land on disk whole.

    Each piece is its own .npy under `folder/<key hash>/`, renamed into place when complete, so a run
    killed at any point loses at most the piece it was computing; a re-run with the same key skips
    the pieces already there. Shards (one per machine) take contiguous runs of pieces; joining them
    in order gives the same bytes as one uninterrupted run, because every run computes the same
    pieces in the same batches.
    """

    def __init__(self, folder: Path, key: dict, count: int, size: int):
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.root, self.folder, self.count, self.size = folder, folder / digest, count, size
        self.total = max(1, -(-count // size))  # an empty manifest still has one (empty) piece

    def rows(self, index: int) -> range:
        return range(index * self.size, min(self.count, (index + 1) * self.size))

    def path(self, index: int) -> Path:
        return self.folder / f"piece-{index:06d}.npy"

    def shard(self, num_shards: int, shard_index: int) -> range:
        """Contiguous pieces of one shard; shards differ in size by at most one piece."""
        return range(self.total * shard_index // num_shards, self.total * (shard_index + 1) // num_shards)

    def missing(self, indices=None) -> list[int]:
        return [index for index in (range(self.total) if indices is None else indices) if not self.path(index).exists()]

    def compute(self, predict, paths: list[str], image_size: int, batch_size: int, indices: range) -> None:
        """Writes the missing pieces among `indices`: predict(uint8 pixel batch) -> float32 rows."""
        import keras

        todo = self.missing(indices)
        wanted = sum(len(self.rows(index)) for index in indices)
        done = wanted - sum(len(self.rows(index)) for index in todo)
        if done:
            print(f"resuming: {done} of {wanted} images already done in {self.folder}")
        # A live bar on a terminal; in a log file, one line at the end instead of a stream of redraws.
        progress = keras.utils.Progbar(wanted, unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
        progress.update(done)
        for index in todo:
            # This process owns the piece (one shard, under its lock): a temporary left by a killed run goes.
            for leftover in self.folder.glob(f".{self.path(index).name}.*.partial*"):
                leftover.unlink(missing_ok=True)
            rows = self.rows(index)
            batches = [np.asarray(predict(pixels), dtype=np.float32)
                       for pixels in image_dataset(paths[rows.start:rows.stop], image_size, batch_size)]
            with runfolder.atomic_path(self.path(index), ".npy") as temporary:
                np.save(temporary, np.concatenate(batches) if batches else np.zeros((0, 0), np.float32))
            done += len(rows)
            progress.update(done)

    def join(self, target: Path) -> None:
        """All pieces, in order, as one .npy at target (written whole, then renamed); then the pieces go."""
        missing = self.missing()
        if missing:
            raise TaggerError(f"{len(missing)} of {self.total} pieces are missing in {self.folder} "
                              f"(first: {self.path(missing[0]).name})")
        first = np.load(self.path(0), mmap_mode="r", allow_pickle=False)
        width = first.shape[1] if self.count else 0
        with runfolder.atomic_path(target, ".npy") as temporary:
            output = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(self.count, width))
            for index in range(self.total):
                rows = self.rows(index)
                output[rows.start:rows.stop] = np.load(self.path(index), mmap_mode="r", allow_pickle=False)
            output.flush()
            del output
        shutil.rmtree(self.root, ignore_errors=True)


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
