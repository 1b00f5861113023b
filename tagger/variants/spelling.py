"""Spelling evidence: how alike two tags are once common variations are undone."""

import re

from rapidfuzz.distance import OSA

LEETSPEAK = str.maketrans({"0": "o", "3": "e", "4": "a", "1": "i", "5": "s", "7": "t", "@": "a", "$": "s"})
SEPARATORS = re.compile(r"[\s_\-.]+")
DOUBLED_LETTERS = re.compile(r"(.)\1+")
# Longest ending first: "boxes" -> "box", "parties" -> "party", "cats" -> "cat"; not "glass" or "bus".
PLURAL_ENDINGS = (("ies", "y"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("s", ""))


def singular(word: str) -> str:
    for ending, replacement in PLURAL_ENDINGS:
        stem_length = len(word) - len(ending) + len(replacement)
        if stem_length >= 3 and word.endswith(ending) and not word.endswith(("ss", "us", "is")):
            return word[: -len(ending)] + replacement
    return word


def spelling_key(tag: str) -> str:
    """The tag with case, separators, leetspeak, plural endings and doubled letters undone.

    Words are joined without a separator, so "pro-grams", "pro grams" and "programs" agree.
    """
    words = SEPARATORS.sub(" ", tag.casefold().translate(LEETSPEAK)).split()
    return "".join(DOUBLED_LETTERS.sub(r"\1", singular(word)) for word in words)


def spelling_similarity(first: str, second: str) -> float:
    """1 - normalized optimal-string-alignment distance (a transposition is one edit) of the spelling keys."""
    return float(OSA.normalized_similarity(spelling_key(first), spelling_key(second)))
