"""Reading text files a person may have saved from any editor or spreadsheet."""

import logging
from pathlib import Path

from tagger.errors import TaggerError

UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
log = logging.getLogger(__name__)


def read_user_text(path: Path) -> str:
    """The file's text: UTF-8, with or without a BOM; otherwise Windows-1252, with a warning naming the file.

    Not errors="replace": a replacement character turns 'café' into a new, silently wrong tag. A file that
    is not UTF-8 almost always comes from a Windows spreadsheet, whose encoding is Windows-1252. UTF-16
    (Notepad's "Unicode") is refused: read as either, it would be nonsense.
    """
    return decode_user_text(path.read_bytes(), path)


def decode_user_text(data: bytes, path: Path) -> str:
    """read_user_text on bytes already read (path names the file in messages)."""
    if data.startswith(UTF16_MARKS):
        raise TaggerError(f"{path} is saved as UTF-16: save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        try:
            text, encoding = data.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:  # bytes cp1252 leaves undefined: Latin-1 gives every byte a character
            text, encoding = data.decode("latin-1"), "Latin-1"
        log.warning(f"{path} is not UTF-8 (line {line} has byte 0x{data[error.start]:02x}); read it as "
                    f"{encoding}: check its accented tags, or save it as UTF-8")
        return text
