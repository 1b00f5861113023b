"""The Keras callbacks of a training stage's one fit (tagger.train.stages), one concern each.

They share the stage's StageState, and run in the order run_stage lists them: at an epoch's end the validation
mAP goes into the logs first, then the state records the epoch, then TensorBoard, patience and the checkpoint.
"""

import logging
import random

import keras
import numpy as np

from tagger.interrupt import stop_if_interrupted
from tagger.train.checkpoints import StageCheckpoint, StageState
from tagger.train.tensorboard import EpochLog, current_learning_rate

log = logging.getLogger(__name__)

VALIDATION_MAP = "validation_mAP"  # the key of the epoch's logs that ValidationMap fills


class EpochSeeds(keras.callbacks.Callback):
    """Before an epoch's first step, dropout and any other randomness restart from the epoch's own seed, so a
    resumed run draws what the uninterrupted one drew.

    keras.utils.set_random_seed runs once, at the stage's start, with a seed of the stage: it calls
    tf.random.set_seed, which clears TensorFlow's kernel caches, and called between epochs of one fit it made
    every later step about 2.5 times slower (benchmarks/epoch_seeds.py: 1022 against 406 ms a step). The
    steps draw nothing from TensorFlow's global seed: dropout draws from its layer's seed state, reset below,
    and augmentation from seeds of its own (tagger.train.augment)."""

    def __init__(self, epoch_seed):
        super().__init__()
        self.epoch_seed = epoch_seed  # epoch -> seed

    def on_train_begin(self, logs=None):
        keras.utils.set_random_seed(self.epoch_seed(0))  # epoch 0's seed: the same when a stage resumes

    def on_epoch_begin(self, epoch, logs=None):
        stop_if_interrupted()
        seed = self.epoch_seed(epoch)
        random.seed(seed)
        np.random.seed(seed)
        reseed_layers(self.model, seed)


def reseed_layers(model, seed: int) -> None:
    """Resets the random state of dropout-like layers, which set_random_seed does not reach once built."""
    for variable in model.non_trainable_variables:
        if variable.path.endswith("seed_generator_state"):
            variable.assign(np.array([seed, 0], dtype=variable.dtype))


class ValidationMap(keras.callbacks.Callback):
    """Scores the epoch's weights on the validation images into the logs, for the callbacks after it."""

    def __init__(self, validation_map):
        super().__init__()
        self.validation_map = validation_map  # () -> mAP

    def on_epoch_end(self, epoch, logs=None):
        stop_if_interrupted()
        logs[VALIDATION_MAP] = self.validation_map()
        stop_if_interrupted()


class RecordEpoch(keras.callbacks.Callback):
    """Adds the epoch to the stage's state (history, best mAP, epochs without a better one) and logs its line."""

    def __init__(self, state: StageState, epochs: int):
        super().__init__()
        self.state, self.epochs = state, epochs

    def on_epoch_end(self, epoch, logs=None):
        state, score = self.state, logs[VALIDATION_MAP]
        improved = score > state.best_map
        state.epochs_done = epoch + 1
        state.history.append({"epoch": epoch + 1, "loss": float(logs["loss"]), "validation_mAP": score,
                              "learning_rate": current_learning_rate(self.model.optimizer)})
        if improved:
            state.best_map, state.best_epoch = score, epoch + 1
        state.stale_epochs = 0 if improved else state.stale_epochs + 1
        log.info(f"  epoch {epoch + 1}/{self.epochs}: loss {logs['loss']:.4f}, validation mAP {score:.4f}"
                 + (" (best)" if improved else ""))


class EpochScalars(keras.callbacks.Callback):
    """Loss, validation mAP and the learning rate at the epoch's end, to the stage's TensorBoard run."""

    def __init__(self, board: EpochLog, optimizer):
        super().__init__()
        self.board, self.optimizer = board, optimizer

    def on_epoch_end(self, epoch, logs=None):
        self.board.write(epoch + 1, float(logs["loss"]), logs[VALIDATION_MAP], current_learning_rate(self.optimizer))


class StopWithoutProgress(keras.callbacks.Callback):
    """Ends the stage after `patience` epochs without a better validation mAP. Counted in the saved state (not
    in the callback, as keras.callbacks.EarlyStopping does), so a resumed run carries the count on."""

    def __init__(self, state: StageState, patience: int):
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch, logs=None):
        if self.state.stale_epochs >= self.patience:
            if epoch + 1 < (self.params or {}).get("epochs", epoch + 2):  # the last epoch ends the stage anyway
                log.info(f"  no better validation mAP for {self.patience} epochs: stopping this stage")
            self.state.finished = True
            self.model.stop_training = True


class SaveCheckpoint(keras.callbacks.Callback):
    """Checkpoints the epoch: weights, the optimizer, the best weights when the epoch improved, the state last."""

    def __init__(self, checkpoint: StageCheckpoint, optimizer, state: StageState):
        super().__init__()
        self.checkpoint, self.optimizer, self.state = checkpoint, optimizer, state

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoint.save(self.model, self.optimizer, self.state, improved=self.state.best_epoch == epoch + 1)


class StopOnInterrupt(keras.callbacks.Callback):
    """Ends training at the next batch once Ctrl-C was pressed (see tagger.interrupt)."""

    def on_train_batch_end(self, batch, logs=None):
        stop_if_interrupted()
