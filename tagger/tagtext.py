"""Tag text: normalization and the aliases file."""

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.files import path_text
from tagger.textfiles import read_user_text

SEPARATOR_BETWEEN_WORDS = re.compile(r"(?<=\w)[_\-]+(?=\w)")
SPACES = re.compile(r"\s+")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class TagNormalizer:
    """Turns a raw tag into its stored form; each rule can be switched off."""

    trim: bool = True
    casefold: bool = True
    fold_separators: bool = True

    def __call__(self, raw: str) -> str:
        # NFC: "café" typed with a combining accent is the same tag as with a precomposed one.
        tag = unicodedata.normalize("NFC", CONTROL_CHARACTERS.sub(" ", raw))
        if self.fold_separators:
            tag = SEPARATOR_BETWEEN_WORDS.sub(" ", tag)
        if self.trim:
            tag = SPACES.sub(" ", tag).strip()
        if self.casefold:
            tag = tag.casefold()
        return tag


def split_tags(text: str, separator: str = ",") -> list[str]:
    """A tag list as typed by users: comma-separated, or (separator ' ') split on any run of white space."""
    return text.split() if separator.isspace() else text.split(separator)


ALIAS_KEYWORD = "alias"
ARROW = "->"
ALIASES_HEADER = ("# accepted merges of every review round: alias <variant> -> <canonical>; prepare.py reads them "
                  "with --data.aliases.\n# Delete a line to undo that merge. A tag that holds ' -> ', quotes or "
                  "surrounding spaces is written as a JSON string.\n")


def alias_tag_text(tag: str) -> str:
    """A tag as written in an aliases file: as it is, or as a JSON string where plain text would read back
    differently (it holds '->', starts with a quote or '#', has spaces at its ends or a control character)."""
    plain = (tag and ARROW not in tag and not tag.startswith(('"', "#")) and tag == tag.strip()
             and not CONTROL_CHARACTERS.search(tag))
    return tag if plain else json.dumps(tag, ensure_ascii=False)


def alias_line(variant: str, canonical: str) -> str:
    return f"{ALIAS_KEYWORD} {alias_tag_text(variant)} {ARROW} {alias_tag_text(canonical)}\n"


def write_aliases_text(aliases: dict[str, str]) -> str:
    """An aliases file holding exactly these merges: parse_aliases gives them back unchanged."""
    return ALIASES_HEADER + "".join(alias_line(variant, canonical) for variant, canonical in sorted(aliases.items()))


def parse_aliases(text: str, path: Path) -> list[tuple[int, str, str]]:
    """(line number, variant, canonical) of every alias line, as written (quoted tags decoded).

    Raises TaggerError naming the line when one is malformed.
    """
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parsed = _parse_alias_line(line.strip())
        if parsed is None:
            raise TaggerError(f"{path} line {number}: expected 'alias <variant> -> <canonical>' (a tag holding "
                              f"' -> ' in double quotes, as JSON), got {line.strip()!r}")
        entries.append((number, *parsed))
    return entries


def _parse_alias_line(line: str) -> tuple[str, str] | None:
    keyword, _, rest = line.partition(" ")
    if keyword != ALIAS_KEYWORD:
        return None
    variant, rest = _alias_tag(rest.lstrip(), until_arrow=True)
    if variant is None or not rest.startswith(ARROW):
        return None
    canonical, rest = _alias_tag(rest[len(ARROW):].lstrip(), until_arrow=False)
    return (variant, canonical) if canonical is not None and not rest.strip() else None


def _alias_tag(text: str, until_arrow: bool) -> tuple[str | None, str]:
    """The tag at the start of text and what follows it: a JSON string, or plain text up to ' -> '."""
    if text.startswith('"'):
        try:
            tag, end = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError:
            return None, text
        return (tag, text[end:].lstrip()) if isinstance(tag, str) else (None, text)
    if not until_arrow:
        return (text.strip() or None), ""
    match = PLAIN_VARIANT.match(text)
    return (match["tag"], text[match.end():]) if match else (None, text)


PLAIN_VARIANT = re.compile(r"(?P<tag>.+?)\s+(?=->)")


def read_aliases(path: Path, normalize: TagNormalizer) -> dict[str, str]:
    """variant -> canonical, chains resolved (a -> b, b -> c gives a -> c).

    Raises TaggerError on a malformed line, a variant given two canonicals, or a cycle.
    """
    if not path.is_file():
        raise TaggerError(f"data.aliases: {path} is not a file")
    direct: dict[str, str] = {}
    for number, raw_variant, raw_canonical in parse_aliases(read_user_text(path), path):
        variant, canonical = normalize(raw_variant), normalize(raw_canonical)
        if not variant or not canonical:
            raise TaggerError(f"{path} line {number}: empty tag in {alias_line(raw_variant, raw_canonical).strip()!r}")
        if variant == canonical:
            continue
        if direct.get(variant, canonical) != canonical:
            raise TaggerError(
                f"{path} line {number}: {variant!r} is already an alias of {direct[variant]!r}, not {canonical!r}"
            )
        direct[variant] = canonical
    return resolve_chains(direct, f"{path}: aliases", "remove one of its lines")


def resolve_chains(direct: dict[str, str], where: str, remedy: str) -> dict[str, str]:
    """variant -> final canonical, following chains (a -> b, b -> c gives a -> c).

    A cycle raises TaggerError: "<where> form a cycle: a -> b -> a; <remedy>".
    """
    resolved = {}
    for variant in direct:
        chain = [variant]
        while chain[-1] in direct:
            following = direct[chain[-1]]
            if following in chain:
                cycle = " -> ".join(chain[chain.index(following):] + [following])
                raise TaggerError(f"{where} form a cycle: {cycle}; {remedy}")
            chain.append(following)
        resolved[variant] = chain[-1]
    return resolved


def visible(text: str) -> str:
    """text for a person to read (terminal, HTML): characters that are invisible or reorder what follows
    (bidirectional overrides, zero-width and other format characters, controls, line separators) shown as
    <U+XXXX>, so two tags that look alike on screen do not; a file name's bytes that are not UTF-8 as \\xNN
    (path_text). Data files keep the tags byte for byte."""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() or character == " " else f"<U+{ord(character):04X}>"
                   for character in path_text(text))
