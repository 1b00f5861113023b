"""How two tags' spellings are linked, in words a person reviewing the pair can check at a glance: `plural`,
`leetspeak + plural`, `typo of a word`, or why the spelling is no link by itself (`two words`, `different numbers`).

The spelling column says how alike two spellings are; this says what makes them so. For a pair one spelling key
(spelling 1.0), the differences it undoes are found by undoing all but one (spelling.keys_keeping): a difference is named where the
two tags are no longer one key without it (`tr33s` / `tree`: leetspeak + plural; `wwall` / `wall`: doubled letters);
case and full-width letters are told by each tag's own (`Tree` / `trees`: case + plural).
"""

import unicodedata

from tagger.variants.spelling import BRITISH, UNDONE, keys_keeping, run_together_sides

# Told apart by each tag's own form (case_of, compatibility_forms), not by leaving them out: every other difference is
# read on the lower-case compatibility form (spelling.typed).
CASE = "case"
WIDTH = "full-width / ligature"  # and the other compatibility forms NFKC reads as plain letters: ligatures (`ﬁ`)
SAME_KEY = "same spelling key"  # one key, and no one difference needed (two undo the same letters)
TYPO_OF_A_WORD = "typo of a word"  # rule.PairEvidence.slip: one slip, the other no word of the collection's languages
NEAR = "near spelling"  # a few slips apart (the spelling column says how near)
TWO_WORDS = "two words"  # PairEvidence.words_apart: words of the collection's language, not proposed on spelling alone
NUMBER_OF_A_WORD = "another number of a word"  # PairEvidence.number_apart: `leg up` / `legs up`
NUMBERS = "different numbers"  # PairEvidence.numerals_apart: `1980s` / `1990s`, no spelling link at all
# Under this a pair has no spelling link: blank. Where the rule's spelling ramp starts
# (PairEvidence.spelled_by_similarity): a pair under it counts nothing by its spelling.
NEAR_FROM = 0.6


def case_of(tag: str) -> str:
    """lower, upper, title or mixed: the tag's letters' case (NFKC first, as spelling.typed)."""
    text = unicodedata.normalize("NFKC", tag)
    if text == text.casefold():
        return "lower"
    return "upper" if text == text.upper() else "title" if text == text.title() else "mixed"


def compatibility_forms(tag: str) -> bool:
    """Whether the tag has letters NFKC reads as others: full-width `ｐｏｋｅｍｏｎ`, ligatures."""
    return unicodedata.normalize("NFKC", tag) != tag


def forms(tag: str, kept: frozenset = frozenset(), run_together: bool = False) -> set[str]:
    """The tag's spelling keys (tagger.variants.spelling.spelling_keys) with the differences in kept
    (spelling.UNDONE) left as typed: with none kept, the keys themselves. run_together: also with its words read as
    one word typed whole (spelling.run_together_keys), as a tag beside one typed with fewer words is."""
    return set(keys_keeping(tag, kept)) | (set(keys_keeping(tag, kept, run_together=True)) if run_together else set())


def undone(first: str, second: str) -> tuple[str, ...]:
    """The differences two tags of one spelling key are one key only with: their case and their compatibility forms
    where they differ (case_of, compatibility_forms), and each of spelling.UNDONE that, left as typed, parts them."""
    own = [name for name, differs in ((CASE, case_of(first) != case_of(second)),
                                      (WIDTH, compatibility_forms(first) != compatibility_forms(second))) if differs]
    first_run_together, second_run_together = run_together_sides(first, second)

    def one_key(kept: frozenset) -> bool:
        return bool(forms(first, kept, first_run_together) & forms(second, kept, second_run_together))

    # One key without the British reading (`travelling` / `traveling`: doubled letters): that reading is not named,
    # and every other difference is asked without it (with it, either fold alone joins them, and neither is named).
    base = frozenset({BRITISH}) if one_key(frozenset({BRITISH})) else frozenset()
    return tuple(own) + tuple(fold for fold in UNDONE if fold not in base and not one_key(base | {fold}))


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
