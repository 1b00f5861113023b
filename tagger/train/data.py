"""What training reads from the run folder: images, their labels and the split."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError


@dataclass
class TrainingData:
    manifest: runfolder.Manifest
    vocabulary: list[str]
    labels: np.ndarray  # images x tags, multi-hot float32
    train_rows: list[int]
    validation_rows: list[int]

    @classmethod
    def read(cls, run_dir: Path) -> "TrainingData":
        manifest = runfolder.read_manifest(run_dir)
        vocabulary = runfolder.read_vocabulary(run_dir)
        train_rows, validation_rows = manifest.indices(runfolder.TRAIN), manifest.indices(runfolder.VALIDATION)
        if not train_rows:
            raise TaggerError(f"{run_dir / runfolder.MANIFEST} has no training images: run prepare.py on more images")
        if not validation_rows:  # a one-image set: evaluate on what there is rather than refuse
            validation_rows = train_rows
        return cls(manifest, vocabulary, manifest.label_matrix(vocabulary), train_rows, validation_rows)

    def paths(self, rows) -> list[str]:
        return [self.manifest.paths[row] for row in rows]
