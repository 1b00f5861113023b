"""The spelling link in words (tagger.variants.spelled): what makes two spellings alike, as review.csv's spelled column
says it."""

import pytest

from tagger.variants.spelled import forms, spelling_link, undone
from tagger.variants.spelling import number_apart, numerals_apart, spelling_keys, spelling_similarity

PAIRS = [
    ("tree", "trees", "plural"), ("knife", "knives", "plural"), ("person", "people", "plural"),
    ("wall", "wwall", "doubled letters"), ("program", "programm", "doubled letters"),
    ("programm", "pr0gramm", "leetspeak"), ("program", "pr0gramm", "leetspeak + doubled letters"),
    ("dogs", "d0g", "leetspeak + plural"), ("yellow", "ye11ow", "leetspeak"),
    ("arbol", "árbol", "accents"), ("gebaeude", "gebäude", "accents"), ("gebaude", "gebäude", "accents"),
    ("t shirt", "t-shirt", "separators"), ("tshirt", "t-shirt", "separators"),
    ("girls frontline", "girls' frontline", "separators"), ("pokemon", "ｐｏｋｅｍｏｎ", "full-width / ligature"),
    ("rock and roll", "rock & roll", "& for and"), ("rock and roll", "rock&roll", "separators + & for and"),
    ("cat&dog", "cats&dogs", "plural"), ("cat & dog", "cats & dogs", "plural"),
    ("cat and dog", "cats&dogs", "separators + & for and + plural"),
    ("program", "Pr0-Gramms", "case + separators + leetspeak + doubled letters + plural"),
    # Case is told by each tag's own: the other differences are read in lower case.
    ("MAEDCHEN", "MÄDCHEN", "accents"), ("CAT", "CATS", "plural"), ("Über", "Ubers", "accents + plural"),
    ("trees", "Tree", "case + plural"),
    ("ear ring", "earring", "separators"), ("High Heels", "highheels", "case + separators"),
    ("grey", "gray", "British spelling"), ("colours", "color", "British spelling + plural"),
    ("travelling", "traveling", "doubled letters"), ("colour's", "color's", "British spelling"),
    ("leg up", "legs up", "another number of a word"), ("hand on hip", "hands on hips", "another number of a word"), ("1980s", "1990s", "different numbers"),
    ("window", "windw", "near spelling"), ("boat", "coat", ""), ("tree", "sky", ""),
]


@pytest.mark.parametrize("first, second, words", PAIRS)
def test_a_spelling_link_names_each_difference_its_key_undoes(first, second, words):
    """Each difference is named where the two tags are one spelling key only with it undone; the same words in either
    order. Without the word lists' answers (slip, two words: grouping asks those), a one-slip pair is near spelling."""
    link = [spelling_link(a, b, spelling_similarity(a, b), number_apart=number_apart(a, b),
                          numerals_apart=numerals_apart(a, b)) for a, b in ((first, second), (second, first))]
    assert link == [words, words]


def test_with_nothing_left_as_typed_the_forms_are_the_spelling_keys():
    for tag in ("Tr33s", "Gebäude", "rock & roll", "ｐｏｋｅｍｏｎ", "knives", "ye11ow", "girls' frontline", "buses"):
        assert forms(tag) == set(spelling_keys(tag))
    assert undone("tree", "tree") == ()  # one tag, nothing to undo


def test_the_word_lists_answers_name_the_link_and_a_number_outranks_them():
    """A typo of a word and two words come from the pair's evidence (tagger.variants.words); a different number
    is no link whatever else holds."""
    assert spelling_link("window", "windw", 0.83, slip=True) == "typo of a word"
    assert spelling_link("shirt lift", "skirt lift", 0.78, words_apart=True) == "two words"
    assert spelling_link("1980s", "1990s", 0.8, slip=True, numerals_apart=True) == "different numbers"
    assert spelling_link("gass", "grass", 0.4) == ""  # under the spelling ramp: no link
