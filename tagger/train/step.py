"""train.py: stage 1 (head on cached frozen features), then optional stage 2 (last layers) and stage 3 (all).

Every stage trains epoch by epoch with a checkpoint after each, keeps the weights of its best
validation mAP, stops early when mAP stops improving, and resumes after a kill where it stopped.
"""

import sys
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.images import image_dataset
from tagger.pieces import Pieces
from tagger.runfolder import TRAIN, VALIDATION, cached_features, feature_cache_key
from tagger.settings import Settings
from tagger.train.augment import epoch_order, training_images
from tagger.train.baseline import logistic_regression_baseline
from tagger.train.checkpoints import StageCheckpoint, StageState
from tagger.train.hardware import configure_hardware
from tagger.train.metrics import mean_average_precision


def train(settings: Settings) -> dict:
    import keras

    from tagger.model.hub import transformer_blocks
    from tagger.model.network import (
        backbone_of,
        build_tagger,
        fold_feature_scale,
        head_model,
    )
    from tagger.train.evaluation import evaluate_and_report

    run_dir, options = settings.paths.run_dir, settings.train
    manifest = runfolder.read_manifest(run_dir)
    vocabulary = runfolder.read_vocabulary(run_dir)
    train_rows, validation_rows = manifest.indices(TRAIN), manifest.indices(VALIDATION)
    if not train_rows:
        raise TaggerError(f"{run_dir / runfolder.MANIFEST} has no training images: run prepare.py on more images")
    if not validation_rows:  # a one-image set: evaluate on what there is rather than refuse
        validation_rows = train_rows
    labels = manifest.label_matrix(vocabulary)
    hardware = configure_hardware(options)
    print(hardware.describe())

    with hardware.strategy.scope():
        keras.utils.set_random_seed(options.seed)
        tagger = build_tagger(settings.model, len(vocabulary))
    features = stage1_features(tagger, manifest, settings, hardware.precision)
    feature_scale = unit_length_scale(features[train_rows])
    with hardware.strategy.scope():
        head = head_model(tagger, feature_scale)
    start_at_tag_frequencies(tagger, labels[train_rows])
    paths = np.array(manifest.paths)
    size = settings.model.image_size
    fingerprint = {"vocabulary": vocabulary, "images": feature_cache_key(settings.model, manifest)["images"],
                   "model": settings.model.model_dump(mode="json"), "train": options.model_dump(mode="json")}
    history = {}

    def head_validation_map():
        return mean_average_precision(labels[validation_rows], head.predict(features[validation_rows], verbose=0))

    def tagger_validation_map():
        scores = tagger.predict(image_dataset(list(paths[validation_rows]), size, options.batch_size), verbose=0)
        return mean_average_precision(labels[validation_rows], scores)

    head_batch = global_batch_size(head_batch_size(options.head_batch_size, len(train_rows)), hardware.replicas,
                                   len(train_rows))
    image_batch = global_batch_size(options.batch_size, hardware.replicas, len(train_rows))
    head_epoch = cached_feature_epochs(features, labels, train_rows, head_batch, options.seed)

    def image_epoch(epoch):
        return training_images(list(paths[train_rows]), labels[train_rows], size, image_batch, options.seed, epoch,
                               options)

    print(f"stage 1: head on cached features, up to {options.head_epochs} epochs")
    head_steps = -(-len(train_rows) // head_batch)
    # SGD's loss is summed over tags (a mean would shrink every step as the vocabulary grows).
    head_learning_rate = options.head_learning_rate * (len(vocabulary) if options.head_optimizer == "sgd" else 1)
    history["head"] = run_stage(StageCheckpoint(run_dir, "head", fingerprint), head, hardware,
                                head_learning_rate, head_steps, options.head_epochs, options,
                                head_epoch, head_validation_map, stage_number=1, optimizer_name=options.head_optimizer)
    fold_feature_scale(tagger, feature_scale)
    head = head_model(tagger)
    stage1 = {"head_mAP": max(entry["validation_mAP"] for entry in history["head"]),
              "logistic_regression": logistic_regression_baseline(features, labels, train_rows, validation_rows,
                                                                  options.baseline)}

    finetuned = options.unfreeze_layers > 0 or options.full_finetune_epochs > 0
    pretrained = settings.model.weights.lower() != "none"
    if finetuned and not pretrained:
        # A head fitted to random filters' features (and scaled to their size, often 1e-12) carries nothing
        # into training those filters: the tag layer starts stage 2 afresh.
        start_at_tag_frequencies(tagger, labels[train_rows], zero_kernel=True)
    image_steps = -(-len(train_rows) // image_batch)
    whole_backbone = 10**9 if options.full_finetune_epochs else 0
    for stage_number, name, layer_count, epochs, learning_rate in [
        (2, "finetune", options.unfreeze_layers, options.finetune_epochs, options.finetune_learning_rate),
        (3, "full", whole_backbone, options.full_finetune_epochs, options.full_finetune_learning_rate),
    ]:
        if layer_count == 0:
            continue
        with hardware.strategy.scope():
            unfrozen = unfreeze_last_layers(backbone_of(tagger), layer_count, keep_batchnorm_frozen=pretrained)
        unit = "transformer blocks" if transformer_blocks(backbone_of(tagger)) is not None else "layers"
        print(f"stage {stage_number}: fine-tuning the last {unfrozen} backbone {unit}, up to {epochs} epochs")
        history[name] = run_stage(StageCheckpoint(run_dir, name, fingerprint), tagger, hardware, learning_rate,
                                  image_steps, epochs, options, image_epoch, tagger_validation_map,
                                  stage_number=stage_number, scaled_variables=backbone_of(tagger).trainable_variables)

    if finetuned:
        validation_scores = tagger.predict(
            image_dataset(list(paths[validation_rows]), size, options.batch_size), verbose=0)
    else:
        validation_scores = head.predict(features[validation_rows], verbose=0)
    metrics, thresholds = evaluate_and_report(run_dir, vocabulary, labels[train_rows], labels[validation_rows],
                                              validation_scores, history, options, stage1)
    save_outputs(run_dir, settings, tagger, thresholds, metrics, finetuned, hardware)
    overall = metrics["at_tag_thresholds"]
    print(f"validation: mAP {metrics['mAP']:.4f}, micro F1 {overall['OF1']:.4f}, macro F1 {overall['CF1']:.4f} "
          f"({metrics['validation_images']} images, {metrics['tags_in_validation']} tags present)")
    print(f"wrote {run_dir / runfolder.MODEL}, {runfolder.THRESHOLDS}, {runfolder.METRICS}, {runfolder.REPORT}")
    return metrics


def run_stage(checkpoint: StageCheckpoint, model, hardware, peak_learning_rate: float, steps_per_epoch: int,
              epochs: int, options, epoch_data, validation_map, stage_number: int, scaled_variables=(),
              optimizer_name: str = "adam") -> list:
    """Trains one stage epoch by epoch; returns its history. The best-mAP weights are left in the model."""
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
            optimizer = ScaledAdam(scale=options.backbone_learning_rate_scale, learning_rate=schedule,
                                   weight_decay=options.weight_decay or None)
            optimizer.scale_variables(scaled_variables)
        model.compile(optimizer=optimizer, loss=make_loss(options.loss, options.label_smoothing),
                      jit_compile=hardware.jit_compile)
    state = checkpoint.load()
    if state is not None and state.epochs_done > 0:
        checkpoint.restore(model, optimizer)
        print(f"  resuming after epoch {state.epochs_done} (best validation mAP {state.best_map:.4f})")
    state = state or StageState()
    while not state.finished and state.epochs_done < epochs:
        epoch = state.epochs_done
        # Dropout and any other randomness of this epoch depend only on (seed, stage, epoch).
        epoch_seed = options.seed * 10_007 + stage_number * 1_009 + epoch
        keras.utils.set_random_seed(epoch_seed)
        reseed_layers(model, epoch_seed)
        result = model.fit(epoch_data(epoch), epochs=1, shuffle=False, verbose=progress_verbosity())
        score = validation_map()
        improved = score > state.best_map
        state.epochs_done += 1
        state.history.append({"epoch": epoch + 1, "loss": float(result.history["loss"][-1]), "validation_mAP": score})
        state.best_map, state.best_epoch = (score, epoch + 1) if improved else (state.best_map, state.best_epoch)
        state.stale_epochs = 0 if improved else state.stale_epochs + 1
        print(f"  epoch {epoch + 1}/{epochs}: loss {state.history[-1]['loss']:.4f}, validation mAP {score:.4f}"
              + (" (best)" if improved else ""))
        if state.stale_epochs >= options.patience:
            print(f"  no better validation mAP for {options.patience} epochs: stopping this stage")
            state.finished = True
        checkpoint.save(model, optimizer, state, improved)
    state.finished = True
    checkpoint.save(model, optimizer, state, improved=False)
    checkpoint.restore_best(model)
    print(f"  kept epoch {state.best_epoch}: validation mAP {state.best_map:.4f}")
    return state.history


def unit_length_scale(features: np.ndarray) -> float:
    """1 / root-mean-square length of the feature rows: stage 1 sees features of about unit length, so one
    learning rate suits every backbone (their features' scales differ by orders of magnitude)."""
    mean_square = float(np.mean(np.einsum("ij,ij->i", features, features, dtype=np.float64))) if len(features) else 0.0
    return 1.0 / np.sqrt(mean_square) if mean_square > 0 and np.isfinite(mean_square) else 1.0


def start_at_tag_frequencies(tagger, labels: np.ndarray, zero_kernel: bool = False) -> None:
    """Each tag's bias starts at the log-odds of its training frequency: the first steps then learn what sets
    a tag's images apart instead of how rare the tag is. zero_kernel: the weights restart at zero too."""
    from tagger.model.network import TAGS_LAYER

    if zero_kernel:
        kernel = tagger.get_layer(TAGS_LAYER).kernel
        kernel.assign(np.zeros(kernel.shape, np.float32))
    frequency = np.clip(labels.mean(axis=0), 1e-4, 1 - 1e-4)
    tagger.get_layer(TAGS_LAYER).bias.assign(np.log(frequency / (1 - frequency)).astype(np.float32))


def head_batch_size(setting: int, rows: int) -> int:
    """The setting, or for 0 a size giving about 64 steps an epoch: small sets still get enough updates,
    large ones big enough matrix products to run near the machine's arithmetic rate."""
    return setting or int(np.clip(rows // 64, 32, 1024))


def global_batch_size(per_replica: int, replicas: int, rows: int) -> int:
    """Rows per step over all replicas: per_replica x replicas, lowered for a small set so that every batch
    splits over the replicas without leaving one empty, and the first batch splits evenly.

    Keras's fit averages the first batch across replicas, element by element, to learn its shapes, and fails
    on an uneven split; a replica given no rows fails in BatchNormalization.
    """
    if replicas == 1:
        return per_replica
    for batch in range(min(per_replica * replicas, rows - rows % replicas), 0, -replicas):
        if rows % batch == 0 or rows % batch >= replicas:
            return batch
    raise TaggerError(f"{rows} training image(s) cannot be shared by {replicas} replicas: "
                      "add images or use --train.distribute off")


def cached_feature_epochs(features: np.ndarray, labels: np.ndarray, rows, batch_size: int, seed: int):
    """A function epoch -> shuffled batches of cached features; the arrays go to TensorFlow once, then each
    batch is a gather, so an epoch over 150,000 rows copies nothing it does not train on."""
    import tensorflow as tf

    feature_tensor, label_tensor = tf.constant(features), tf.constant(labels)
    rows = np.asarray(rows)

    def epoch_data(epoch):
        order = rows[epoch_order(len(rows), seed, epoch)]
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.map(lambda index: (tf.gather(feature_tensor, index), tf.gather(label_tensor, index)),
                           num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    return epoch_data


def reseed_layers(model, seed: int) -> None:
    """Resets the random state of dropout-like layers, which set_random_seed does not reach once built.

    Without this a resumed run would draw different dropout masks than the uninterrupted one.
    """
    for variable in model.non_trainable_variables:
        if variable.path.endswith("seed_generator_state"):
            variable.assign(np.array([seed, 0], dtype=variable.dtype))


def progress_verbosity() -> int:
    """Keras progress bars on a terminal; one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


def stage1_features(tagger, manifest: runfolder.Manifest, settings: Settings, precision: str) -> np.ndarray:
    """Pooled frozen-backbone features of every manifest image, computed once and cached on disk."""
    from tagger.model.inference import batch_function
    from tagger.model.network import embedding_model

    run_dir = settings.paths.run_dir
    key = {**feature_cache_key(settings.model, manifest), "precision": precision, "engine": settings.embed.engine}
    features = cached_features(run_dir, key)
    if features is None:
        print(f"computing backbone features of {len(manifest.paths)} images once (cached for stage 1 and embed.py)")
        (run_dir / runfolder.FEATURE_CACHE_KEY).unlink(missing_ok=True)
        # In pieces, so a run killed while caching (hours, on a large set) resumes instead of starting over.
        pieces = Pieces(run_dir / runfolder.FEATURE_PIECES, key, len(manifest.paths), settings.embed.chunk_size)
        # At the training precision (the model is built under it), by embed.py's engine.
        predict = batch_function(embedding_model(tagger), settings.embed.engine, "float32", settings.model.image_size)
        pieces.compute(predict, manifest.paths, settings.model.image_size, settings.embed.batch_size,
                       range(pieces.total))
        pieces.join(run_dir / runfolder.FEATURE_CACHE)
        runfolder.write_json(run_dir / runfolder.FEATURE_CACHE_KEY, key)
        features = cached_features(run_dir, key)
    else:
        print(f"using cached backbone features from {run_dir / runfolder.FEATURE_CACHE}")
    return np.asarray(features)


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


def save_outputs(run_dir: Path, settings, tagger, thresholds, metrics, finetuned, hardware):
    from tagger.model.network import TAGS_LAYER

    with runfolder.atomic_path(run_dir / runfolder.MODEL, ".keras") as temporary:
        tagger.save(temporary)
    # The tag layer alone, as numpy: cluster_tags.py compares tags as the model sees them without TensorFlow.
    runfolder.write_head(run_dir, *tagger.get_layer(TAGS_LAYER).get_weights())
    runfolder.write_json(run_dir / runfolder.THRESHOLDS, thresholds)
    runfolder.write_json(run_dir / runfolder.METRICS, metrics)
    runfolder.write_json(run_dir / runfolder.TRAINING_RECORD, {
        "backbone_finetuned": finetuned,
        "precision": hardware.precision,
        "replicas": hardware.replicas,
        "gpus": hardware.gpus,
        "feature_cache_key": runfolder.read_json(run_dir / runfolder.FEATURE_CACHE_KEY, "train.py"),
        "vocabulary_size": len(thresholds["tags"]),
    })
    runfolder.write_settings(run_dir, "train", settings)
