"""train.py under MirroredStrategy, on the CPU split into two logical devices as a stand-in for two GPUs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import run_script

from tagger.errors import TaggerError
from tagger.train.stages import global_batch_size

MIRRORED = ["--train.hardware.cpu_devices", "2", "--train.hardware.distribute", "mirrored"]
# ResNet50 from a random start still gives features that differ between images (MobileNetV2's are ~1e-12),
# so the head's weights move and a difference between the two runs would show. No dropout: each replica
# draws its own masks, which would make the runs differ by design.
HEAD_ONLY = ["--model.backbone", "resnet50", "--model.weights", "none", "--model.image_size", "32",
             "--model.dropout", "0", "--train.head.epochs", "3"]


def prepared(dataset, run_dir):
    result = run_script("prepare.py", "--paths.run_dir", run_dir, "--data.source", dataset / "tags.csv",
                        "--data.min_tag_occurrences", "3")
    assert result.returncode == 0, result.stderr
    return run_dir


def trained(run_dir, *flags):
    result = run_script("train.py", "--paths.run_dir", run_dir, *flags)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def predictions(run_dir, count=6):
    from tagger.images import load_image
    from tagger.model.network import load_tagger

    manifest = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)
    pixels = np.stack([load_image(path, 32) for path in manifest["path"][:count]])
    return load_tagger(run_dir / "model.keras").predict(pixels, verbose=0)


@pytest.fixture(scope="module")
def one_and_two_devices(tmp_path_factory):
    """The same data trained on one device and on two replicas, with the same global batch of 16."""
    from make_demo import make_demo

    work = tmp_path_factory.mktemp("hardware")
    make_demo(work / "data", images=54, size=32, seed=1)
    single = prepared(work / "data", work / "single")
    manifest = pd.read_csv(single / "manifest.csv", dtype=str, keep_default_na=False)
    # 48 training images: three batches of 16, each split 8 + 8, so both runs average the same losses.
    assert (manifest["split"] == "train").sum() == 48
    mirrored = shutil.copytree(single, work / "mirrored")
    single_output = trained(single, *HEAD_ONLY, "--train.head.batch_size", "16")
    mirrored_output = trained(mirrored, *HEAD_ONLY, *MIRRORED, "--train.head.batch_size", "8")
    return single, single_output, mirrored, mirrored_output


def test_training_runs_on_two_replicas_and_its_model_predicts(one_and_two_devices):
    _, single_output, mirrored, mirrored_output = one_and_two_devices
    assert "hardware: CPU, 1 replica(s), precision float32, XLA off" in single_output
    assert "hardware: CPU, 2 replica(s), precision float32, XLA off" in mirrored_output
    assert json.loads((mirrored / "training.json").read_text())["replicas"] == 2
    scores = predictions(mirrored)
    assert scores.shape == (6, len(pd.read_csv(mirrored / "vocabulary.csv")))
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_two_replicas_give_the_single_device_stage1_result(one_and_two_devices):
    # Measured: head weights within 4e-9, losses and mAPs equal to the printed digits. Where the last batch
    # splits unevenly (e.g. 5 rows as 3 + 2) Keras averages each replica's mean, which weights those rows
    # differently, and the runs drift apart by about 1% over three epochs; this set avoids that.
    single, _, mirrored, _ = one_and_two_devices
    np.testing.assert_allclose(np.load(mirrored / "features.npy"), np.load(single / "features.npy"),
                               rtol=1e-5, atol=1e-6)
    single_history = json.loads((single / "metrics.json").read_text())["history"]["head"]
    mirrored_history = json.loads((mirrored / "metrics.json").read_text())["history"]["head"]
    assert [entry["epoch"] for entry in mirrored_history] == [1, 2, 3]
    for key in ("loss", "validation_mAP"):
        np.testing.assert_allclose([entry[key] for entry in mirrored_history],
                                   [entry[key] for entry in single_history], rtol=1e-5)
    single_head, mirrored_head = np.load(single / "head.npz"), np.load(mirrored / "head.npz")
    # The head did learn something to compare: its logits tell the images apart.
    assert (np.load(single / "features.npy") @ single_head["kernel"]).std(axis=0).max() > 1e-2
    for name in ("kernel", "bias"):
        np.testing.assert_allclose(mirrored_head[name], single_head[name], rtol=1e-4,
                                   atol=1e-6 * np.abs(single_head[name]).max())
    np.testing.assert_allclose(predictions(mirrored), predictions(single), atol=1e-5)


def test_two_replicas_fine_tune_an_odd_number_of_images(tiny_prepared, tmp_path):
    """53 training images: Keras's fit fails on a first batch that splits unevenly, and BatchNormalization on
    a replica given no rows, unless the global batch is chosen to avoid both (global_batch_size)."""
    run_dir = shutil.copytree(tiny_prepared, tmp_path / "run")
    assert (pd.read_csv(run_dir / "manifest.csv")["split"] == "train").sum() == 53
    output = trained(run_dir, *MIRRORED, "--model.backbone", "mobilenetv2", "--model.weights", "none",
                     "--model.image_size", "32", "--train.head.epochs", "1", "--train.finetune.unfreeze_layers", "2",
                     "--train.finetune.epochs", "1", "--train.finetune.batch_size", "32")
    assert "hardware: CPU, 2 replica(s)" in output
    assert "stage 2: fine-tuning the last 2 backbone layers, up to 1 epochs" in output
    assert json.loads((run_dir / "training.json").read_text())["backbone_finetuned"] is True
    assert np.isfinite(predictions(run_dir)).all()


def test_global_batch_splits_evenly_first_and_leaves_no_replica_empty():
    assert global_batch_size(32, 1, 53) == 32  # one device: as asked
    assert global_batch_size(8, 2, 48) == 16
    assert global_batch_size(32, 2, 1000) == 64
    assert global_batch_size(32, 2, 53) == 50  # 52 would leave a last batch of 1 for 2 replicas
    assert global_batch_size(16, 4, 66) == 60  # 64 would leave 2 rows for 4 replicas; 66 % 60 = 6
    with pytest.raises(TaggerError, match="3 training image\\(s\\) cannot be shared by 2 replicas"):
        global_batch_size(16, 2, 3)
