"""A training run killed at an epoch boundary resumes there and ends exactly where an uninterrupted run ends."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, run_script

TRAIN_FLAGS = ["--model.backbone", "mobilenetv2", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "3", "--train.finetune.unfreeze_layers", "4", "--train.finetune.epochs", "3",
               "--train.patience", "10", "--train.finetune.batch_size", "16"]


@pytest.fixture(scope="module")
def prepared(tiny_prepared):
    return tiny_prepared


@pytest.fixture(scope="module")
def straight(prepared, tmp_path_factory):
    """One uninterrupted training, the yardstick of every kill case (only read by them)."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    shutil.copytree(prepared, run_dir)
    result = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS)
    assert result.returncode == 0, result.stderr
    return run_dir


def model_weights(run_dir):
    from tagger.model.network import load_tagger

    return load_tagger(run_dir / "model.keras").get_weights()


def train_killed_at(run_dir, stage: str, epochs_done: int) -> None:
    """Starts train.py and SIGKILLs it once the stage's checkpoint reports epochs_done epochs."""
    state = run_dir / "checkpoints" / f"{stage}.state.json"
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--paths.run_dir", str(run_dir), *TRAIN_FLAGS],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["state"]["epochs_done"] >= epochs_done:
            break
        time.sleep(0.05)
    assert process.poll() is None, "train.py finished before the kill point"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


# ("head", 0): killed in the first epoch, after the head's start (the yardstick's solution) was checkpointed.
@pytest.mark.parametrize("stage, epochs_done", [("head", 0), ("head", 1), ("finetune", 2)])
def test_killed_training_resumes_to_the_same_weights(prepared, straight, tmp_path, stage, epochs_done):
    interrupted = tmp_path / "interrupted"
    shutil.copytree(prepared, interrupted)
    train_killed_at(interrupted, stage, epochs_done)
    assert not (interrupted / "model.keras").exists()  # nothing half-written looks finished
    resumed = run_script("train.py", "--paths.run_dir", interrupted, *TRAIN_FLAGS)
    assert resumed.returncode == 0, resumed.stderr
    assert ("resuming from the saved start" if epochs_done == 0 else "resuming after epoch") in resumed.stdout

    for expected, actual in zip(model_weights(straight), model_weights(interrupted), strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-6)
    straight_metrics = json.loads((straight / "metrics.json").read_text())
    resumed_metrics = json.loads((interrupted / "metrics.json").read_text())
    assert resumed_metrics["history"] == straight_metrics["history"]


def test_a_stage_from_any_epoch_trains_on_exactly_each_epochs_own_batches():
    """One fit over a stage gets, for every epoch from the first not yet done, the rows epoch_order gives it."""
    from tagger.train.augment import epoch_order
    from tagger.train.features import cached_feature_epochs
    from tagger.train.stages import stage_data

    rows = np.arange(3, 13)
    features = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    labels = np.zeros((20, 1), np.float32)
    batches = stage_data(cached_feature_epochs(features, labels, rows, 4, seed=7), 2, 5, steps_per_epoch=3)
    seen = np.concatenate([feature_batch[:, 0] for feature_batch, _ in batches.as_numpy_iterator()])
    expected = np.concatenate([rows[epoch_order(len(rows), 7, epoch)] for epoch in (2, 3, 4)])
    np.testing.assert_array_equal(seen, expected)


def test_checkpoints_made_with_other_settings_say_what_differs():
    """A stage that starts over because its checkpoints no longer fit says why (it started over without a word)."""
    from tagger.train.checkpoints import changes

    before = {"vocabulary": ["cat", "dog"], "images": "a1", "model": {"image_size": 64},
              "train": {"patience": 3, "finetune": {"epochs": 6}}}
    assert changes(before, {**before, "train": {"patience": 3, "finetune": {"epochs": 8}}}) == (
        "other settings: --train.finetune.epochs 6 (now 8)")
    assert changes(before, {**before, "vocabulary": ["cat"], "images": "b2", "model": {"image_size": 96},
                            "train": {"patience": 4, "finetune": {"epochs": 2}}}) == (
        "other tags; other images; other settings: --model.image_size 64 (now 96), --train.finetune.epochs 6 (now 2), "
        "--train.patience 3 (now 4)")
    assert changes(None, before) == "an older version"
