"""One training stage: epochs with a checkpoint after each, best-mAP weights kept, early stopping, exact resume.

The loop calls fit one epoch at a time rather than one fit per stage with Keras callbacks: the exact resume
(tests/test_resume.py: weights within 1e-6 of an uninterrupted run) reseeds dropout from (seed, stage, epoch)
before each epoch and restores the optimizer between epochs, which callbacks cannot do before an epoch's first
step. TensorBoard's scalars are written from here instead (tagger.train.tensorboard).
"""

import logging

import numpy as np

from tagger.interrupt import stop_if_interrupted
from tagger.progress import keras_verbosity
from tagger.train.checkpoints import StageCheckpoint, StageState
from tagger.train.tensorboard import EpochLog, current_learning_rate

log = logging.getLogger(__name__)


def run_stage(checkpoint: StageCheckpoint, model, hardware, peak_learning_rate: float, steps_per_epoch: int,
              epochs: int, options, epoch_data, validation_map, stage_number: int, scaled_variables=(),
              optimizer_name: str = "adam", backbone_scale: float = 1.0, start_map: float | None = None) -> list:
    """Trains one stage epoch by epoch; returns its history. The best-mAP weights are left in the model.

    options: the train section (schedule, loss, patience, seed); backbone_scale: the learning-rate factor of
    scaled_variables (the backbone's) under Adam. start_map: the validation mAP of the weights the model starts
    with, which then count as epoch 0: kept when no epoch beats them (checkpointed, so a resume keeps them too).
    """
    import keras

    from tagger.train.losses import make_loss
    from tagger.train.optim import ScaledAdam, warmup_cosine

    with hardware.strategy.scope():
        schedule = warmup_cosine(peak_learning_rate, steps_per_epoch * epochs,
                                 int(round(options.warmup_epochs * steps_per_epoch)))
        if optimizer_name == "sgd":
            optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9,
                                             weight_decay=options.weight_decay or None)
        else:
            optimizer = ScaledAdam(scale=backbone_scale, learning_rate=schedule,
                                   weight_decay=options.weight_decay or None)
            optimizer.scale_variables(scaled_variables)
        model.compile(optimizer=optimizer, loss=make_loss(options.loss, options.label_smoothing),
                      jit_compile=hardware.jit_compile)
    state = checkpoint.load()
    if state is not None and state.epochs_done > 0:
        checkpoint.restore(model, optimizer)
        log.info(f"  resuming after epoch {state.epochs_done} (best validation mAP {state.best_map:.4f})")
    elif state is not None and state.best_epoch == 0:
        checkpoint.restore_start(model)  # killed in epoch 1: the start as saved, whatever made it
        log.info(f"  resuming from the saved start (validation mAP {state.best_map:.4f})")
    elif start_map is not None:
        state = StageState(best_map=start_map, best_epoch=0)
        with hardware.strategy.scope():
            optimizer.build(model.trainable_variables)  # saved whole, as after an epoch
        checkpoint.save(model, optimizer, state, improved=True)
    state = state or StageState()
    board = EpochLog(checkpoint.folder.parent, checkpoint.stage)
    while not state.finished and state.epochs_done < epochs:
        epoch = state.epochs_done
        # Dropout and any other randomness of this epoch depend only on (seed, stage, epoch).
        epoch_seed = options.seed * 10_007 + stage_number * 1_009 + epoch
        keras.utils.set_random_seed(epoch_seed)
        reseed_layers(model, epoch_seed)
        stop_if_interrupted()
        result = model.fit(epoch_data(epoch), epochs=1, shuffle=False, verbose=keras_verbosity(),
                           callbacks=[StopOnInterrupt()])
        stop_if_interrupted()
        score = validation_map()
        stop_if_interrupted()
        improved = score > state.best_map
        state.epochs_done += 1
        state.history.append({"epoch": epoch + 1, "loss": float(result.history["loss"][-1]), "validation_mAP": score})
        state.best_map, state.best_epoch = (score, epoch + 1) if improved else (state.best_map, state.best_epoch)
        state.stale_epochs = 0 if improved else state.stale_epochs + 1
        board.write(epoch + 1, state.history[-1]["loss"], score, current_learning_rate(optimizer))
        log.info(f"  epoch {epoch + 1}/{epochs}: loss {state.history[-1]['loss']:.4f}, validation mAP {score:.4f}"
              + (" (best)" if improved else ""))
        if state.stale_epochs >= options.patience:
            log.info(f"  no better validation mAP for {options.patience} epochs: stopping this stage")
            state.finished = True
        checkpoint.save(model, optimizer, state, improved)
    board.close()
    state.finished = True
    checkpoint.save(model, optimizer, state, improved=False)
    checkpoint.restore_best(model)
    kept = "the starting weights (no epoch beat them)" if state.best_epoch == 0 else f"epoch {state.best_epoch}"
    log.info(f"  kept {kept}: validation mAP {state.best_map:.4f}")
    return state.history


def StopOnInterrupt():
    """A Keras callback that ends training at the next batch once Ctrl-C was pressed (see tagger.interrupt)."""
    import keras

    class StopOnInterruptCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stop_if_interrupted()

    return StopOnInterruptCallback()


def reseed_layers(model, seed: int) -> None:
    """Resets the random state of dropout-like layers, which set_random_seed does not reach once built.

    Without this a resumed run would draw different dropout masks than the uninterrupted one.
    """
    for variable in model.non_trainable_variables:
        if variable.path.endswith("seed_generator_state"):
            variable.assign(np.array([seed, 0], dtype=variable.dtype))


def start_at_tag_frequencies(tagger, labels: np.ndarray, zero_kernel: bool = False) -> None:
    """Each tag's bias starts at the log-odds of its training frequency: the first steps then learn what sets
    a tag's images apart instead of how rare the tag is. zero_kernel: the weights restart at zero too (the
    cosine tag layer's at random: a zero column has no direction)."""
    import keras

    from tagger.model.layers import CosineTags
    from tagger.model.network import TAGS_LAYER

    if zero_kernel:
        layer = tagger.get_layer(TAGS_LAYER)
        restart = keras.initializers.GlorotUniform() if isinstance(layer, CosineTags) else keras.initializers.Zeros()
        layer.kernel.assign(restart(layer.kernel.shape, "float32"))
    frequency = np.clip(labels.mean(axis=0), 1e-4, 1 - 1e-4)
    tagger.get_layer(TAGS_LAYER).bias.assign(np.log(frequency / (1 - frequency)).astype(np.float32))


def unfreeze_last_layers(backbone, count: int, keep_batchnorm_frozen: bool) -> int:
    """Makes the last `count` layers trainable; BatchNorm stays frozen over pretrained statistics.

    For a keras-hub transformer (DINOv2, SigLIP, CLIP) `count` counts transformer blocks: one layer of
    its top-level list holds a whole encoder, so counting layers would mean nothing there.
    """
    import keras

    from tagger.model.hub import transformer_blocks, unfreeze_last_blocks

    if transformer_blocks(backbone) is not None:
        return unfreeze_last_blocks(backbone, count)

    backbone.trainable = True
    layers = [layer for layer in backbone.layers if layer.weights]
    chosen = layers[-count:]
    for layer in backbone.layers:
        layer.trainable = False
    for layer in chosen:
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not (keep_batchnorm_frozen and is_batchnorm)
        if is_batchnorm and layer.trainable:
            # Without pretrained statistics the moving averages must catch up within a short run;
            # the applications' 0.999 would take thousands of steps.
            layer.momentum = 0.9
    return len(chosen)


def global_batch_size(per_replica: int, replicas: int, rows: int) -> int:
    """Rows per step over all replicas: per_replica x replicas, lowered for a small set so that every batch
    splits over the replicas without leaving one empty, and the first batch splits evenly.

    Keras's fit averages the first batch across replicas, element by element, to learn its shapes, and fails
    on an uneven split; a replica given no rows fails in BatchNormalization.
    """
    from tagger.errors import TaggerError

    if replicas == 1:
        return per_replica
    for batch in range(min(per_replica * replicas, rows - rows % replicas), 0, -replicas):
        if rows % batch == 0 or rows % batch >= replicas:
            return batch
    raise TaggerError(f"{rows} training image(s) cannot be shared by {replicas} replicas: "
                      "add images or use --train.hardware.distribute off")
