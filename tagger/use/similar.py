"""similar.py: the images of the collection most like a given one, by cosine similarity of embeddings.

Exact search: the embeddings are read from disk in chunks, so memory stays flat at any collection size.
One query over 150,000 x 1280 embeddings (768 MB) took 0.75 s on two cores with the file in the page
cache. For larger collections queried often, an HNSW index (FAISS, when installed) is built once, kept
in the run folder beside the embeddings it was made from, and answers in milliseconds (similar.index).
"""

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import path_text
from tagger.images import image_problem, load_image
from tagger.logs import RESULT
from tagger.neighbours import DATABASE_CHUNK, nearest_rows, unit_rows
from tagger.result import StepResult
from tagger.settings import Settings
from tagger.tagtext import visible

log = logging.getLogger(__name__)


def similar(settings: Settings) -> StepResult:
    """Prints (and with similar.output writes) the similar.k images most like similar.query."""
    options, run_dir = settings.similar, settings.paths.run_dir
    if options.query is None:
        raise TaggerError("similar.query: give an image id from manifest.csv or the path of an image file")
    manifest = runfolder.read_manifest(run_dir)
    embeddings = runfolder.read_embeddings(run_dir, manifest)
    image_ids = manifest.image_ids
    query = query_embedding(options.query, run_dir, embeddings, manifest)
    if wants_index(options.index, len(embeddings)):
        ranked = indexed_nearest(query, embeddings, options.k, run_dir)
    else:
        ranked = nearest(query, embeddings, options.k)
    results = [{"rank": rank, "image_id": image_ids[row], "path": manifest.paths[row], "similarity": similarity}
               for rank, (row, similarity) in enumerate(ranked, start=1)]
    log.info(f"{len(results)} images most similar to {visible(options.query)}:")
    for result in results:  # the answer asked for: printed under --quiet too, one row per image
        log.log(RESULT, f"{result['rank']:>4}  {result['similarity']:.4f}  {visible(result['image_id'])}  {visible(result['path'])}")
    if options.output is not None:
        runfolder.write_json(options.output, {"query": path_text(options.query), "results": results})
        log.info(f"wrote {visible(str(options.output))}")
    return StepResult([options.output] if options.output else [], results)


def query_embedding(query: str, run_dir: Path, embeddings: np.ndarray, manifest: runfolder.Manifest) -> np.ndarray:
    """The stored embedding of an image id or of a collection image's path; else the model embeds the file."""
    if query in manifest.image_ids:
        return np.asarray(embeddings[manifest.image_ids.index(query)], np.float32)
    path = Path(query)
    if not path.is_file():
        raise TaggerError(f"similar.query: {query!r} is neither an image id of {run_dir / runfolder.MANIFEST} "
                          "nor an image file")
    # Strings, not a resolve() per manifest row: a file of the collection is found without touching the disk
    # 150,000 times; one reached only through another link is embedded again, which gives the same vector.
    spellings = {os.path.abspath(path), str(path.resolve())}
    row = next((row for row, stored in enumerate(manifest.paths) if stored in spellings), None)
    if row is not None:
        return np.asarray(embeddings[row], np.float32)
    return embed_image(path, run_dir)


def embed_image(path: Path, run_dir: Path) -> np.ndarray:
    """An image outside the collection, embedded by the same network that made embeddings.npy."""
    from tagger.model.network import embedding_model, load_tagger, model_image_size

    problem = image_problem(path)
    if problem is not None:
        raise TaggerError(f"similar.query: {visible(str(path))}: {problem}")
    tagger = load_tagger(runfolder.require(run_dir / runfolder.MODEL, "train.py"))
    pixels = load_image(path, model_image_size(tagger, run_dir))[np.newaxis]
    return np.asarray(embedding_model(tagger)([pixels], training=False), np.float32)[0]


def nearest(query: np.ndarray, embeddings: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, cosine similarity) of the k rows most similar to query, best first; ties by row."""
    rows, similarities = nearest_rows(query[np.newaxis], embeddings, k)
    return [(int(row), float(similarity)) for row, similarity in zip(rows[0], similarities[0])]


INDEX_FROM_IMAGES = 200_000  # similar.index auto: below this, exact search is fast enough and needs no build


def wants_index(setting: str, images: int) -> bool:
    if setting == "exact":
        return False
    if importlib.util.find_spec("faiss") is None:
        if setting == "faiss":
            raise TaggerError("similar.index faiss: FAISS is not installed (pip install -e '.[index]')")
        return False
    return setting == "faiss" or images >= INDEX_FROM_IMAGES


def indexed_nearest(query: np.ndarray, embeddings: np.ndarray, k: int, run_dir: Path) -> list[tuple[int, float]]:
    """(row, cosine similarity) of about the k most similar rows from the run folder's HNSW index, best first."""
    index = similarity_index(embeddings, run_dir)
    index.hnsw.efSearch = max(64, 2 * k)  # candidates examined per query: recall near 1 for these k
    query = (query / max(float(np.linalg.norm(query)), 1e-12)).astype(np.float32)[np.newaxis]
    similarities, rows = index.search(query, min(k, len(embeddings)))
    return sorted(((int(row), float(similarity)) for row, similarity in zip(rows[0], similarities[0]) if row >= 0),
                  key=lambda pair: (-pair[1], pair[0]))


def similarity_index(embeddings: np.ndarray, run_dir: Path):
    """The HNSW index of the unit-length embeddings, built once and reused while embeddings.npy is unchanged."""
    import faiss

    source = (run_dir / runfolder.EMBEDDINGS).stat()
    key = {"embeddings_bytes": source.st_size, "embeddings_mtime_ns": source.st_mtime_ns, "rows": len(embeddings)}
    index_path, key_path = run_dir / runfolder.SIMILAR_INDEX, run_dir / runfolder.SIMILAR_INDEX_KEY
    if index_path.exists() and key_path.exists() and runfolder.read_json(key_path, "similar.py") == key:
        return faiss.read_index(str(index_path))
    log.info(f"building the similarity index of {len(embeddings)} images once ({index_path.name})")
    index = faiss.IndexHNSWFlat(embeddings.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    for start in range(0, len(embeddings), DATABASE_CHUNK):
        index.add(unit_rows(embeddings[start:start + DATABASE_CHUNK]))
    key_path.unlink(missing_ok=True)  # the index and its key change together: no key means rebuild
    with runfolder.atomic_path(index_path, ".faiss") as temporary:
        faiss.write_index(index, str(temporary))
    runfolder.write_json(key_path, key)
    return index
