"""One training stage: one Keras fit with a checkpoint after each epoch, best-mAP weights kept, early stopping,
exact resume.

The fit runs from the first epoch not yet done (initial_epoch) over a dataset that maps the stage's range of
epochs to each epoch's own batches (stage_data); with steps_per_epoch Keras keeps one iterator across epochs, so
every epoch trains on exactly the batches epoch_data(epoch) gives, straight through or resumed. Its callbacks
(tagger.train.callbacks) reseed dropout from (seed, stage, epoch) before each epoch's first step, score
validation mAP, record the epoch, write TensorBoard, stop on patience and checkpoint; with the optimizer
restored before the fit, a resumed run ends with the weights of an uninterrupted one (tests/test_resume.py).
"""

import logging

import numpy as np

from tagger.progress import keras_verbosity
from tagger.train.checkpoints import StageCheckpoint, StageState
from tagger.train.tensorboard import EpochLog

log = logging.getLogger(__name__)


def compile_for_training(model, hardware, options, learning_rate, optimizer_name: str = "adam", scaled_variables=(),
                         backbone_scale: float = 1.0, accumulation: int = 1):
    """Compiles the model with a stage's optimizer at this learning rate (a number or a schedule) and its loss;
    returns the optimizer. Adam scales scaled_variables' rate by backbone_scale; accumulation: steps whose averaged
    gradients make one update."""
    import keras

    from tagger.train.losses import make_loss
    from tagger.train.optim import ScaledAdam

    with hardware.strategy.scope():
        accumulated = {"gradient_accumulation_steps": accumulation} if accumulation > 1 else {}
        if optimizer_name == "sgd":
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9,
                                             weight_decay=options.weight_decay or None, **accumulated)
        else:
            optimizer = ScaledAdam(scale=backbone_scale, learning_rate=learning_rate,
                                   weight_decay=options.weight_decay or None, **accumulated)
            optimizer.scale_variables(scaled_variables)
        model.compile(optimizer=optimizer, loss=make_loss(options.loss, options.label_smoothing),
                      jit_compile=hardware.jit_compile)
    return optimizer


def run_stage(checkpoint: StageCheckpoint, model, hardware, peak_learning_rate: float, steps_per_epoch: int,
              epochs: int, options, epoch_data, validation_map, stage_number: int, scaled_variables=(),
              optimizer_name: str = "adam", backbone_scale: float = 1.0, start_map: float | None = None,
              accumulation: int = 1) -> list:
    """Trains one stage; returns its history. The best-mAP weights are left in the model.

    epoch_data: epoch (a scalar tensor) -> that epoch's steps_per_epoch batches, unprefetched. options: the train
    section (schedule, loss, patience, seed); backbone_scale: the learning-rate factor of scaled_variables (the
    backbone's) under Adam. start_map: the validation mAP of the weights the model starts with, which then count
    as epoch 0: kept when no epoch beats them (checkpointed, so a resume keeps them too). accumulation: steps
    (of steps_per_epoch) whose averaged gradients make one update, where a whole batch would not fit in memory.
    """
    import keras

    from tagger.train import callbacks
    from tagger.train.optim import warmup_cosine

    # Counted in steps, accumulated ones included: Keras (3.15) evaluates the schedule at every step's count,
    # not at the count of updates its documentation names (tests/test_finetune_memory.py holds it to that).
    schedule = warmup_cosine(peak_learning_rate, steps_per_epoch * epochs,
                             int(round(options.warmup_epochs * steps_per_epoch)))
    optimizer = compile_for_training(model, hardware, options, schedule, optimizer_name, scaled_variables,
                                     backbone_scale, accumulation)
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
    if not state.finished and state.epochs_done < epochs:
        verbosity = keras_verbosity()
        batches = stage_data(epoch_data, state.epochs_done, epochs, steps_per_epoch)
        model.fit(batches, initial_epoch=state.epochs_done, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  shuffle=False, verbose=verbosity, callbacks=[
                      # first, as in an epoch-at-a-time fit: the bar's line comes before the epoch's log line
                      *([keras.callbacks.ProgbarLogger()] if verbosity else []),
                      callbacks.StopOnInterrupt(),
                      callbacks.EpochSeeds(lambda epoch: options.seed * 10_007 + stage_number * 1_009 + epoch),
                      callbacks.ValidationMap(validation_map),
                      callbacks.RecordEpoch(state, epochs),
                      callbacks.EpochScalars(board, optimizer),
                      callbacks.StopWithoutProgress(state, options.patience),
                      callbacks.SaveCheckpoint(checkpoint, optimizer, state),
                  ])
    board.close()
    state.finished = True
    checkpoint.save(model, optimizer, state, improved=False)
    checkpoint.restore_best(model)
    kept = "the starting weights (no epoch beat them)" if state.best_epoch == 0 else f"epoch {state.best_epoch}"
    log.info(f"  kept {kept}: validation mAP {state.best_map:.4f}")
    return state.history


def stage_data(epoch_data, first_epoch: int, epochs: int, steps_per_epoch: int):
    """The batches of epochs first_epoch..epochs-1 one after another, each epoch's built as the stage reaches it."""
    import tensorflow as tf

    def checked_epoch(epoch):
        # An epoch of another length would shift every later epoch's batches: it fails instead.
        return epoch_data(epoch).apply(tf.data.experimental.assert_cardinality(steps_per_epoch))

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(checked_epoch).prefetch(tf.data.AUTOTUNE)


def start_at_tag_frequencies(tagger, labels: np.ndarray, zero_kernel: bool = False) -> None:
    """Each tag's bias starts at the log-odds of its training frequency: the first steps then learn what sets
    a tag's images apart instead of how rare the tag is. zero_kernel: the weights restart at zero too (the
    cosine tag layer's at random: a zero column has no direction)."""
    import keras

    from tagger.model.layers import CosineTags
    from tagger.model.network import TAGS_LAYER
    from tagger.train.baseline import tag_log_odds

    if zero_kernel:
        layer = tagger.get_layer(TAGS_LAYER)
        restart = (keras.initializers.GlorotUniform(seed=0) if isinstance(layer, CosineTags)
                   else keras.initializers.Zeros())
        layer.kernel.assign(restart(layer.kernel.shape, "float32"))
    tagger.get_layer(TAGS_LAYER).bias.assign(tag_log_odds(labels).astype(np.float32))


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
