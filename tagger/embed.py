"""embed.py: penultimate-layer embeddings of every manifest image, in manifest order."""

import shutil

import numpy as np

from tagger import runfolder
from tagger.embedding import cached_features, feature_cache_key, image_ids_array, write_embeddings
from tagger.settings import Settings


def embed(settings: Settings) -> None:
    run_dir = settings.paths.run_dir
    manifest = runfolder.read_manifest(run_dir)
    model_path = runfolder.require(run_dir / runfolder.MODEL, "train.py")
    record = runfolder.read_json(run_dir / runfolder.TRAINING_RECORD, "train.py")
    trained = runfolder.read_json(run_dir / "settings.train.json", "train.py")
    target = run_dir / runfolder.EMBEDDINGS

    # Settings of the model come from the training run, not today's flags: the model fixes them.
    from tagger.settings import ModelSettings

    model_settings = ModelSettings.model_validate(trained["model"])
    cache = None
    same_images = record["feature_cache_key"]["images"] == feature_cache_key(model_settings, manifest)["images"]
    if not record["backbone_finetuned"] and same_images:
        cache = cached_features(run_dir, record["feature_cache_key"])
    if cache is not None:
        print(f"backbone was not fine-tuned: reusing {runfolder.FEATURE_CACHE} ({len(cache)} images)")
        with runfolder.atomic_path(target, ".npy") as temporary:
            shutil.copyfile(run_dir / runfolder.FEATURE_CACHE, temporary)
    else:
        from tagger.model import embedding_model, load_tagger

        print(f"embedding {len(manifest.paths)} images with {model_path}")
        write_embeddings(embedding_model(load_tagger(model_path)), manifest.paths, model_settings.image_size,
                         settings.embed.batch_size, target)
    with runfolder.atomic_path(run_dir / runfolder.IMAGE_IDS, ".npy") as temporary:
        np.save(temporary, image_ids_array(manifest.image_ids), allow_pickle=False)
    # Record the model settings actually used: those of the trained model, not today's defaults.
    runfolder.write_settings(run_dir, "embed", settings.model_copy(update={"model": model_settings}))
    print(f"wrote {target} and {run_dir / runfolder.IMAGE_IDS}")
