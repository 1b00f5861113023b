"""Per-epoch checkpoints of a training stage, so a killed run resumes at its last completed epoch.

For each stage: the current weights, the optimizer's variables (moments and step count, so the
learning-rate schedule continues), the best weights so far, and a small state file written last:
a checkpoint counts only once its state file names it.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tagger import runfolder


@dataclass
class StageState:
    epochs_done: int = 0
    best_map: float = -1.0
    best_epoch: int = -1
    stale_epochs: int = 0
    finished: bool = False
    history: list = field(default_factory=list)


class StageCheckpoint:
    def __init__(self, run_dir: Path, stage: str, fingerprint: dict):
        self.folder = run_dir / runfolder.CHECKPOINTS
        self.stage = stage
        self.fingerprint = fingerprint  # the settings that must match for a resume to be valid

    def path(self, kind: str) -> Path:
        return self.folder / f"{self.stage}.{kind}"

    def load(self) -> StageState | None:
        """The saved state, or None when there is none or it was made with other settings."""
        state_path = self.path("state.json")
        if not state_path.exists():
            return None
        saved = json.loads(state_path.read_text())
        if saved.get("fingerprint") != self.fingerprint:
            return None
        return StageState(**saved["state"])

    def restore(self, model, optimizer) -> None:
        model.load_weights(self.path("weights.h5"))
        values = np.load(self.path("optimizer.npz"), allow_pickle=False)
        optimizer.build(model.trainable_variables)
        for index, variable in enumerate(optimizer.variables):
            variable.assign(values[f"v{index}"])

    def restore_start(self, model) -> None:
        """The weights a stage started from (epoch 0), saved before its first epoch; no optimizer state yet."""
        model.load_weights(self.path("weights.h5"))

    def restore_best(self, model) -> None:
        model.load_weights(self.path("best.weights.h5"))

    def save(self, model, optimizer, state: StageState, improved: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with runfolder.atomic_path(self.path("weights.h5"), ".weights.h5") as temporary:
            model.save_weights(temporary)
        if improved:
            with runfolder.atomic_path(self.path("best.weights.h5"), ".weights.h5") as temporary:
                model.save_weights(temporary)
        with runfolder.atomic_path(self.path("optimizer.npz"), ".npz") as temporary:
            np.savez(temporary, **{f"v{index}": np.asarray(variable) for index, variable in enumerate(optimizer.variables)})
        runfolder.write_json(self.path("state.json"), {"fingerprint": self.fingerprint, "state": asdict(state)})
