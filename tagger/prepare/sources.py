"""Reading a user's list of images and tags: CSV/TSV, JSONL, or a folder of images with .txt sidecars."""

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.files import is_utf8_name, path_text
from tagger.images import image_files_under
from tagger.tagtext import split_tags
from tagger.textfiles import read_user_text as read_text

log = logging.getLogger(__name__)


@dataclass
class SourceRecord:
    image: str  # as written in the source: relative to the images root, or absolute
    raw_tags: list[str]
    origin: str  # where it was read, for reports: "tags.csv line 12"


@dataclass
class SourceProblem:
    item: str
    reason: str


@dataclass(frozen=True)
class SourceFormat:
    """How the tags file is laid out: data.tag_separator, data.image_column, data.tags_column."""

    tag_separator: str = ","
    image_column: str = "image"
    tags_column: str = "tags"

    def split(self, text: str) -> list[str]:
        return split_tags(text, self.tag_separator)


def read_source(source: Path, layout: SourceFormat = SourceFormat()) -> tuple[list[SourceRecord], list[SourceProblem], Path]:
    """Records, problems met while reading, and the default images root."""
    if not source.exists():
        raise TaggerError(f"data.source: {source} does not exist")
    if source.is_dir():
        return (*read_sidecar_folder(source, layout), source)
    suffix = source.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return (*read_table(source, "\t" if suffix == ".tsv" else ",", layout), source.parent)
    if suffix in (".jsonl", ".ndjson"):
        return (*read_jsonl(source, layout), source.parent)
    raise TaggerError(f"data.source: {source} is neither a folder nor a .csv, .tsv or .jsonl file")


def read_table(path: Path, separator: str, layout: SourceFormat) -> tuple[list[SourceRecord], list[SourceProblem]]:
    # The csv module, not pandas: given a row with more fields than the header, which is what an
    # unquoted tags cell like `a.png,cat,dog` makes, pandas silently takes the first column as an
    # index (shifting every column) or drops the row; here that row is reported instead.
    records, problems = [], []
    try:
        with io.StringIO(read_text(path), newline="") as file:
            reader = csv.reader(file, delimiter=separator)
            header = next((row for row in reader if any(field.strip() for field in row)), None)
            wanted = (layout.image_column, layout.tags_column)
            if header is None:
                raise TaggerError(f"{path} is empty: it needs a header line naming the columns {' and '.join(wanted)}")
            columns = [column.strip().lower() for column in header]
            missing = [column for column in wanted if column not in columns]
            if missing:
                raise TaggerError(f"{path}: needs columns {','.join(wanted)}; missing {', '.join(missing)}; found "
                                  f"{columns}; name yours with data.image_column and data.tags_column")
            image_at, tags_at = columns.index(layout.image_column), columns.index(layout.tags_column)
            for row in reader:
                origin = f"{path.name} line {reader.line_num}"
                if not any(field.strip() for field in row):
                    continue
                if len(row) > len(columns):
                    problems.append(SourceProblem(
                        origin, f"{len(row)} fields where the header has {len(columns)}: "
                        "put a tags cell that holds commas in double quotes"))
                    continue
                row += [""] * (len(columns) - len(row))  # missing trailing cells are empty, as in spreadsheets
                image = row[image_at].strip()
                if not image:
                    problems.append(SourceProblem(origin, "empty image path"))
                    continue
                records.append(SourceRecord(image, layout.split(row[tags_at]), origin))
    except csv.Error as error:
        raise TaggerError(f"{path}: cannot read it as a table: {error}") from None
    return records, problems


def read_jsonl(path: Path, layout: SourceFormat) -> tuple[list[SourceRecord], list[SourceProblem]]:
    records, problems = [], []
    with io.StringIO(read_text(path), newline=None) as lines:
        for line_number, line in enumerate(lines, start=1):
            origin = f"{path.name} line {line_number}"
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(SourceProblem(origin, f"not JSON: {error}"))
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str) or not entry["image"].strip():
                problems.append(SourceProblem(origin, "needs an object with a string 'image'"))
                continue
            tags = entry.get("tags", [])
            if isinstance(tags, str):
                tags = layout.split(tags)
            if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
                problems.append(SourceProblem(origin, "'tags' must be a list of strings"))
                continue
            # The separator splits tags everywhere else, so a tag holding a comma is two tags (a space only
            # separates within a string: a list item 'blue eyes' is one tag).
            raw_tags = [part for tag in tags for part in
                        (split_tags(tag) if layout.tag_separator.isspace() else layout.split(tag))]
            records.append(SourceRecord(entry["image"].strip(), raw_tags, origin))
    return records, problems


def read_sidecar_folder(folder: Path, layout: SourceFormat) -> tuple[list[SourceRecord], list[SourceProblem]]:
    records, problems = [], []
    for image in image_files_under(folder):
        relative = image.relative_to(folder).as_posix()
        if not is_utf8_name(relative):  # manifest.csv is UTF-8 text: the name could not be written back
            problems.append(SourceProblem(path_text(relative), "the file name is not UTF-8 (its bytes are shown as "
                                          "\\xNN): rename the file and its .txt"))
            continue
        sidecar = image.with_suffix(".txt")
        if not sidecar.is_file():
            problems.append(SourceProblem(relative, "no .txt tag file beside it"))
            continue
        try:
            text = read_text(sidecar).replace("\r", "\n")
        except TaggerError as error:  # one sidecar saved as UTF-16 leaves out its image, not the whole set
            problems.append(SourceProblem(relative, str(error)))
            continue
        records.append(SourceRecord(relative, [tag for line in text.split("\n") for tag in layout.split(line)],
                                    sidecar.name))
    return records, problems
