"""Per-epoch checkpoints of a training stage, so a killed run resumes at its last completed epoch.

For each stage: the current weights, the optimizer's variables (moments and step count, so the
learning-rate schedule continues), the best weights so far, and a small state file written last:
a checkpoint counts only once its state file names it.
"""

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.rerun import flattened

log = logging.getLogger(__name__)
SHOWN_CHANGES = 3


def changes(saved, now: dict) -> str:
    """What differs between a checkpoint's fingerprint and this run's, for a person: the settings changed (as flags,
    the first few), or the tags or images."""
    if not isinstance(saved, dict):
        return "an older version"
    parts = []
    if saved.get("vocabulary") != now.get("vocabulary"):
        parts.append("other tags")
    if saved.get("images") != now.get("images"):
        parts.append("other images")
    before = flattened({key: saved.get(key) or {} for key in ("model", "train")})
    after = flattened({key: now.get(key) or {} for key in ("model", "train")})
    settings = [f"--{name} {before.get(name)} (now {after.get(name)})" for name in sorted(before.keys() | after.keys())
                if before.get(name) != after.get(name)]
    if settings:
        parts.append("other settings: " + ", ".join(settings[:SHOWN_CHANGES])
                     + (f" and {len(settings) - SHOWN_CHANGES} more" if len(settings) > SHOWN_CHANGES else ""))
    return "; ".join(parts) or "other settings"


def load_model_weights(model, path: Path) -> None:
    """The model's weights from a checkpoint. Keras saves the compiled optimizer's variables with them and warns
    when the model's optimizer has another count (a stage's, or one not yet built); the optimizer's state is
    restored from optimizer.npz, so the warning is only noise in the user's terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


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
            made_with = changes(saved.get("fingerprint"), self.fingerprint)
            log.info(f"checkpoints of stage {self.stage} were made with {made_with}: the stage starts over")
            return None
        return StageState(**saved["state"])

    def restore(self, model, optimizer) -> None:
        load_model_weights(model, self.path("weights.h5"))
        values = np.load(self.path("optimizer.npz"), allow_pickle=False)
        optimizer.build(model.trainable_variables)
        for index, variable in enumerate(optimizer.variables):
            variable.assign(values[f"v{index}"])

    def restore_start(self, model) -> None:
        """The weights a stage started from (epoch 0), saved before its first epoch; no optimizer state yet."""
        load_model_weights(model, self.path("weights.h5"))

    def restore_best(self, model) -> None:
        load_model_weights(model, self.path("best.weights.h5"))

    def save(self, model, optimizer, state: StageState, improved: bool) -> None:
        self.save_weights(model, "weights.h5")
        if improved:
            self.save_weights(model, "best.weights.h5")
        with runfolder.atomic_path(self.path("optimizer.npz"), ".npz") as temporary:
            np.savez(temporary, **{f"v{index}": np.asarray(variable) for index, variable in enumerate(optimizer.variables)})
        self.save_state(state)

    def save_weights(self, model, kind: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with runfolder.atomic_path(self.path(kind), ".weights.h5") as temporary:
            model.save_weights(temporary)

    def save_state(self, state: StageState) -> None:
        """Written last: a checkpoint counts only once its state file names it."""
        runfolder.write_json(self.path("state.json"), {"fingerprint": self.fingerprint, "state": asdict(state)})


class StageFloor:
    """The model fine-tuning must beat where its tag layer restarts (--model.weights none): stage 1's weights and
    validation mAP, saved once before the restart (a resumed run compares with the same ones)."""

    def __init__(self, run_dir: Path, fingerprint: dict):
        self.checkpoint = StageCheckpoint(run_dir, "floor", fingerprint)

    def load(self) -> float | None:
        """Stage 1's validation mAP as saved, or None when there is none (or it was made with other settings)."""
        state = self.checkpoint.load()
        return None if state is None else state.best_map

    def save(self, model, validation_map: float) -> None:
        self.checkpoint.save_weights(model, "best.weights.h5")
        self.checkpoint.save_state(StageState(best_map=validation_map, best_epoch=0, finished=True))

    def restore(self, model) -> None:
        self.checkpoint.restore_best(model)
