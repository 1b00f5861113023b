"""Fine-tuning within memory: train.py estimates a training step before stage 1, takes a batch that would not fit in
smaller steps whose gradients make one update, and refuses to start when one image would not fit."""

import json
import shutil

import pytest
from conftest import run_script

TRAIN_FLAGS = ["--model.backbone", "mobilenetv2", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "1", "--train.finetune.unfreeze_layers", "4", "--train.finetune.epochs", "1",
               "--train.finetune.batch_size", "16", "--train.finetune.learning_rate", "0.001"]


@pytest.fixture(scope="module")
def prepared(tiny_prepared):
    return tiny_prepared


def estimate_at(run_dir, batches: list[int]) -> list[float]:
    """The library's estimate of stage 2 for this run's model (as train.py builds it), in GB, at each batch."""
    from tagger import runfolder
    from tagger.model.network import backbone_of, build_tagger
    from tagger.settings import ModelSettings
    from tagger.train.memory import finetune_memory_estimate
    from tagger.train.stages import unfreeze_last_layers

    vocabulary, _ = runfolder.read_vocabulary_counts(run_dir)
    tagger = build_tagger(ModelSettings(backbone="mobilenetv2", weights="none", image_size=32), len(vocabulary))
    unfreeze_last_layers(backbone_of(tagger), 4, keep_batchnorm_frozen=False)
    estimate = finetune_memory_estimate(tagger)
    return [estimate.at_batch(batch) / 2**30 for batch in batches]


def test_estimate_grows_with_the_batch_and_the_unfrozen_depth(prepared):
    from tagger import runfolder
    from tagger.model.network import backbone_of, build_tagger
    from tagger.settings import ModelSettings
    from tagger.train.memory import finetune_memory_estimate, images_per_step
    from tagger.train.stages import unfreeze_last_layers

    vocabulary, _ = runfolder.read_vocabulary_counts(prepared)
    tagger = build_tagger(ModelSettings(backbone="mobilenetv2", weights="none", image_size=64), len(vocabulary))
    unfreeze_last_layers(backbone_of(tagger), 4, keep_batchnorm_frozen=True)
    shallow = finetune_memory_estimate(tagger)
    unfreeze_last_layers(backbone_of(tagger), 1000, keep_batchnorm_frozen=True)
    deep = finetune_memory_estimate(tagger)
    assert shallow.at_batch(1) < shallow.at_batch(16) < deep.at_batch(16)
    assert shallow.trainable < deep.trainable and shallow.kept_per_image < deep.kept_per_image
    # The most images per step that fit, among the divisors of the batch.
    between = (deep.at_batch(4) + deep.at_batch(8)) / 2
    assert images_per_step(deep, 16, between) == 4
    assert images_per_step(deep, 16, deep.at_batch(16)) == 16
    assert images_per_step(deep, 16, deep.at_batch(1) * 0.99) == 0


def test_a_batch_that_does_not_fit_is_taken_in_accumulated_steps(prepared, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(prepared, run_dir)
    at_4, at_8 = estimate_at(run_dir, [4, 8])
    limit = f"{(at_4 + at_8) / 2:.9f}"
    result = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS, "--train.finetune.memory_limit_gb", limit,
                        "--train.finetune.epochs", "2")
    assert result.returncode == 0, result.stderr
    assert "stage 2: a batch of 16 would not fit" in result.stdout + result.stderr
    assert "4 steps of 4 images make each update" in result.stdout + result.stderr
    record = json.loads((run_dir / "training.json").read_text())
    assert record["finetune_steps"] == [{"stage": 2, "images_per_step": 4, "accumulated_steps": 4,
                                         "estimated_peak_gb": round(at_4, 2), "memory_limit_gb": round(float(limit), 2)}]
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [entry["epoch"] for entry in history["finetune"]] == [1, 2]
    # The warm-up and cosine span the whole stage, counted in steps of 4 images (as Keras evaluates the schedule):
    # halfway, the rate is where the schedule puts it, not already at zero as a schedule of updates would be.
    from tagger.train.data import TrainingData
    from tagger.train.optim import warmup_cosine

    steps = -(-len(TrainingData.read(run_dir).train_rows) // 4)
    halfway = float(warmup_cosine(0.001, 2 * steps, round(0.5 * steps))(steps))
    assert halfway > 1e-4
    assert history["finetune"][0]["learning_rate"] == pytest.approx(halfway, rel=1e-5)
    assert history["finetune"][1]["learning_rate"] == pytest.approx(0.0, abs=1e-9)


def test_training_that_cannot_fit_is_refused_before_stage_1(prepared, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(prepared, run_dir)
    at_1, = estimate_at(run_dir, [1])
    result = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS,
                        "--train.finetune.memory_limit_gb", f"{at_1 * 0.9:.6f}")
    assert result.returncode == 1, result.stderr
    assert "stage 2 would not fit in memory: one image per step needs about" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model.keras").exists()
