"""--train.finetune.learning_rate auto: a short learning-rate range test before stage 2 picks its peak rate.

The test (Smith, "Cyclical Learning Rates", 2017; fastai's lr_find) trains from the model stage 2 will start from,
raising the learning rate geometrically every update from LOWEST to HIGHEST, and records the training loss,
smoothed. The loss falls once the rate is large enough to move the unfrozen layers and climbs once the rate is too
large; the rate where the smoothed loss was lowest is the edge of what training tolerates, and a tenth of it is the
peak that stays clear of the edge through the warm-up's noisy start. The model's weights are put back afterwards:
the test chooses a number, it trains nothing.

How far the rate can go depends on the data, the backbone, how deep it is unfrozen and the batch: the right value
for 6,000 photos (1e-3, issue 17) loses on a few hundred. The result is kept beside the stage's checkpoints, so a
resumed run uses the rate the first run chose, and recorded in training.json.
"""

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tagger import runfolder

log = logging.getLogger(__name__)

LOWEST, HIGHEST = 1e-7, 1.0  # the swept range: well below any useful Adam rate to well past divergence
UPDATES = 43  # six updates a decade, both ends included
SMOOTHING = 0.7  # exponential moving average of the per-update loss (bias-corrected), against batch noise
DIVERGED = 4.0  # the sweep stops once the smoothed loss is this many times its lowest
FRACTION = 0.1  # of the rate at the lowest smoothed loss
CHOSEN_RANGE = (1e-6, 1e-2)  # the chosen rate is kept within it (a flat or erratic curve can point anywhere)
RANGE_EPOCH = 1_000_000  # the test's images come in the order of an epoch that training never reaches


@dataclass
class RangeTest:
    learning_rates: list[float]  # one per update made
    losses: list[float]  # the smoothed training loss after each update's batch
    lowest_at: float  # the learning rate where the smoothed loss was lowest
    chosen: float
    images_per_update: int
    seconds: float

    def record(self) -> dict:
        return {"rule": f"{FRACTION:g} x the learning rate of the lowest smoothed loss, within "
                        f"{CHOSEN_RANGE[0]:g}-{CHOSEN_RANGE[1]:g}", **asdict(self)}


def rates(updates: int = UPDATES) -> np.ndarray:
    """The learning rate of each update: geometric from LOWEST to HIGHEST."""
    return LOWEST * (HIGHEST / LOWEST) ** (np.arange(updates) / (updates - 1))


def choose(learning_rates, losses) -> tuple[float, float]:
    """(the rate of the lowest smoothed loss, the chosen peak rate)."""
    lowest_at = float(learning_rates[int(np.argmin(losses))])
    return lowest_at, float(np.clip(FRACTION * lowest_at, *CHOSEN_RANGE))


def smoothed_losses(raw: list[float]) -> list[float]:
    average, out = 0.0, []
    for count, loss in enumerate(raw, start=1):
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        out.append(average / (1 - SMOOTHING ** count))
    return out


def range_test(model, batches, accumulation: int, images_per_step: int, hardware, options, scaled_variables,
               backbone_scale: float) -> RangeTest:
    """Sweeps the learning rate over UPDATES updates of `batches` (a dataset of at least UPDATES x accumulation
    (pixels, labels) batches), from the model as it is; leaves the model's weights as they were."""
    import keras

    from tagger.train.stages import compile_for_training

    began = time.perf_counter()
    saved = [variable.numpy() for variable in model.variables]
    sweep = rates()
    # One rate per update; Keras evaluates the schedule at every step's count, accumulated steps included.
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [float(update * accumulation) - 0.5 for update in range(1, len(sweep))], [float(rate) for rate in sweep])
    compile_for_training(model, hardware, options, schedule, "adam", scaled_variables, backbone_scale, accumulation)
    raw, step_losses = [], []
    for pixels, labels in batches.take(len(sweep) * accumulation):
        step_losses.append(float(np.asarray(model.train_on_batch(pixels, labels))))
        if len(step_losses) < accumulation:
            continue
        raw.append(float(np.mean(step_losses)))
        step_losses = []
        smooth = smoothed_losses(raw)
        if not math.isfinite(smooth[-1]) or smooth[-1] > DIVERGED * min(smooth):
            break
    for variable, value in zip(model.variables, saved):
        variable.assign(value)
    losses = smoothed_losses(raw)
    finite = [loss if math.isfinite(loss) else math.inf for loss in losses]
    lowest_at, chosen = choose(sweep[:len(finite)], finite)
    return RangeTest([float(rate) for rate in sweep[:len(losses)]], [round(loss, 6) for loss in losses], lowest_at,
                     chosen, images_per_step * accumulation, round(time.perf_counter() - began, 2))


class RangeTestRecord:
    """The test's result beside the stage's checkpoints, valid for the run's settings (the stage's fingerprint)."""

    def __init__(self, run_dir: Path, stage: str, fingerprint: dict):
        self.path = run_dir / runfolder.CHECKPOINTS / f"{stage}.learning_rate.json"
        self.fingerprint = fingerprint

    def load(self) -> RangeTest | None:
        if not self.path.exists():
            return None
        saved = json.loads(self.path.read_text())
        return RangeTest(**saved["test"]) if saved.get("fingerprint") == self.fingerprint else None

    def save(self, test: RangeTest) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        runfolder.write_json(self.path, {"fingerprint": self.fingerprint, "test": asdict(test)})
