"""Words of a language as spelling evidence: a tag one typing slip from a word of the collection's languages, and
itself a word of none of them, is a slip of that word.

Near spellings say different things on different pairs. `windw` / `window`, `buiding` / `building`, `long hiar` /
`long hair`: one side is no word at all, so what else would it name? (Not `gass` / `grass`: `gass` is listed in
English, at Zipf 2.4.) `rod` / `road`, `cup` / `cap`, `white pants` / `white panties`: both are words, and two words
one slip apart are more often two concepts (two slips that each spell a word, `shirt lift` / `skirt lift`, more
often still). The spelling rule counts a slip from a word as much as an undone plural (PairEvidence.parts); a pair of
two words, or of two non-words (names: `asuka` / `asuna`), keeps its plain spelling similarity, and two words of the
collection's language (words_apart) are not proposed on it alone.

A word is a word of one of the collection's languages (CanonicalRanks.languages, read off its tags) in wordfreq's
lists: used at least once in a million words of text there (Zipf 3); a slip is a word of none of them (under Zipf
1.5 in each: text holds slips too, but rarely); a rare word between the two (`eosin`) is neither, and its pair keeps
its plain spelling similarity. A tag listed only in languages the collection does not write, one slip from a word of
one it does, is a slip that spells a word elsewhere (`fenc`, Catalan, beside `fence`) or that word in another
language (`tabel`, Dutch for table): one concept either way. Where the collection's languages are not known
(slips_of_words; a collection in another script) every language of the lists counts, all 40-odd. wordfreq lists words
down to Zipf 1 for 21 languages (English, German, French, Spanish, Dutch, ...); for the other 21 (Danish, Turkish,
Vietnamese, ...) only from Zipf 3, so there a word rarer than that counts as no word. Only tags of Latin letters
are judged (slips are counted on a QWERTY keyboard; the word may be typed in leetspeak, `gra55` for grass, and its slip
`grss` is one of it too, but the slip is read as typed: a tag with digits may be a number, `1girl`), and only pairs
whose longer tag has at least MIN_SLIP_LETTERS letters with a plural undone (letters_as_compared): at three letters
most slips spell a word or a name in some list (`roa`), so few are found, and a three-letter tag no list holds may be
an acronym or a name as much as a slip.
"""

import operator
import re
from collections.abc import Collection, Iterable

from rapidfuzz.distance import OSA

from tagger.errors import TaggerError
from tagger.variants.spelling import (
    APOSTROPHES, UMLAUTS, es_or_plain_singular, key_pairs, leetspeak_read, singular, slip_distance, typed, typed_words,
    without_marks,
)

# Measured on real words (benchmarks/spelling_slips.py, by the longer word's length): a slip of a word is found
# for 36% of codespell's 4-letter misspellings (`awll` / `wall`) and 1.2% of web2's distinct 4-letter words one edit
# apart, against 49% and 4.8% at 5 letters or more: four-letter words are no riskier, the lists know them. At 3
# letters 6.7% of the misspellings and 0.07% of the distinct pairs.
MIN_SLIP_LETTERS = 4
MIN_SPLIT_LETTERS = 3  # each word of a tag typed without its space (word_splits): `red eyes`, not `r edeyes`
LATIN_TAG = re.compile(r"^[a-z]+( [a-z]+)*$")
# spelling.without_marks as a table over the precomposed Latin letters (Latin-1 to Latin Extended-B, and Latin
# Extended Additional: Vietnamese), for str.translate: the lists hold some 900,000 words with letters beyond ASCII,
# and the lists' words are precomposed (NFC).
MARKS_DROPPED = {code: without_marks(chr(code)) for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]
                 if without_marks(chr(code)) != chr(code)}
drop_marks = operator.methodcaller("translate", MARKS_DROPPED)


def typed_forms(word: str) -> set[str]:
    """A listed word as tag_words writes a tag's words: without marks and apostrophes, and a German umlaut both
    ways (`schüssel` -> schussel, schuessel; `o'clock` -> oclock), as spelling.spelling_keys reads them."""
    forms = {word, word.translate(UMLAUTS)} if any(umlaut in word for umlaut in "äöü") else {word}
    return {APOSTROPHES.sub("", drop_marks(form)) for form in forms}
# wordfreq's languages not written in Latin letters: their words never lose marks into a Latin tag.
OTHER_SCRIPTS = frozenset({"ar", "bg", "bn", "el", "fa", "he", "hi", "ja", "ko", "mk", "ru", "ta", "uk", "ur", "zh"})


def tag_words(tag: str) -> tuple[str, ...] | None:
    """The tag's words, casefolded and without marks (`Árbol_grande` -> árbol, grande -> arbol, grande); None
    for a tag with anything but Latin letters, separators and apostrophes (digits, other scripts, signs)."""
    words = typed_words(tag)  # cached: every pair asks both its tags
    return words if LATIN_TAG.match(" ".join(words)) else None


WORD_ZIPF = 3.0  # a word: used at least once in a million words of one of the collection's languages (of any, where
# they are not known; wordfreq's 'large' list where a language has one, else its 'small' one: language_levels)
# A slip: used fewer than about 3 times in 100 million words of each (Zipf 1.5). Not "unlisted": text
# holds slips too (`buiding` 1.3, `sqaure` 1.5 in English), and rare words (`eosin` 1.9, `noose` 3.0) are what a
# word must not be taken for: on codespell's misspellings and distinct web2 words one slip apart
# (benchmarks/spelling_slips.py), 1.5 counted 7 misspellings for each distinct pair, "under 3" 4.
SLIP_ZIPF = 1.5

# word -> {language: its Zipf frequency there, where SLIP_ZIPF or more}; words asked are remembered, so that a
# second call (grouping asks for evidence again for the pairs across groups) reads no list again.
_LEVELS: dict[str, dict[str, float]] = {}


def language_levels(words: Iterable[str]) -> dict[str, dict[str, float]]:
    """Each word's (casefolded, without marks) Zipf frequency in each of wordfreq's languages whose list holds it at
    SLIP_ZIPF or more (below it, no decision changes: a word listed there is a slip as much as one listed nowhere),
    from a language's 'large' list where it has one, its 'small' one otherwise; empty where no list holds it so."""
    words = set(words)
    wanted = {word for word in words if word not in _LEVELS}  # not `- _LEVELS.keys()`: that walks every word read
    if wanted:
        found = zipf_by_language(wanted, SLIP_ZIPF)
        _LEVELS.update((word, found.get(word, {})) for word in wanted)
    return {word: _LEVELS[word] for word in words}


def listed_zipf(words: Iterable[str]) -> dict[str, float]:
    """Each word's highest Zipf frequency over wordfreq's languages (language_levels); 0 where no list holds it at
    SLIP_ZIPF or more."""
    return {word: max(levels.values(), default=0.0) for word, levels in language_levels(words).items()}


def zipf_by_language(words: Iterable[str], down_to: float = WORD_ZIPF) -> dict[str, dict[str, float]]:
    """Each word's Zipf frequency in each of wordfreq's languages whose list holds it at down_to or more (read as
    listed_zipf reads them); a word no list holds so is left out."""
    found: dict[str, dict[str, float]] = {}
    for language, zipf, hits in listed_hits(set(words), down_to):
        for word in hits:
            languages = found.setdefault(word, {})
            languages[language] = max(languages.get(language, 0.0), zipf)
    return found


def listed_hits(wanted: set[str], down_to: float):
    """(language, Zipf frequency, the wanted words its list holds at it) over every list, down to down_to."""
    wordfreq = wordfreq_module()
    lists = {**wordfreq.available_languages("small"), **wordfreq.available_languages("large")}
    for language, path in sorted(lists.items()):
        for zipf, frequency_bin in frequency_bins(path, down_to=down_to):
            hits = wanted.intersection(frequency_bin)
            if language not in OTHER_SCRIPTS:
                # A word listed with marks or apostrophes is asked about as the tag's words are written
                # (set operations where they can: the lists hold millions of words).
                written = [word for word in frequency_bin if not word.isascii() or "'" in word]
                hits |= wanted.intersection(form for word in written for form in typed_forms(word))
            if hits:
                yield language, zipf, hits


def wordfreq_module():
    try:
        import msgpack  # noqa: F401  (frequency_bins reads the lists with it)
        import wordfreq
    except ImportError:
        raise TaggerError("the variant step needs wordfreq (a dependency since the slip of a word): "
                          "pip install -e . (or pip install wordfreq)") from None
    return wordfreq


def frequency_bins(path: str, down_to: float):
    """(Zipf frequency, its words) of one wordfreq list, most used first, down to a Zipf frequency.

    The list is a gzipped msgpack array, a header then one list of words per centibel of frequency (bin i holds
    the words of frequency 10^(-i / 100), Zipf 9 - i / 100; wordfreq.read_cBpack reads it whole). Read a bin at a
    time: an English 'large' list whole is some 100 MB of Python strings, and the benchmark at 50,000 tags runs
    within 4 GB with 20 MB to spare."""
    import gzip

    import msgpack

    with gzip.open(path, "rb") as file:
        unpacker = msgpack.Unpacker(file, raw=False)
        bins = unpacker.read_array_header() - 1
        header = unpacker.unpack()
        if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
            raise ValueError(f"{path}: not a wordfreq cBpack list (header {header!r})")
        for index in range(bins):
            zipf = round(9 - index / 100, 2)
            if zipf < down_to:
                return
            yield zipf, unpacker.unpack()


def leetspeak_words(tag: str) -> tuple[tuple[str, ...], ...]:
    """The tag's words with its leetspeak undone, in each of spelling.leetspeak_forms (`gra55` -> grass; `ye11ow` ->
    yeiiow, yellow); empty where no form is of Latin letters alone."""
    return tuple(words for words in map(tag_words, leetspeak_read(typed(tag))) if words is not None)


def letters_as_compared(words: tuple[str, ...]) -> int:
    """The letters of a tag's words with a plural ending undone (the shorter of spelling_keys' two readings by
    endings, doubled letters kept): the length a slip is judged at. `skies` / `ksy` is the 3-letter slip `sky` / `ksy`, as `sky` /
    `ksy` is (judged at 5 letters, `ksy` joined `skies` and `sky` / `skies` was kept apart by it); `wall` / `awll`
    is 4 letters."""
    return min(sum(len(reading(word)) for word in words) for reading in (singular, es_or_plain_singular))


def one_slip_apart(first: str, second: str) -> bool:
    """Whether the closest spelling keys of the two tags differ by exactly one typing slip (spelling.slip_distance):
    one edit (OSA distance 1, in C), unless it is a letter replaced by one far from it on the keyboard."""
    return any(OSA.distance(a, b) == 1 and slip_distance(a, b) == 1 for a, b in key_pairs(first, second))


def word_splits(word: str) -> list[str]:
    """The word's letters as two words, each of MIN_SPLIT_LETTERS or more, with a space between (`redeyes` -> red
    eyes, rede yes): the words a tag typed without its space may be."""
    return [f"{word[:cut]} {word[cut:]}" for cut in range(MIN_SPLIT_LETTERS, len(word) - MIN_SPLIT_LETTERS + 1)]


def spelled_out(vocabulary: list[str], pairs: Iterable[tuple[int, int]], written_in_language,
                read_ahead=None) -> dict[tuple[int, int], str]:
    """pair -> one tag of it written as two words of the collection's language, where one tag is a word of Latin letters
    that is no word of it, the other two words, and the first's letters split into two words of the language, one of
    them the other tag's in its place: `bellcollar` beside `belt collar` is bell collar, typed without the space. Not
    `preson` beside `old person` (pre son shares no word with it). read_ahead: the collection's (CanonicalRanks), so
    the splits' words are read in one pass over the lists."""
    candidates = {}
    for pair in pairs:
        for one, other in (pair, pair[::-1]):
            words, others = tag_words(vocabulary[one]), tag_words(vocabulary[other])
            if words is None or others is None or len(words) != 1 or len(others) != 2:
                continue
            aligned = [split for split in word_splits(words[0])
                       if any(part == word for part, word in zip(split.split(" "), others))]
            if aligned and not written_in_language(vocabulary[one]):
                candidates[pair] = aligned
    if read_ahead is not None:
        read_ahead(split for splits in candidates.values() for split in splits)
    found = {pair: next((split for split in splits if written_in_language(split)), None)
             for pair, splits in candidates.items()}
    return {pair: split for pair, split in found.items() if split is not None}


def slip_links(vocabulary: list[str], pairs: Iterable[tuple[int, int]], written_in_language=None,
               min_letters: int = MIN_SLIP_LETTERS, read_ahead=None,
               languages: Collection[str] = ()) -> tuple[dict[tuple[int, int], bool], dict[tuple[int, int], bool]]:
    """For each pair (indices into vocabulary), what its one slip says, judged once: (a slip of a word: every word of
    one tag at WORD_ZIPF or more, as typed or with its leetspeak undone (leetspeak_words), a word of the other, as
    typed, under SLIP_ZIPF, the two one slip apart; two words: both tags written in the collection's language, `white
    pants` / `white panties`, `stairs` / `stars`, where a slip that spells another word of the language is another
    word more often than a slip, and two slips that each do, `shirt lift` / `skirt lift`, more often still). Both ask
    the longer tag at least min_letters letters with a plural undone (see the module; benchmarks/spelling_slips.py
    asks other lengths); the caller asks pairs near in spelling that are not one key.
    written_in_language: CanonicalRanks.written_in_language (every word a word of one of the collection's languages);
    None: two words are not asked (all false), nor whether a tag is words typed without their space (spelled_out:
    `bellcollar` is no slip of `belt collar` but bell collar, two words of the language beside it; read_ahead, the
    collection's, reads their words in one pass). languages: the collection's (CanonicalRanks.languages), in which
    both sides' words are read; empty: every language's lists."""
    pairs = list(pairs)
    words = {index: tag_words(vocabulary[index]) for pair in pairs for index in pair}
    # The word side may be typed in leetspeak (`gra55` is grass, and `grss` a slip of it, as of `grass`); the slip side
    # is read as typed: a tag with digits may be a number (`1girl` is no slip of `girl`).
    readings = {index: (words[index],) if words[index] is not None else leetspeak_words(vocabulary[index])
                for index in words}
    judged = {(a, b) for a, b in pairs
              if readings[a] and readings[b] and (words[a] is not None or words[b] is not None)
              and max(letters_as_compared(readings[a][0]), letters_as_compared(readings[b][0])) >= min_letters
              and one_slip_apart(vocabulary[a], vocabulary[b])}
    levels = language_levels({word for a, b in judged for index in (a, b) for reading in readings[index]
                              for word in reading}) if judged else {}
    # Words read in the collection's languages where they are known (the module), else in every language: `fenc`,
    # Catalan, beside `fence` is a slip of it in an English collection. Measured on real English words
    # (benchmarks/spelling_slips.py): 50.2% of codespell's misspellings and 4.1% of distinct words one edit apart are
    # slips so, 49.0% and 4.8% read in every language.
    home = {word: max((level for language, level in by_language.items() if not languages or language in languages),
                      default=0.0) for word, by_language in levels.items()}
    is_word = {index: any(min(home[word] for word in reading) >= WORD_ZIPF for reading in readings[index])
               for pair in judged for index in pair}
    has_slip = {index: words[index] is not None and min(home[word] for word in words[index]) < SLIP_ZIPF
                for pair in judged for index in pair}
    # A tag typed with its words run together (`bellcollar`: no word of any list) beside a tag of those words but one
    # (`belt collar`) is those words, not a slip of a word: two words (Danbooru's `neck bell` and `belt collar`; 4 of
    # the 8 false slips of a word among its 2,987 most used general tags and their aliases,
    # benchmarks/real_aliases.py). Asked of the pair, as spelling.run_together_keys reads a space left out.
    run_together = {} if written_in_language is None else spelled_out(vocabulary, pairs, written_in_language,
                                                                     read_ahead)
    slip = {(a, b): (a, b) in judged and (a, b) not in run_together
            and (is_word[a] and has_slip[b] or is_word[b] and has_slip[a]) for a, b in pairs}
    # Two words need no single slip: two slips that each spell a word of the language (`shirt lift` / `skirt lift`, a
    # letter far on the keyboard; `censored` / `uncensored`) are two words still more often than one slip is. Tags as
    # typed: read through leetspeak, a concept's leetspeak spelling and its typo that spells a word (`v4se` / `vas`,
    # `gr4vel` / `grave`) were two words, which kept the typo out of its concept's group (suite, midscale_many s2 and
    # s5: recall 0.81 -> 0.76, 0.88 -> 0.83). The language read only for the pairs of words long enough (it reads
    # wordfreq's lists, which no other pair needs).
    apart = {(a, b): written_in_language is not None and not slip[(a, b)] and words[a] is not None
             and words[b] is not None and max(letters_as_compared(words[a]), letters_as_compared(words[b])) >= min_letters
             and all(written_in_language(vocabulary[index]) or ((a, b) in run_together and len(words[index]) == 1)
                     for index in (a, b))
             for a, b in pairs}
    return slip, apart


def slips_of_words(vocabulary: list[str], pairs: Iterable[tuple[int, int]],
                   min_letters: int = MIN_SLIP_LETTERS) -> dict[tuple[int, int], bool]:
    """For each pair: whether one tag is a slip of the other, a word (slip_links)."""
    return slip_links(vocabulary, pairs, min_letters=min_letters)[0]


def words_apart(vocabulary: list[str], pairs: Iterable[tuple[int, int]], written_in_language,
                min_letters: int = MIN_SLIP_LETTERS) -> dict[tuple[int, int], bool]:
    """For each pair (near in spelling, not one key): whether both tags are words of the collection's language
    (slip_links)."""
    return slip_links(vocabulary, pairs, written_in_language, min_letters)[1]
