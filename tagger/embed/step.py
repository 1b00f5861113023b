"""embed.py: penultimate-layer embeddings of every manifest image, in manifest order.

The work is done in pieces (tagger.pieces.Pieces): killed, it resumes; sharded, several machines
each embed a contiguous slice into the same run folder and a merge joins them in manifest order.
"""

import hashlib
import json
import logging
import shutil
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.imagekeys import UNREADABLE, image_keys
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
        (run_dir / runfolder.EMBEDDING_MAKER).unlink(missing_ok=True)  # its rows file no longer describes the output
        with runfolder.atomic_path(target, ".npy") as temporary:
            shutil.copyfile(run_dir / runfolder.FEATURE_CACHE, temporary)
    else:
        from tagger.model.choice import inference_for_run

        # By the collection's size, not the new images': the engine is part of what made the rows (maker).
        choice = inference_for_run(run_dir, options, len(manifest.paths))
        maker = embedding_maker(run_dir, model_settings, choice)
        # The previous embeddings.npy changes only here, after every shard is done: all shards see the same
        # previous rows, so they agree on which images are new and on the pieces those make.
        previous = runfolder.read_embedding_rows(run_dir, maker)
        keys = image_keys(manifest.paths, previous[1] if previous else None)
        reused = previous_rows(previous[1] if previous else None, keys)
        new_images = [index for index, row in enumerate(reused) if row < 0]
        pieces = embedding_pieces(run_dir, settings, keys, new_images, maker)
        if options.merge_only:
            refuse_incomplete(pieces, options.num_shards)
        else:
            compute_shard(pieces, run_dir, settings, [manifest.paths[i] for i in new_images], model_settings, choice,
                          len(manifest.paths) - len(new_images))
        if sharded:
            return StepResult([pieces.folder])
        pieces.require_complete()
        (run_dir / runfolder.EMBEDDING_MAKER).unlink(missing_ok=True)  # no reuse of a half-replaced output
        assemble(target, previous[0] if previous else None, reused, pieces, new_images)
        pieces.remove()
        runfolder.write_embedding_rows(run_dir, keys, maker)
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


def compute_shard(pieces: Pieces, run_dir: Path, settings: Settings, paths: list[str], model_settings, choice,
                  reused: int) -> None:
    """Runs the model over this process's shard of the new images' pieces (all when not sharded), skipping
    finished pieces. paths: the images without reusable rows; reused: how many have them."""
    from tagger.model.inference import batch_function
    from tagger.model.network import embedding_model, load_tagger

    options = settings.embed
    sharded = options.num_shards > 1
    shard = pieces.shard(options.num_shards, options.shard_index)
    model_path = run_dir / runfolder.MODEL
    where = f"shard {options.shard_index + 1} of {options.num_shards}: " if sharded else ""
    share = f"{sum(len(pieces.rows(i)) for i in shard)} of " if sharded else ""
    unchanged = f" ({reused} unchanged images reused from {runfolder.EMBEDDINGS})" if reused else ""
    log.info(f"{where}embedding {share}{len(paths)} images with {model_path}{unchanged}")
    embedder = embedding_model(load_tagger(model_path))
    predict = batch_function(embedder, choice.engine, choice.precision, model_settings.image_size,
                             cache=choice.conversion_cache(run_dir, model_path, "embedding"))
    pieces.compute(predict, paths, model_settings.image_size, options.batch_size, shard)
    if sharded:
        left = len(pieces.missing())
        log.info(f"shard {options.shard_index + 1} of {options.num_shards} done; "
              + (f"{left} pieces still missing from other shards; " if left else "all shards are done; ")
              + f"join them with: embed.py --paths.run_dir {run_dir} --embed.merge_only true "
              "(with the same embed settings)")


def embedding_maker(run_dir: Path, model_settings, choice) -> dict:
    """What an embedding row depends on besides its image: rows made otherwise are never reused."""
    return {"model": runfolder.model_digest(runfolder.require(run_dir / runfolder.MODEL)),
            "image_size": model_settings.image_size, "engine": choice.engine, "precision": choice.precision}


def previous_rows(previous_keys, keys) -> list[int]:
    """For each image, the row of the previous embeddings.npy computed from the same content; -1 if none."""
    if previous_keys is None:
        return [-1] * len(keys.digests)
    row_of = {digest: row for row, digest in enumerate(previous_keys.digests) if digest != UNREADABLE}
    return [row_of.get(digest, -1) if digest != UNREADABLE else -1 for digest in keys.digests]


def embedding_pieces(run_dir: Path, settings: Settings, keys, new_images: list[int], maker: dict) -> Pieces:
    """The pieces the new images make with this model and these settings; other settings' pieces are never mixed
    in. maker holds the engine and precision actually run (auto resolved), so a shard on another machine whose
    auto resolves otherwise makes pieces of its own."""
    options = settings.embed
    images = hashlib.sha256(json.dumps([[keys.paths[i], keys.digests[i]] for i in new_images]).encode()).hexdigest()
    key = {**maker, "images": images, "batch_size": options.batch_size, "chunk_size": options.chunk_size}
    return Pieces(run_dir / runfolder.EMBEDDING_PIECES, key, len(new_images), options.chunk_size)


def assemble(target: Path, previous, reused: list[int], pieces: Pieces, new_images: list[int]) -> None:
    """embeddings.npy in manifest order: reused rows copied from the previous file, new rows from the pieces;
    written whole, then renamed, a block at a time so memory stays flat."""
    import numpy as np

    reused = np.asarray(reused, np.int64)
    width = previous.shape[1] if previous is not None else 0
    if new_images:
        width = np.load(pieces.path(0), mmap_mode="r", allow_pickle=False).shape[1]
    with runfolder.atomic_path(target, ".npy") as temporary:
        output = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(len(reused), width))
        kept = np.flatnonzero(reused >= 0)
        for start in range(0, len(kept), 4096):
            block = kept[start:start + 4096]
            output[block] = previous[reused[block]]
        for index in range(pieces.total):
            rows = pieces.rows(index)
            if len(rows):
                output[np.asarray(new_images[rows.start:rows.stop])] = np.load(pieces.path(index), allow_pickle=False)
        output.flush()
        del output


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
