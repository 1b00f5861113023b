"""The run folder: the one contract between steps.

Every file and folder name of a run folder is here, with the functions that read and write each one,
so no other module builds a run-folder path by hand. Files are written whole (tagger.files) and never
need pickle to load.
"""

import functools
import hashlib
import json
import logging
import math
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from tagger.errors import MissingStepOutput, TaggerError
from tagger.files import (  # noqa: F401 (re-exported)
    atomic_folder,
    atomic_path,
    read_csv,
    write_csv,
    write_json,
    write_text,
)

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
VOCABULARY = "vocabulary.csv"
SKIPPED = "skipped.csv"
RARE_TAGS = "rare_tags.csv"  # the tags under data.min_tag_occurrences, one row per image carrying one
MODEL = "model.keras"
SELECTED_TAGS = "selected_tags.csv"  # the WD14 taggers' vocabulary file, beside the model, for tools that read them
LOGS = "logs"  # each step's log (logs/<step>.log) and train.py's TensorBoard event files
MODEL_TAGS = "tagger_tags.json"  # inside model.keras (a zip Keras ignores extra members of): its tag list
MAX_MODEL_TAGS_BYTES = 256 * 2**20
HEAD = "head.npz"
THRESHOLDS = "thresholds.json"
METRICS = "metrics.json"
REPORT = "report.html"
TRAINING_RECORD = "training.json"
FEATURE_CACHE = "features.npy"
FEATURE_CACHE_KEY = "features.json"
FEATURE_PIECES = "feature_pieces"  # features.npy while it is being computed
EMBEDDING_PIECES = "embedding_pieces"  # embeddings.npy while it is being computed (and its shards)
EMBEDDINGS = "embeddings.npy"
EMBEDDING_ROWS = "embeddings.rows.csv"  # each row's image key (path, size, mtime, sha256): reused when unchanged
EMBEDDING_MAKER = "embeddings.maker.json"  # what computed the rows: model, image size, engine, precision
IMAGE_IDS = "image_ids.npy"
SIMILAR_INDEX = "similar_index.faiss"  # similar.py's HNSW index (FAISS format, not pickle)
SIMILAR_INDEX_KEY = "similar_index.json"
SYNONYMS_JSON = "synonyms.json"
SYNONYMS_CSV = "synonyms.csv"
SYNONYMS_HTML = "synonyms.html"
REVIEW = "review.csv"
REJECTED = "rejected.csv"
ALIASES = "aliases.txt"
ENGINE_CACHE = "engine_cache"  # the trained model converted for an engine (OpenVINO IR, ONNX), reused while unchanged
CHECKPOINTS = "checkpoints"  # train.py's per-epoch checkpoints, one set per stage
EXPORT = "export"  # export.py's folder
SAVED_MODEL = "saved_model"  # under EXPORT
ONNX_MODEL = "model.onnx"  # under EXPORT
OPENVINO_MODEL = "openvino"  # under EXPORT: model.xml and model.bin
LOCK = ".lock"  # tagger.runlock: one step at a time
PREPARE_STAGING = ".prepare.partial"  # prepare.py's files, complete, before they are moved in together

TRAIN, VALIDATION = "train", "validation"  # the split column of manifest.csv

TAG_SEPARATOR = ", "

# The step that writes each file, for "run X first" messages.
WRITTEN_BY = {MANIFEST: "prepare.py", VOCABULARY: "prepare.py", MODEL: "train.py", THRESHOLDS: "train.py",
              TRAINING_RECORD: "train.py", EMBEDDINGS: "embed.py", IMAGE_IDS: "embed.py", REVIEW: "cluster_tags.py"}


def require(path: Path, step: str | None = None) -> Path:
    """path, or MissingStepOutput naming the step that writes it."""
    if not path.exists():
        raise MissingStepOutput(path, step or WRITTEN_BY.get(path.name, "the step before"))
    return path


def read_json(path: Path, step: str | None = None):
    require(path, step)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise TaggerError(f"{path} is not valid JSON ({error}): run "
                          f"{step or WRITTEN_BY.get(path.name, 'the step that wrote it')} again") from None


def load_array(path: Path, step: str | None = None, mmap: bool = False):
    """np.load without pickle; a damaged file (cut short, holding Python objects, not .npy at all) is one
    TaggerError naming it and the step that writes it, never a traceback."""
    require(path, step)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise TaggerError(f"{path} cannot be read ({str(error).splitlines()[0] if str(error) else type(error).__name__}): "
                          f"it is damaged or was not written by this project; run "
                          f"{step or WRITTEN_BY.get(path.name, 'the step that wrote it')} again") from None


# --- settings.<step>.json -------------------------------------------------------------------------------

def settings_path(run_dir: Path, step: str) -> Path:
    return run_dir / f"settings.{step}.json"


def write_settings(run_dir: Path, step: str, settings) -> None:
    """Every step records the settings it ran with next to its outputs."""
    write_json(settings_path(run_dir, step), settings.model_dump(mode="json"))


def read_settings(run_dir: Path, step: str, required: bool = True) -> dict:
    """The settings a step ran with, as it recorded them; {} when it has not run and required is False."""
    path = settings_path(run_dir, step)
    if not required and not path.exists():
        return {}
    return read_json(path, f"{step}.py")


def trained_model_settings(run_dir: Path):
    """The model section train.py ran with: the model fixes it, whatever today's flags say."""
    from tagger.settings import ModelSettings

    return ModelSettings.model_validate(read_settings(run_dir, "train")["model"])


# --- manifest.csv and vocabulary.csv ----------------------------------------------------------------------

@dataclass
class Manifest:
    image_ids: list[str]
    paths: list[str]
    tags: list[list[str]]
    splits: list[str]
    # Each image's photo hash (tagger.images.photo_hash; "" where unknown: not checked, or a manifest from before
    # the column), so copies of one photo count once where a test counts images; None: no column.
    photos: list[str] | None = None

    def indices(self, split: str) -> list[int]:
        return [index for index, name in enumerate(self.splits) if name == split]

    def tag_image_matrix(self, vocabulary: list[str]) -> sparse.csr_matrix:
        """tags x images, 1 where the image carries the tag (tags outside vocabulary are left out)."""
        column = {tag: index for index, tag in enumerate(vocabulary)}
        rows, cols = [], []
        for image_index, tags in enumerate(self.tags):
            for tag in tags:
                if tag in column:
                    rows.append(column[tag])
                    cols.append(image_index)
        return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                 shape=(len(vocabulary), len(self.tags)))

    def label_matrix(self, vocabulary: list[str]) -> np.ndarray:
        """Multi-hot float32 labels, one row per image, one column per vocabulary tag."""
        return self.tag_image_matrix(vocabulary).T.toarray()


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    columns = [manifest.image_ids, manifest.paths, [TAG_SEPARATOR.join(t) for t in manifest.tags], manifest.splits]
    header = ["image_id", "path", "tags", "split"]
    if manifest.photos is not None:
        columns, header = columns + [manifest.photos], header + ["photo"]
    write_csv(run_dir / MANIFEST, header, zip(*columns))


def read_manifest(run_dir: Path) -> Manifest:
    table = read_csv(require(run_dir / MANIFEST))
    return Manifest(
        image_ids=table["image_id"].tolist(),
        paths=table["path"].tolist(),
        tags=[text.split(TAG_SEPARATOR) if text else [] for text in table["tags"]],
        splits=table["split"].tolist(),
        photos=read_photos(table["photo"].tolist()) if "photo" in table.columns else None,
    )


# The manifest's photo column: tagger.images.photo_hash, 16 hex digits.
PHOTO_HASH = re.compile(r"^[0-9a-f]{16}$")


def read_photos(values: list[str]) -> list[str]:
    """The manifest's photo column, a value that is no photo hash (a hand-edited file) blank: that image is then a
    photo of its own, as one prepare.py could not decode."""
    malformed = [value for value in values if value and not PHOTO_HASH.match(value)]
    if malformed:
        log.warning(f"{MANIFEST}: {len(malformed)} photo values are no photo hash (like {malformed[0][:40]!r}); "
                    "those images count as photos of their own (prepare.py writes the column again)")
    return [value if PHOTO_HASH.match(value) else "" for value in values]


def write_vocabulary(run_dir: Path, counts: list[tuple[str, int]]) -> None:
    write_csv(run_dir / VOCABULARY, ["tag", "count"], counts)


def write_selected_tags(run_dir: Path, vocabulary: list[str], counts: list[int]) -> None:
    """selected_tags.csv as the WD14 taggers ship it: tag_id (the model's output column), name, category
    (0, Danbooru's 'general': our tags have no categories), count (training images from vocabulary.csv).
    Names as they are, not neutralized: tools that read WD14 models would take `'-_-` for a tag of its own."""
    write_csv(run_dir / SELECTED_TAGS, ["tag_id", "name", "category", "count"],
              [(index, name, 0, count) for index, (name, count) in enumerate(zip(vocabulary, counts, strict=True))],
              neutralize=False)


def read_vocabulary_counts(run_dir: Path) -> tuple[list[str], list[int]]:
    """The kept tags in the model's output order, and how many images carry each."""
    table = read_csv(require(run_dir / VOCABULARY))
    if table.empty:
        raise TaggerError(f"{run_dir / VOCABULARY} holds no tags: run prepare.py again")
    return table["tag"].tolist(), [int(count) for count in table["count"]]


def read_vocabulary(run_dir: Path) -> list[str]:
    return read_vocabulary_counts(run_dir)[0]


def write_rare_tags(run_dir: Path, uses: list[tuple[str, str]]) -> None:
    """rare_tags.csv: (tag, image id), one row per image carrying a tag prepare.py dropped as too rare."""
    write_csv(run_dir / RARE_TAGS, ["tag", "image_id"], uses)


def read_rare_tags(run_dir: Path) -> dict[str, list[str]] | None:
    """Each tag under data.min_tag_occurrences -> the images carrying it, most used tag first; None for a run
    folder prepared before prepare.py wrote rare_tags.csv."""
    path = run_dir / RARE_TAGS
    if not path.is_file():
        return None
    images: dict[str, list[str]] = {}
    table = read_csv(path)
    if not table.empty:
        for tag, image in zip(table["tag"], table["image_id"]):
            images.setdefault(tag, []).append(image)
    return dict(sorted(images.items(), key=lambda item: (-len(item[1]), item[0])))


# --- embeddings.npy, image_ids.npy --------------------------------------------------------------------------

def image_ids_array(image_ids: list[str]) -> np.ndarray:
    """Fixed-width unicode, so image_ids.npy loads without pickle."""
    width = max((len(image_id) for image_id in image_ids), default=1)
    return np.array(image_ids, dtype=f"<U{width}")


def write_image_ids(run_dir: Path, image_ids: list[str]) -> None:
    with atomic_path(run_dir / IMAGE_IDS, ".npy") as temporary:
        np.save(temporary, image_ids_array(image_ids), allow_pickle=False)


def read_embeddings(run_dir: Path, manifest: Manifest) -> np.ndarray:
    """embeddings.npy (memory-mapped), checked to hold one row per manifest image, in manifest order."""
    embeddings = load_array(run_dir / EMBEDDINGS, mmap=True)
    image_ids = load_array(run_dir / IMAGE_IDS).tolist()
    if image_ids != manifest.image_ids or len(embeddings) != len(image_ids):
        raise TaggerError(f"{EMBEDDINGS} does not match {MANIFEST} (prepare.py ran again since): run embed.py again")
    return embeddings


def write_embedding_rows(run_dir: Path, keys, maker: dict) -> None:
    """Beside embeddings.npy: which image content each row was computed from, and by what (tagger.imagekeys)."""
    write_csv(run_dir / EMBEDDING_ROWS, ["path", "size", "mtime_ns", "sha256"],
              zip(keys.paths, keys.sizes, keys.mtimes, keys.digests))
    write_json(run_dir / EMBEDDING_MAKER, maker)


def read_embedding_rows(run_dir: Path, maker: dict):
    """(embeddings.npy memory-mapped, its ImageKeys) when made by `maker` and whole; else None (e.g. an older run
    folder, which has no rows file: everything is computed once)."""
    from tagger.imagekeys import ImageKeys

    paths = [run_dir / name for name in (EMBEDDINGS, EMBEDDING_ROWS, EMBEDDING_MAKER)]
    if not all(path.exists() for path in paths) or json.loads(paths[2].read_text(encoding="utf-8")) != maker:
        return None
    table = read_csv(paths[1])  # strings, the spreadsheet-safe escaping of odd paths undone
    embeddings = np.load(paths[0], mmap_mode="r", allow_pickle=False)
    if len(table) != len(embeddings):
        return None
    keys = ImageKeys(table["path"].tolist(), [int(v) for v in table["size"]], [int(v) for v in table["mtime_ns"]],
                     table["sha256"].tolist())
    return embeddings, keys


# --- features.npy: train.py's stage-1 cache, which embed.py reuses ----------------------------------------

def feature_cache_key(model_settings, manifest: Manifest) -> dict:
    """What the frozen-backbone features depend on; a cache with another key is recomputed."""
    weights = model_settings.weights
    weights_path = Path(weights)
    if weights_path.is_file():
        stat = weights_path.stat()
        weights = f"{weights_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    images = hashlib.sha256(json.dumps([manifest.image_ids, manifest.paths]).encode()).hexdigest()
    return {"backbone": model_settings.backbone, "image_size": model_settings.image_size,
            "weights": weights, "images": images}


def cached_features(run_dir: Path, key: dict) -> np.ndarray | None:
    """The stage-1 feature cache when it was made with this key, else None."""
    cache, cache_key = run_dir / FEATURE_CACHE, run_dir / FEATURE_CACHE_KEY
    if cache.exists() and cache_key.exists():
        try:
            if json.loads(cache_key.read_text(encoding="utf-8")) == key:
                return np.load(cache, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OSError):  # a damaged cache is only lost time: it is computed again
            log.warning(f"{cache} is damaged; computing it again")
    return None


# --- training.json -----------------------------------------------------------------------------------------

def read_fidelity(run_dir: Path) -> dict | None:
    """training.json's record of the model's reduced-precision check ({precision: {passed, min_cosine, ...}});
    None for a model trained before the check existed, or when train.py has not run."""
    path = run_dir / TRAINING_RECORD
    return json.loads(path.read_text(encoding="utf-8")).get("fidelity") if path.exists() else None


# --- head.npz: the tag layer as numpy, for cluster_tags.py ---------------------------------------------------

def write_head(run_dir: Path, kernel: np.ndarray, bias: np.ndarray, tags: list[str]) -> None:
    """The tag layer and the tags of its columns, so a reader can tell whether it fits vocabulary.csv."""
    with atomic_path(run_dir / HEAD, ".npz") as temporary:
        np.savez(temporary, kernel=kernel, bias=bias, tags=image_ids_array(tags))


def read_head_kernel(run_dir: Path) -> np.ndarray | None:
    """The tag layer's kernel, columns in vocabulary.csv order; None without head.npz, or when its tags are
    not vocabulary.csv's (prepare.py ran since train.py): a column must never be read as another tag's."""
    path = run_dir / HEAD
    if not path.exists():
        return None
    head = load_array(path, "train.py")
    if not isinstance(head, np.lib.npyio.NpzFile):  # a plain .npy under head.npz's name
        raise TaggerError(f"{path} is not an .npz archive: run train.py again")
    try:
        with head:
            kernel = head["kernel"]
            tags = head["tags"].tolist() if "tags" in head.files else None
    except (KeyError, ValueError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise TaggerError(f"{path} cannot be read ({error}): run train.py again") from None
    vocabulary = read_vocabulary(run_dir)
    if tags is None or tags == vocabulary:
        return kernel
    if sorted(tags) == sorted(vocabulary):  # the same tags, counted again in another order: columns follow them
        column = {tag: index for index, tag in enumerate(tags)}
        return kernel[:, [column[tag] for tag in vocabulary]]
    log.warning(f"{HEAD} was trained on other tags than {VOCABULARY} lists (prepare.py ran since train.py); "
                "comparing tags by embeddings alone")
    return None


# --- model.keras's own tag list, and thresholds.json ----------------------------------------------------------

def add_model_tags(model_file: Path, tags: list[str]) -> None:
    """Puts the model's tags, in output order, inside its .keras file: the model carries its own tag list."""
    with zipfile.ZipFile(model_file, "a") as archive:
        archive.writestr(MODEL_TAGS, json.dumps(tags, ensure_ascii=False))


def read_model_tags(model_file: Path) -> list[str] | None:
    """The tags model.keras predicts, in output order; None for a model saved before it carried them."""
    try:
        with zipfile.ZipFile(model_file) as archive:
            if MODEL_TAGS not in archive.namelist():
                return None
            if archive.getinfo(MODEL_TAGS).file_size > MAX_MODEL_TAGS_BYTES:
                raise ValueError(f"{MODEL_TAGS} is {archive.getinfo(MODEL_TAGS).file_size} bytes")
            tags = json.loads(archive.read(MODEL_TAGS).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as error:
        raise TaggerError(f"cannot read {model_file} ({error}): it is damaged or did not come from train.py") from None
    if not isinstance(tags, list) or not tags or not all(isinstance(tag, str) for tag in tags):
        raise TaggerError(f"{model_file}: its tag list ({MODEL_TAGS}) is not a list of tags: "
                          "it did not come from train.py")
    return tags


def read_thresholds(run_dir: Path, tags: list[str]) -> np.ndarray:
    """One threshold per tag, in the order of tags, from thresholds.json; every one checked: a missing,
    non-numeric, NaN or out-of-range threshold is an error naming the tag (it would give every image that
    tag, or never)."""
    path = run_dir / THRESHOLDS
    record = read_json(path, "train.py")
    per_tag = record.get("tags") if isinstance(record, dict) else None
    if not isinstance(per_tag, dict):
        raise TaggerError(f"{path}: expected {{\"tags\": {{tag: threshold, ...}}}}, got {type(record).__name__} "
                          f"{str(record)[:60]!r}: run train.py again")
    values = []
    for tag in tags:
        if tag not in per_tag:
            raise TaggerError(f"{path}: no threshold for tag {tag!r}: run train.py again, or give --tag.threshold")
        value = per_tag[tag]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= 1:
            raise TaggerError(f"{path}: the threshold of tag {tag!r} is {value!r}; it must be a number from 0 to 1: "
                              "run train.py again, or give --tag.threshold")
        values.append(float(value))
    return np.array(values, np.float64)


def model_digest(model_file: Path) -> str:
    """SHA-256 of a model file, read once per process while its size and modification time stay the same:
    embed.py keys its rows and the engine cache by it, and model.keras may be hundreds of megabytes."""
    status = model_file.stat()
    return _file_digest(str(model_file), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    from tagger.imagekeys import file_digest

    return file_digest(path)


def engine_cache(run_dir: Path, model_file: Path, part: str, engine: str) -> Path:
    """Where engine's conversion (openvino: its IR; onnx: the ONNX graph) of this model file's part ("tagger" or
    "embedding") is kept: keyed by the file's content, so a retrained model is converted again; older conversions
    of the part for that engine are removed."""
    folder = run_dir / ENGINE_CACHE / f"{engine}-{part}-{model_digest(model_file)[:16]}"
    if folder.parent.exists():
        for old in folder.parent.glob(f"{engine}-{part}-*"):
            if old != folder and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return folder
