"""--train.finetune.learning_rate auto: a learning-rate range test before stage 2 picks the stage's peak rate, leaves
the model as it found it, is recorded in training.json and is not run again when the run resumes."""

import json
import shutil

import numpy as np
import pytest
from conftest import run_script

from tagger.train.learning_rate_range import CHOSEN_RANGE, FRACTION, UPDATES, choose, rates, smoothed_losses

TRAIN_FLAGS = ["--model.backbone", "mobilenetv2", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "1", "--train.finetune.unfreeze_layers", "4", "--train.finetune.epochs", "2",
               "--train.finetune.batch_size", "16", "--train.finetune.learning_rate", "auto"]


def test_the_rate_is_a_tenth_of_where_the_smoothed_loss_was_lowest():
    sweep = rates()
    assert len(sweep) == UPDATES and sweep[0] == pytest.approx(1e-7) and sweep[-1] == pytest.approx(1.0)
    assert np.allclose(sweep[6::6] / sweep[:-6:6], 10.0)  # six updates a decade
    assert smoothed_losses([0.5] * 5) == pytest.approx([0.5] * 5)  # bias-corrected: no ramp from zero
    falling_then_diverging = [1.0] * 20 + [0.8, 0.6, 0.4, 0.3, 0.5, 2.0, 9.0]
    smooth = smoothed_losses(falling_then_diverging)
    lowest = int(np.argmin(smooth))
    assert lowest == 24  # the smoothing lags the raw curve's lowest point (update 23) by one
    assert choose(sweep[:len(smooth)], smooth) == (pytest.approx(sweep[lowest]), pytest.approx(FRACTION * sweep[lowest]))
    # A curve that only climbs would point below any useful rate; one lowest at the end, past any sane one.
    assert choose(sweep[:3], [1.0, 2.0, 4.0])[1] == CHOSEN_RANGE[0]
    assert choose(sweep, list(np.linspace(1.0, 0.1, UPDATES)))[1] == CHOSEN_RANGE[1]


def range_test_on_noise(seed: int, images: int, batch: int, accumulation: int, unfrozen_layers: int = 0):
    """(the tagger, its weights before, the test): a range test of a small untrained tagger on noise images."""
    import tensorflow as tf

    from tagger.model.network import backbone_of, build_tagger
    from tagger.settings import ModelSettings, TrainSettings
    from tagger.train.hardware import configure_hardware
    from tagger.train.learning_rate_range import range_test
    from tagger.train.stages import unfreeze_last_layers

    tagger = build_tagger(ModelSettings(backbone="mobilenetv2", weights="none", image_size=32), 5)
    if unfrozen_layers:
        unfreeze_last_layers(backbone_of(tagger), unfrozen_layers, keep_batchnorm_frozen=False)
    before = [variable.numpy() for variable in tagger.variables]
    generator = np.random.default_rng(seed)
    pixels = generator.uniform(0, 255, (images, 32, 32, 3)).astype(np.float32)
    labels = (generator.uniform(size=(images, 5)) < 0.3).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(batch).repeat()
    options = TrainSettings()
    test = range_test(tagger, batches, accumulation, batch, configure_hardware(options.hardware), options,
                      backbone_of(tagger).trainable_variables, 1.0)
    return tagger, before, test


def test_the_range_test_leaves_every_weight_as_it_was():
    tagger, before, test = range_test_on_noise(seed=0, images=32, batch=8, accumulation=1, unfrozen_layers=4)
    assert all(np.array_equal(value, variable.numpy()) for value, variable in zip(before, tagger.variables))
    assert 2 <= len(test.losses) <= UPDATES and test.learning_rates == pytest.approx(list(rates()[:len(test.losses)]))
    assert test.chosen == pytest.approx(float(np.clip(FRACTION * test.lowest_at, *CHOSEN_RANGE)))
    assert test.images_per_update == 8


def test_train_py_runs_stage_2_at_the_chosen_rate_and_a_resume_reads_it(tiny_prepared, tmp_path):
    from tagger.train.data import TrainingData
    from tagger.train.optim import warmup_cosine

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_prepared, run_dir)
    result = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS)
    assert result.returncode == 0, result.stderr
    tests = json.loads((run_dir / "training.json").read_text())["learning_rate_range_tests"]
    assert [test["stage"] for test in tests] == [2] and tests[0]["images_per_update"] == 16
    chosen = tests[0]["chosen"]
    assert f"learning rate {chosen:.2g}, from a range test of {len(tests[0]['losses'])} updates of 16 images" in (
        result.stdout + result.stderr)
    # Stage 2's schedule peaks at the chosen rate: halfway through its two epochs, the rate is where it puts it.
    steps = -(-len(TrainingData.read(run_dir).train_rows) // 16)
    history = json.loads((run_dir / "metrics.json").read_text())["history"]["finetune"]
    assert history[0]["learning_rate"] == pytest.approx(float(warmup_cosine(chosen, 2 * steps, round(0.5 * steps))(steps)),
                                                        rel=1e-5)
    # Run again: the stages are done and the test is read back, not made anew (its own seconds included).
    again = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS)
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "training.json").read_text())["learning_rate_range_tests"] == tests


def test_with_accumulated_steps_each_update_runs_at_its_recorded_rate():
    tagger, _, test = range_test_on_noise(seed=1, images=16, batch=4, accumulation=2)
    optimizer = tagger.optimizer
    # Keras counts every step, accumulated ones included, and reads the schedule at that count (its `iterations`
    # counts updates): update u is applied at step 2u - 1, and must run at the rate recorded for it.
    updates = len(test.losses)
    assert int(optimizer.iterations) == updates and test.images_per_update == 8
    schedule = optimizer._learning_rate  # the schedule the optimizer evaluates (no public handle in Keras 3)
    applied = [float(schedule(2 * update - 1)) for update in range(1, updates + 1)]
    assert applied == pytest.approx(test.learning_rates, rel=1e-6)
