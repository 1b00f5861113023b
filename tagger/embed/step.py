"""embed.py: penultimate-layer embeddings of every manifest image, in manifest order.

The work is done in pieces (tagger.pieces.Pieces): killed, it resumes; sharded, several machines
each embed a contiguous slice into the same run folder and a merge joins them in manifest order.
"""

import hashlib
import logging
import shutil
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.pieces import Pieces
from tagger.result import StepResult
from tagger.runfolder import cached_features, feature_cache_key
from tagger.settings import Settings

log = logging.getLogger(__name__)


def embed(settings: Settings) -> StepResult:
    """Writes embeddings.npy and image_ids.npy: the pooled embedding of every manifest image, in manifest order.

    Reuses train.py's feature cache when the backbone was not fine-tuned; otherwise runs the trained model in
    resumable pieces, the whole set or one shard of it (embed.num_shards), or joins finished shards (merge_only).
    """
    run_dir, options = settings.paths.run_dir, settings.embed
    manifest = runfolder.read_manifest(run_dir)
    runfolder.require(run_dir / runfolder.MODEL)
    target = run_dir / runfolder.EMBEDDINGS
    sharded = options.num_shards > 1 and not options.merge_only
    # Settings of the model come from the training run, not today's flags: the model fixes them.
    model_settings = runfolder.trained_model_settings(run_dir)
    cache = reusable_feature_cache(run_dir, manifest, model_settings)
    if cache is not None and sharded:
        log.info(f"backbone was not fine-tuned: {runfolder.FEATURE_CACHE} already holds every embedding; "
              "nothing for a shard to do (run embed.py without shards)")
        return StepResult()
    if cache is not None:
        log.info(f"backbone was not fine-tuned: reusing {runfolder.FEATURE_CACHE} ({len(cache)} images)")
        with runfolder.atomic_path(target, ".npy") as temporary:
            shutil.copyfile(run_dir / runfolder.FEATURE_CACHE, temporary)
    else:
        from tagger.model.choice import inference_for_run

        choice = inference_for_run(run_dir, options)
        pieces = embedding_pieces(run_dir, settings, manifest, model_settings, choice)
        if options.merge_only:
            refuse_incomplete(pieces, options.num_shards)
        else:
            compute_shard(pieces, run_dir, settings, manifest, model_settings, choice)
        if sharded:
            return StepResult([pieces.folder])
        pieces.join(target)
    runfolder.write_image_ids(run_dir, manifest.image_ids)
    # Record the model settings actually used: those of the trained model, not today's defaults.
    runfolder.write_settings(run_dir, "embed", settings.model_copy(update={"model": model_settings}))
    log.info(f"wrote {target} and {run_dir / runfolder.IMAGE_IDS}")
    return StepResult([target, run_dir / runfolder.IMAGE_IDS])


def reusable_feature_cache(run_dir: Path, manifest, model_settings):
    """train.py's feature cache when it holds these images' embeddings (backbone not fine-tuned), else None."""
    record = runfolder.read_json(run_dir / runfolder.TRAINING_RECORD)
    same_images = record["feature_cache_key"]["images"] == feature_cache_key(model_settings, manifest)["images"]
    if record["backbone_finetuned"] or not same_images:
        return None
    return cached_features(run_dir, record["feature_cache_key"])


def compute_shard(pieces: Pieces, run_dir: Path, settings: Settings, manifest, model_settings, choice) -> None:
    """Runs the model over this process's shard (all pieces when not sharded), skipping finished pieces."""
    from tagger.model.inference import batch_function
    from tagger.model.network import embedding_model, load_tagger

    options = settings.embed
    sharded = options.num_shards > 1
    shard = pieces.shard(options.num_shards, options.shard_index)
    model_path = run_dir / runfolder.MODEL
    where = f"shard {options.shard_index + 1} of {options.num_shards}: " if sharded else ""
    share = f"{sum(len(pieces.rows(i)) for i in shard)} of " if sharded else ""
    log.info(f"{where}embedding {share}{len(manifest.paths)} images with {model_path}")
    embedder = embedding_model(load_tagger(model_path))
    predict = batch_function(embedder, choice.engine, choice.precision, model_settings.image_size)
    pieces.compute(predict, manifest.paths, model_settings.image_size, options.batch_size, shard)
    if sharded:
        left = len(pieces.missing())
        log.info(f"shard {options.shard_index + 1} of {options.num_shards} done; "
              + (f"{left} pieces still missing from other shards; " if left else "all shards are done; ")
              + f"join them with: embed.py --paths.run_dir {run_dir} --embed.merge_only true "
              "(with the same embed settings)")


def embedding_pieces(run_dir: Path, settings: Settings, manifest, model_settings, choice) -> Pieces:
    """The pieces this model, these images and these settings make; other settings' pieces are never mixed in.
    choice: the engine and precision actually run (auto resolved), so a shard on another machine whose auto
    resolves otherwise makes pieces of its own instead of mixing in."""
    options = settings.embed
    key = {"model": file_digest(runfolder.require(run_dir / runfolder.MODEL)),
           "images": feature_cache_key(model_settings, manifest)["images"],
           "image_size": model_settings.image_size, "batch_size": options.batch_size,
           "chunk_size": options.chunk_size, "engine": choice.engine, "precision": choice.precision}
    return Pieces(run_dir / runfolder.EMBEDDING_PIECES, key, len(manifest.paths), options.chunk_size)


def refuse_incomplete(pieces: Pieces, num_shards: int) -> None:
    missing = set(pieces.missing())
    if not missing:
        return
    shards = [str(index) for index in range(num_shards) if missing & set(pieces.shard(num_shards, index))]
    others = pieces.root.exists() and any(path != pieces.folder for path in pieces.root.iterdir())
    hint = (f"; {pieces.root} holds pieces made with other settings (model, batch_size, chunk_size, engine or "
            "precision differ): run the shards and the merge with the same ones" if others else "")
    raise TaggerError(f"cannot merge: {len(missing)} of {pieces.total} pieces are missing, from shard(s) "
                      f"{', '.join(shards)} of {num_shards} (--embed.shard_index); run those, then merge again{hint}")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
