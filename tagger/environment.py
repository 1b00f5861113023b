"""TAGGER_ variables and the .env file checked before settings are read from them.

pydantic-settings ignores what it does not know, so a misspelled TAGGER_ variable, or a .env line it cannot
parse, would leave a setting at its default without a word. Each is reported with where it was found and
the closest known name.
"""

import difflib
import io
import os
from pathlib import Path

from dotenv.parser import parse_stream

from tagger.textfiles import UTF16_MARKS

PREFIX = "TAGGER_"
NESTED = "__"


def variable_name(flag: str) -> str:
    """train.head.epochs -> TAGGER_TRAIN__HEAD__EPOCHS"""
    return PREFIX + flag.upper().replace(".", NESTED)


def known_variables(flags: list[str]) -> set[str]:
    """Every TAGGER_ name a setting can come from: each flag, and each section (which takes JSON)."""
    names = set()
    for flag in flags:
        parts = flag.split(".")
        names.update(variable_name(".".join(parts[:end])) for end in range(1, len(parts) + 1))
    return names


def env_file_entries(path: Path) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """(name -> (line, value)) of a .env file, and its problems: lines python-dotenv cannot parse, an encoding
    other than UTF-8. No file, no entries."""
    if not path.is_file():
        return {}, []
    data = path.read_bytes()
    if data.startswith(UTF16_MARKS):
        return {}, [f"{path} is saved as UTF-16: save it as UTF-8"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return {}, [f"{path} line {line}: not UTF-8 (byte 0x{data[error.start]:02x}): save it as UTF-8"]
    entries, problems = {}, []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        line = binding.original.line + len(original) - len(original.lstrip("\n"))
        if binding.error:
            problems.append(f"{path} line {line}: cannot read {original.strip()!r}: expected NAME=value")
        elif binding.key is not None:
            entries[binding.key] = (line, binding.value or "")
    return entries, problems


def environment_problems(flags: list[str], renamed: dict[str, str], env_file: Path) -> list[str]:
    """What would silently be ignored: unparsable .env lines and unknown TAGGER_ names (with the closest
    known one), in the environment or in env_file. Old names of renamed settings count as known."""
    known = known_variables(flags) | {variable_name(old) for old in renamed}
    entries, problems = env_file_entries(env_file)
    found = [(name, f"{env_file} line {line}") for name, (line, _) in entries.items()]
    found += [(name, "the environment") for name in os.environ]
    for name, where in found:
        if name.upper().startswith(PREFIX) and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"unknown setting {name} ({where}){hint}")
    return problems


def renamed_in_env_file(renamed: dict[str, str], env_file: Path) -> dict[str, str]:
    """New name -> value for old names of renamed settings written in env_file (pydantic-settings reads only
    the new names there), unless the new name is set too."""
    entries, _ = env_file_entries(env_file)
    upper = {name.upper(): value for name, (_, value) in entries.items()}
    return {variable_name(new): upper[variable_name(old)] for old, new in renamed.items()
            if variable_name(old) in upper and variable_name(new) not in upper}
