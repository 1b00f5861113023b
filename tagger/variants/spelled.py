"""How two tags' spellings are linked, in words a person reviewing the pair can check at a glance: `plural`,
`leetspeak + plural`, `typo of a word`, or why the spelling is no link by itself (`two words`, `different numbers`).

The spelling column says how alike two spellings are; this says what makes them so. For a pair one spelling key
(spelling 1.0), the differences it undoes are found by undoing all but one (FOLDS): a difference is named where the
two tags are no longer one key without it (`tr33s` / `tree`: leetspeak + plural; `wwall` / `wall`: doubled letters).
"""

import re
import unicodedata

from tagger.variants.spelling import (
    AMPERSAND_READINGS, APOSTROPHES, DOUBLED_LETTERS, KEY_READINGS, LEETSPEAK, SEPARATORS, UMLAUTS, as_typed,
    leetspeak_forms, without_marks,
)

CASE = "case/separators"  # also full-width letters and ligatures (NFKC), apostrophes beside a letter
ACCENTS = "accents"  # marks on Latin letters, German umlauts typed as ae / oe / ue
AMPERSAND = "& for and"
LEETSPEAK_FOLD = "leetspeak"
DOUBLED = "doubled letters"
PLURAL = "plural"
FOLDS = (CASE, ACCENTS, AMPERSAND, LEETSPEAK_FOLD, DOUBLED, PLURAL)  # in the order the words name them
SAME_KEY = "same spelling key"  # one key, and no one difference needed (two undo the same letters)
TYPO_OF_A_WORD = "typo of a word"  # rule.PairEvidence.slip: one slip, the other tag no word of any language
NEAR = "near spelling"  # a few slips apart (the spelling column says how near)
TWO_WORDS = "two words"  # PairEvidence.words_apart: words of the collection's language, not proposed on spelling alone
NUMBER_OF_A_WORD = "another number of a word"  # PairEvidence.number_apart: `leg up` / `legs up`
NUMBERS = "different numbers"  # PairEvidence.numerals_apart: `1980s` / `1990s`, no spelling link at all
NEAR_FROM = 0.5  # spelling under this is no link: blank (the rule's spelling ramp starts at 0.6)
SEPARATED = re.compile(f"({SEPARATORS.pattern})")


def forms(tag: str, kept: frozenset = frozenset()) -> set[str]:
    """The tag's spelling keys (tagger.variants.spelling.spelling_keys) with the differences in kept (FOLDS) left as
    typed: with none kept, the keys themselves."""
    text = tag if CASE in kept else unicodedata.normalize("NFKC", tag.replace("´", "'")).casefold()
    texts = [text.translate(UMLAUTS), text] if ACCENTS not in kept and any(u in text for u in "äöü") else [text]
    if AMPERSAND not in kept and "&" in text:
        space = "" if CASE in kept else " "  # with separators as typed, `rock & roll` is `rock and roll`
        texts = [form.replace("&", f"{space}{word}{space}") for form in texts for word in AMPERSAND_READINGS] + texts
    if LEETSPEAK_FOLD not in kept:
        texts = [form for text in texts for form in leetspeak_forms(text)]
    readings = (as_typed,) if PLURAL in kept else KEY_READINGS
    return {folded(text, reading, kept) for text in texts for reading in readings}


def folded(text: str, reading, kept: frozenset) -> str:
    """As spelling.folded_key folds a text, but for the differences in kept."""
    if ACCENTS not in kept:
        text = without_marks(text)
    if CASE in kept:  # words between their separators as typed
        parts = SEPARATED.split(text)
    else:
        parts = SEPARATORS.sub(" ", APOSTROPHES.sub("", text)).split()
    words = parts[::2] if CASE in kept else parts
    folded_words = []
    for word in words:
        word = reading(word if LEETSPEAK_FOLD in kept else word.translate(LEETSPEAK))
        folded_words.append(word if DOUBLED in kept else DOUBLED_LETTERS.sub(r"\1", word))
    if CASE in kept:
        return "".join(part for pair in zip(folded_words, parts[1::2] + [""]) for part in pair)
    return "".join(folded_words)


def undone(first: str, second: str) -> tuple[str, ...]:
    """The differences (FOLDS) two tags of one spelling key are one key only with: each, left as typed, parts them."""
    return tuple(fold for fold in FOLDS if not forms(first, frozenset({fold})) & forms(second, frozenset({fold})))


def spelling_link(first: str, second: str, spelling: float, slip: bool = False, words_apart: bool = False,
                  number_apart: bool = False, numerals_apart: bool = False) -> str:
    """The pair's spelling link in words (see the module); '' where the spellings are not near. The flags are the
    pair's PairEvidence: slip, words_apart, number_apart, numerals_apart."""
    if numerals_apart:
        return NUMBERS
    if number_apart:
        return NUMBER_OF_A_WORD
    if spelling >= 1.0:
        return " + ".join(undone(first, second)) or SAME_KEY
    if words_apart:
        return TWO_WORDS
    if slip:
        return TYPO_OF_A_WORD
    return NEAR if spelling >= NEAR_FROM else ""
