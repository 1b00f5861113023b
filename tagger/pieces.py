"""Resumable per-image outputs: the network run over images in pieces that land on disk whole (memory stays flat)."""

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.files import atomic_path, remove_leftovers
from tagger.images import image_dataset
from tagger.interrupt import deferred, stop_if_interrupted
from tagger.progress import progress_bar

log = logging.getLogger(__name__)


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

        todo = self.missing(indices)
        wanted = sum(len(self.rows(index)) for index in indices)
        done = wanted - sum(len(self.rows(index)) for index in todo)
        if done:
            log.info(f"resuming: {done} of {wanted} images already done in {self.folder}")
        progress = progress_bar(wanted)
        progress.update(done)
        with deferred():  # Ctrl-C stops the loop at its next batch (tagger.interrupt.deferred)
            for index in todo:
                stop_if_interrupted()
                # This process owns the piece (one shard, under its lock): a temporary left by a killed run goes.
                remove_leftovers(self.folder, self.path(index).name)
                rows = self.rows(index)
                batches = []
                for pixels in image_dataset(paths[rows.start:rows.stop], image_size, batch_size):
                    batches.append(np.asarray(predict(pixels), dtype=np.float32))
                    stop_if_interrupted()
                with atomic_path(self.path(index), ".npy") as temporary:
                    np.save(temporary, np.concatenate(batches) if batches else np.zeros((0, 0), np.float32))
                done += len(rows)
                progress.update(done)
        stop_if_interrupted()  # pressed after the last batch's check: the step stops, not goes on to its next part

    def require_complete(self) -> None:
        missing = self.missing()
        if missing:
            raise TaggerError(f"{len(missing)} of {self.total} pieces are missing in {self.folder} "
                              f"(first: {self.path(missing[0]).name})")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def join(self, target: Path) -> None:
        """All pieces, in order, as one .npy at target (written whole, then renamed); then the pieces go."""
        self.require_complete()
        first = np.load(self.path(0), mmap_mode="r", allow_pickle=False)
        width = first.shape[1] if self.count else 0
        with atomic_path(target, ".npy") as temporary:
            output = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(self.count, width))
            for index in range(self.total):
                rows = self.rows(index)
                output[rows.start:rows.stop] = np.load(self.path(index), mmap_mode="r", allow_pickle=False)
            output.flush()
            del output
        self.remove()
