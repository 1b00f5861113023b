"""The run folder: fixed file names, atomic writes, and the files steps hand to each other."""

import csv
import errno
import io
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tagger.errors import MissingStepOutput, TaggerError

MANIFEST = "manifest.csv"
VOCABULARY = "vocabulary.csv"
SKIPPED = "skipped.csv"
MODEL = "model.keras"
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
IMAGE_IDS = "image_ids.npy"
SIMILAR_INDEX = "similar_index.faiss"  # similar.py's HNSW index (FAISS format, not pickle)
SIMILAR_INDEX_KEY = "similar_index.json"
SYNONYMS_JSON = "synonyms.json"
SYNONYMS_CSV = "synonyms.csv"
SYNONYMS_HTML = "synonyms.html"
REVIEW = "review.csv"
REJECTED = "rejected.csv"
ALIASES = "aliases.txt"

TAG_SEPARATOR = ", "


@contextmanager
def atomic_path(target: Path, suffix: str = ""):
    """Yields a temporary path beside target; renamed onto target only if the block succeeds.

    A killed or failed step never leaves a half-written file under the final name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, target)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            error.filename = str(target)  # name the output that did not fit, not its temporary name
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(target: Path, value) -> None:
    write_text(target, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path, step: str):
    require(path, step)
    return json.loads(path.read_text(encoding="utf-8"))


def write_csv(target: Path, header: list[str], rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(target, buffer.getvalue())


def write_settings(run_dir: Path, step: str, settings) -> None:
    """Every step records the settings it ran with next to its outputs."""
    write_json(run_dir / f"settings.{step}.json", settings.model_dump(mode="json"))


def require(path: Path, step: str) -> Path:
    if not path.exists():
        raise MissingStepOutput(path, step)
    return path


@dataclass
class Manifest:
    image_ids: list[str]
    paths: list[str]
    tags: list[list[str]]
    splits: list[str]

    def indices(self, split: str) -> list[int]:
        return [index for index, name in enumerate(self.splits) if name == split]


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    rows = zip(manifest.image_ids, manifest.paths, (TAG_SEPARATOR.join(t) for t in manifest.tags), manifest.splits)
    write_csv(run_dir / MANIFEST, ["image_id", "path", "tags", "split"], rows)


def read_manifest(run_dir: Path) -> Manifest:
    table = pd.read_csv(require(run_dir / MANIFEST, "prepare.py"), dtype=str, keep_default_na=False)
    return Manifest(
        image_ids=table["image_id"].tolist(),
        paths=table["path"].tolist(),
        tags=[text.split(TAG_SEPARATOR) if text else [] for text in table["tags"]],
        splits=table["split"].tolist(),
    )


def write_vocabulary(run_dir: Path, counts: list[tuple[str, int]]) -> None:
    write_csv(run_dir / VOCABULARY, ["tag", "count"], counts)


def read_vocabulary(run_dir: Path) -> list[str]:
    table = pd.read_csv(require(run_dir / VOCABULARY, "prepare.py"), dtype={"tag": str}, keep_default_na=False)
    if table.empty:
        raise TaggerError(f"{run_dir / VOCABULARY} holds no tags: run prepare.py again")
    return table["tag"].tolist()


def label_matrix(manifest: Manifest, vocabulary: list[str]) -> np.ndarray:
    """Multi-hot float32 labels, one row per image, one column per vocabulary tag."""
    from tagger.variants import tag_image_matrix

    return tag_image_matrix(manifest.tags, vocabulary).T.toarray()
