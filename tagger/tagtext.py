"""Tag text: normalization and the aliases file."""

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError

SEPARATOR_BETWEEN_WORDS = re.compile(r"(?<=\w)[_\-]+(?=\w)")
SPACES = re.compile(r"\s+")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
ALIAS_LINE = re.compile(r"^alias\s+(?P<variant>.+?)\s+->\s+(?P<canonical>.+?)\s*$")


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


def read_aliases(path: Path, normalize: TagNormalizer) -> dict[str, str]:
    """variant -> canonical, chains resolved (a -> b, b -> c gives a -> c).

    Raises TaggerError on a malformed line, a variant given two canonicals, or a cycle.
    """
    if not path.is_file():
        raise TaggerError(f"data.aliases: {path} is not a file")
    direct: dict[str, str] = {}
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ALIAS_LINE.match(line.strip())
        if match is None:
            raise TaggerError(f"{path} line {number}: expected 'alias <variant> -> <canonical>', got {line.strip()!r}")
        variant, canonical = normalize(match["variant"]), normalize(match["canonical"])
        if not variant or not canonical:
            raise TaggerError(f"{path} line {number}: empty tag in {line.strip()!r}")
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
