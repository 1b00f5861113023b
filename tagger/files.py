"""Writing files so that an interrupted write never leaves a half-written file under its final name.

Everything the project writes (run-folder files, exports, tag.py's sidecars) goes through here: under a
temporary name beside the target (`.<name>.<random>.partial<suffix>`), renamed onto it when complete, with the
permissions the umask gives a new file (0644 under umask 022), not the temporary's 0600.
"""

import csv
import errno
import io
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tagger.spreadsheet import from_spreadsheet_safe, spreadsheet_safe

PARTIAL = ".partial"
LEFTOVER_PATTERN = f".*{PARTIAL}*"  # what a killed writer leaves: see remove_leftovers
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


# Files read as images, by name (PIL reads them by content; a caption is never written under one of these).
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def is_utf8_name(path) -> bool:
    """Whether the name is text a UTF-8 file can hold as it is (see path_text)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_text(path) -> str:
    """A file's name as text that can be written (UTF-8 files, the console): a name whose bytes are not UTF-8
    (`caf\\xe9.jpg`, unpacked from a Latin-1 or Shift-JIS archive) reaches Python with those bytes as lone
    surrogates, which no UTF-8 writer takes; they are shown as \\xNN (any other lone surrogate as \\udNNN). Any other
    name is unchanged."""
    text = str(path)
    if is_utf8_name(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte gave (U+D800): not from a file system's bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
RANDOM_PART = 8  # what mkstemp adds


def temporary_prefix(name: str, suffix: str = "") -> str:
    """'.<name>.', with name cut (at a character boundary) so the temporary name fits in NAME_MAX bytes:
    a 250-byte file name must not make its temporary name too long to create."""
    room = NAME_MAX - RANDOM_PART - len(f"..{PARTIAL}{suffix}".encode())
    try:
        cut = name.encode()[:room].decode(errors="ignore")
    except UnicodeEncodeError:  # a name whose bytes are not UTF-8 (caf\xe9.txt): cut as the file system's bytes
        cut = os.fsdecode(os.fsencode(name)[:room])
    return f".{cut}."


@contextmanager
def atomic_path(target: Path, suffix: str = ""):
    """Yields a temporary path beside target; renamed onto target only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=temporary_prefix(target.name, suffix), suffix=f"{PARTIAL}{suffix}",
                                         dir=target.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        # mkstemp made it 0600; the output is as readable as any file the user makes (the block may change it).
        temporary.chmod(0o666 & ~umask())
        yield temporary
        os.replace(temporary, target)
    except OSError as error:
        if error.errno in DISK_FULL:
            error.filename = str(target)  # name the output that did not fit, not its temporary name
        raise
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_folder(target: Path):
    """A temporary folder beside target, put in target's place only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL, dir=target.parent))
    try:
        yield temporary
        temporary.chmod(0o777 & ~umask())  # mkdtemp made it 0700
        if target.exists():
            # Folders cannot be swapped in one rename: move the old one aside first, delete it last.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(temporary, target)
            shutil.rmtree(old)
        else:
            os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def umask() -> int:
    """The process's umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def leftovers(folder: Path, name: str = "") -> list[Path]:
    """Temporary files a killed writer left in folder (of the file `name` only, when given)."""
    return [path for path in folder.glob(LEFTOVER_PATTERN) if path.is_file() and (not name or _left_by(path, name))]


def _left_by(leftover: Path, name: str) -> bool:
    """leftover is a temporary of the file `name`: its prefix is '.<name>.', or a cut of it (temporary_prefix)."""
    prefix = leftover.name[:max(leftover.name.rfind(PARTIAL) - RANDOM_PART, 0)]
    cut = prefix[1:-1]
    return prefix.endswith(".") and (cut == name or (name.startswith(cut) and len(prefix.encode()) > NAME_MAX // 2))


def remove_leftovers(folder: Path, name: str = "") -> None:
    """Only for a process that owns folder (or that file) under a lock: no other writer can be mid-write."""
    for leftover in leftovers(folder, name):
        leftover.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_json(target: Path, value) -> None:
    write_text(target, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


NUMBER_TEXT = re.compile(r"-?\d+(\.\d+)?")


def csv_text(header: list[str], rows, neutralize: bool = True, numbers: frozenset[str] = frozenset()) -> str:
    """The project's one CSV writer, as text: a header line, then the rows, \\n line ends. Text cells a
    spreadsheet would run as formulas are neutralized (tagger.spreadsheet); numbers are written as they are, and
    so is a number as text in a column named in numbers (review.csv's visual -0.2566: quoted, a spreadsheet sorts
    it as text). read_csv (or from_spreadsheet_safe on each cell) gives the text back exactly. neutralize=False only
    for a file in another tool's format, read by that tool and never back by this project (selected_tags.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # csv quotes only cells holding the line terminator, "\n": a bare carriage return inside a cell would
    # split its row on reading, so rows holding one are written with every cell quoted.
    quote_all = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    numeric = {column for column, name in enumerate(header) if name in numbers}

    def written(column: int, cell, in_header: bool):
        if not neutralize or not isinstance(cell, str):
            return cell
        if not in_header and column in numeric and NUMBER_TEXT.fullmatch(cell):
            return cell
        return spreadsheet_safe(cell)

    for number, row in enumerate([header, *rows]):
        cells = [written(column, cell, number == 0) for column, cell in enumerate(row)]
        (quote_all if any(isinstance(cell, str) and "\r" in cell for cell in cells) else writer).writerow(cells)
    return buffer.getvalue()


def write_csv(target: Path, header: list[str], rows, neutralize: bool = True,
              numbers: frozenset[str] = frozenset()) -> None:
    """Writes csv_text(header, rows, neutralize, numbers) byte for byte (no newline translation)."""
    write_bytes(target, csv_text(header, rows, neutralize, numbers).encode("utf-8"))


def read_csv(path: Path):
    """A CSV written by write_csv, as a pandas table of strings, with the neutralizing undone."""
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [from_spreadsheet_safe(name) for name in table.columns]
    return table.map(from_spreadsheet_safe) if len(table) else table
