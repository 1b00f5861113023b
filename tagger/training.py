"""train.py: stage 1 (head on cached frozen features), optional stage 2 (fine-tune from images)."""

import json
import sys
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.embedding import cached_features, feature_cache_key, write_embeddings
from tagger.errors import TaggerError
from tagger.images import image_dataset
from tagger.metrics import choose_thresholds, evaluate
from tagger.prepare import TRAIN, VALIDATION
from tagger.settings import Settings


def train(settings: Settings) -> dict:
    import keras

    from tagger.model import backbone_of, build_tagger, embedding_model, head_model

    run_dir, options = settings.paths.run_dir, settings.train
    manifest = runfolder.read_manifest(run_dir)
    vocabulary = runfolder.read_vocabulary(run_dir)
    train_rows, validation_rows = manifest.indices(TRAIN), manifest.indices(VALIDATION)
    if not train_rows:
        raise TaggerError(f"{run_dir / runfolder.MANIFEST} has no training images: run prepare.py on more images")
    if not validation_rows:  # a one-image set: evaluate on what there is rather than refuse
        validation_rows = train_rows
    labels = runfolder.label_matrix(manifest, vocabulary)

    keras.utils.set_random_seed(options.seed)
    tagger = build_tagger(settings.model, len(vocabulary))
    features = stage1_features(tagger, manifest, settings)

    print(f"stage 1: head on cached features, {options.head_epochs} epochs")
    head = head_model(tagger)
    head.compile(optimizer=keras.optimizers.Adam(options.head_learning_rate), loss="binary_crossentropy")
    head.fit(features[train_rows], labels[train_rows], batch_size=options.batch_size, epochs=options.head_epochs,
             validation_data=(features[validation_rows], labels[validation_rows]), verbose=progress_verbosity())

    finetuned = options.unfreeze_layers > 0
    size = settings.model.image_size
    if finetuned:
        pretrained = settings.model.weights.lower() != "none"
        unfrozen = unfreeze_last_layers(backbone_of(tagger), options.unfreeze_layers, keep_batchnorm_frozen=pretrained)
        print(f"stage 2: fine-tuning the last {unfrozen} backbone layers, {options.finetune_epochs} epochs")
        tagger.compile(optimizer=keras.optimizers.Adam(options.finetune_learning_rate), loss="binary_crossentropy")
        paths = np.array(manifest.paths)
        tagger.fit(
            image_dataset(list(paths[train_rows]), size, options.batch_size, labels[train_rows], options.seed),
            validation_data=image_dataset(list(paths[validation_rows]), size, options.batch_size,
                                          labels[validation_rows]),
            epochs=options.finetune_epochs, verbose=progress_verbosity(),
        )
        validation_scores = tagger.predict(
            image_dataset(list(paths[validation_rows]), size, options.batch_size), verbose=0)
    else:
        validation_scores = head.predict(features[validation_rows], batch_size=options.batch_size, verbose=0)

    validation_labels = labels[validation_rows]
    thresholds, global_threshold = choose_thresholds(validation_labels, validation_scores)
    metrics = evaluate(validation_labels, validation_scores, thresholds)
    save_outputs(run_dir, settings, tagger, vocabulary, thresholds, global_threshold, metrics, finetuned)
    a, m = metrics["at_tag_thresholds"], metrics["mAP"]
    print(f"validation: mAP {m:.4f}, micro F1 {a['micro_f1']:.4f}, macro F1 {a['macro_f1']:.4f} "
          f"({metrics['validation_images']} images, {metrics['tags_in_validation']} tags present)")
    print(f"wrote {run_dir / runfolder.MODEL}, {runfolder.THRESHOLDS}, {runfolder.METRICS}")
    return metrics


def progress_verbosity() -> int:
    """Keras progress bars on a terminal; one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


def stage1_features(tagger, manifest: runfolder.Manifest, settings: Settings) -> np.ndarray:
    """Pooled frozen-backbone features of every manifest image, computed once and cached on disk."""
    from tagger.model import embedding_model

    run_dir = settings.paths.run_dir
    key = feature_cache_key(settings.model, manifest)
    features = cached_features(run_dir, key)
    if features is None:
        print(f"computing backbone features of {len(manifest.paths)} images once (cached for stage 1 and embed.py)")
        (run_dir / runfolder.FEATURE_CACHE_KEY).unlink(missing_ok=True)
        write_embeddings(embedding_model(tagger), manifest.paths, settings.model.image_size,
                         settings.embed.batch_size, run_dir / runfolder.FEATURE_CACHE)
        runfolder.write_json(run_dir / runfolder.FEATURE_CACHE_KEY, key)
        features = cached_features(run_dir, key)
    else:
        print(f"using cached backbone features from {run_dir / runfolder.FEATURE_CACHE}")
    return np.asarray(features)


def unfreeze_last_layers(backbone, count: int, keep_batchnorm_frozen: bool) -> int:
    """Makes the last `count` layers trainable; BatchNorm stays frozen over pretrained statistics."""
    import keras

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


def save_outputs(run_dir: Path, settings, tagger, vocabulary, thresholds, global_threshold, metrics, finetuned):
    with runfolder.atomic_path(run_dir / runfolder.MODEL, ".keras") as temporary:
        tagger.save(temporary)
    runfolder.write_json(run_dir / runfolder.THRESHOLDS, {
        "default": global_threshold,
        "tags": {tag: float(value) for tag, value in zip(vocabulary, thresholds)},
    })
    runfolder.write_json(run_dir / runfolder.METRICS, metrics)
    runfolder.write_json(run_dir / runfolder.TRAINING_RECORD, {
        "backbone_finetuned": finetuned,
        "feature_cache_key": json.loads((run_dir / runfolder.FEATURE_CACHE_KEY).read_text()),
        "vocabulary_size": len(vocabulary),
    })
    runfolder.write_settings(run_dir, "train", settings)
