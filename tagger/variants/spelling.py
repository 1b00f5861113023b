"""Spelling evidence: how alike two tags are once common variations are undone.

Undone first: case, separators, apostrophes, leetspeak, British spellings (`grey` / `gray`), plural endings and
English irregular plurals (`people`, `knives`, `snowmen`), doubled letters (also where two words meet, beside the
same letters typed as one word: `ear ring` / `earring`), and the marks on Latin letters
(`pokémon` / `pokemon`, `árbol` / `arbol`: typed on a keyboard without them). German umlauts are written
both ways people type them without the key, ü as ue and as u, and a pair is compared by its closest forms
(`schüssel` / `schuessel`, `über` / `uber`). Marks on other scripts stay: か and が are different kana.

The distance counts typing slips, not letters: a dropped or added letter, two neighbouring letters swapped, or a
letter replaced by its neighbour on the keyboard is one slip: `sqaure`, `windw`, `tabel`, `grwen` (a doubled letter
costs nothing: doubling is undone). A letter replaced by one far from it on the keyboard is another word more often than a slip
(`shirt lift` / `skirt lift`, `black robe` / `black rose`, `cup` / `cap`), and costs two, as writing a different
letter does (one out, one in).

Digits are letters in leetspeak and numbers otherwise: tags that name different numbers (`1980s` / `1990s`,
`100 yen` / `1000 yen`) are told by numerals_apart, and their spelling is no link (rule.PairEvidence.spelled).
"""

import re
import unicodedata
from functools import lru_cache

from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS
from rapidfuzz.distance import OSA

# A 1 is also read as an l (leetspeak_forms): it stands for either.
LEETSPEAK = str.maketrans({"0": "o", "3": "e", "4": "a", "1": "i", "5": "s", "7": "t", "@": "a", "$": "s"})
# Hyphens as word processors and phones type them (‐ ‑ ‒ – — ―, and the minus sign) separate words as - does.
SEPARATORS = re.compile(r"[\s_\-.\u2010-\u2015\u2212]+")
# An apostrophe after a letter is left out as often as typed (`rock'n'roll`, `girls' frontline`); one after a
# sign is part of an emoticon (`:'(` is not `:(`, `:'d` is not `:d`) and stays.
APOSTROPHES = re.compile(r"(?<=[^\W\d_])['’‘`]")
# Letters only: a sign typed twice or more is meant so (`!` / `!!`, `^^` / `^^^`: distinct tags on Danbooru).
DOUBLED_LETTERS = re.compile(r"([^\W\d_])\1+")
# Longest ending first: "boxes" -> "box", "parties" -> "party", "cats" -> "cat"; not "glass" or "bus".
PLURAL_ENDINGS = (("ies", "y"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("s", ""))
# Plurals in -es that the endings above read as a final s: after a word's own s, z or o (`buses`, `quizzes`,
# `tomatoes`). Each is a second reading beside singular()'s, as `houses` is house + s and `buses` bus + es. Not f or fe
# turned to -ves as an ending: `caves` would read as `cafe`; which words take it is a list (IRREGULAR_PLURALS).
ES_PLURAL_ENDINGS = (("ses", "s"), ("zes", "z"), ("oes", "o"))
# A final s the endings above pass over or read otherwise: after i or u, a word's own as often as a plural (`tennis`,
# `bus`; `bikinis`, `menus`, `emojis`), and after a word's own -ie, which the endings read as -ies for y (`parties`;
# `movies`, `hoodies`, `cookies`). Each a further reading beside singular()'s, as the -es plurals are.
S_ONLY_ENDINGS = ("is", "us", "ies")

# English plurals no ending undoes: a closed list of the language (people, feet, knives), and the classical plurals
# English keeps (criteria, cacti, analyses), each read beside the regular endings' reading (`lives` is life, and live
# + s). Not data, media or agenda: mass nouns in today's use (`data` / `datum` would join two tags one rarely means
# by the other), nor axes (axe or axis), nor dice (`die` is also a verb, and German's article).
IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "feet": "foot", "teeth": "tooth",
    "geese": "goose", "mice": "mouse", "lice": "louse", "oxen": "ox",
    "knives": "knife", "wives": "wife", "lives": "life", "leaves": "leaf", "loaves": "loaf", "halves": "half",
    "calves": "calf", "shelves": "shelf", "scarves": "scarf", "wolves": "wolf", "elves": "elf", "selves": "self",
    "thieves": "thief", "hooves": "hoof", "dwarves": "dwarf", "wharves": "wharf", "sheaves": "sheaf",
    "criteria": "criterion", "phenomena": "phenomenon", "bacteria": "bacterium", "cacti": "cactus", "fungi": "fungus",
    "nuclei": "nucleus", "stimuli": "stimulus", "alumni": "alumnus", "octopi": "octopus", "radii": "radius",
    "larvae": "larva", "antennae": "antenna", "vertebrae": "vertebra", "formulae": "formula", "analyses": "analysis",
    "crises": "crisis", "theses": "thesis", "hypotheses": "hypothesis", "diagnoses": "diagnosis", "oases": "oasis",
    "parentheses": "parenthesis", "matrices": "matrix", "indices": "index", "vertices": "vertex",
    "appendices": "appendix",
}
# Irregular plurals that end compounds (snowmen, policewomen, salespeople, schoolchildren, housewives, werewolves,
# bookshelves), after at least COMPOUND_PREFIX letters: `omen`, `ramen`, `carmen`, `dolmen` and `germen` are no plurals of `oman`, `raman`,
# `carman`, `dolman` and `german` (at 3 letters the last three were read so, among web2's 234,450 words). Also feet,
# teeth, mice and geese (`barefeet`, Danbooru's alias of `barefoot`; web2 ends 4 words so, all compounds); not lice
# (`accomplice`, `surplice`).
COMPOUND_PLURAL_ENDINGS = ("men", "people", "children", "wives", "wolves", "knives", "shelves", "leaves", "feet",
                           "teeth", "mice", "geese")
COMPOUND_PREFIX = 4

# Digits as typed in a tag, of any script: each maximal run is a number or leetspeak for letters (numerals_apart).
DIGIT_RUNS = re.compile(r"\d+")
LEETSPEAK_DIGITS = frozenset(key for key in "0123456789" if ord(key) in LEETSPEAK)
# A point or comma between digits (and Arabic's decimal and thousands marks), which the spelling keys drop as a
# separator: part of a number where it is one (`2.5d` is no `25d`; decimals_apart).
NUMBER_MARKS = ".,\u066b\u066c"
DECIMAL_MARK = re.compile(f"(?<=\\d)[{NUMBER_MARKS}](?=\\d)")
NUMBER = re.compile(f"\\d+(?:[{NUMBER_MARKS}]\\d+)*")

# A word as British English spells it, read as American English does (`grey` / `gray`, `colours` / `colors`,
# `jewellery` / `jewelry`, `aeroplane` / `airplane`): one word in two spellings, as a plural is, and a closed list of the
# language as the irregular plurals are. breame's list (1,730 British spellings, from VarCon), each word as a whole:
# `grey hair` is `gray hair`, and `greyscale`, which the list does not hold, is left as typed.
# Left out: entries that pair two words, not two spellings of one (a love potion is no filter, a metric ton no ton,
# a draughtboard is a checkerboard, tranquilly an adverb), and entries the list has wrong (pummelled -> pummel).
NOT_SPELLINGS = frozenset({"philtre", "philtres", "tonne", "tonnes", "draughtboard", "draughtboards", "tranquilly",
                           "pummelled", "pummelling"})
AMERICAN_SPELLING: dict[str, str] = {british: american for british, american in BRITISH_ENGLISH_SPELLINGS.items()
                                     if british not in NOT_SPELLINGS}
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})  # the German way to type them without the key
# An ampersand is read as the word it stands for, written out and as spoken short (`rock 'n' roll`): English's, as
# the tags' language most often is; a tag keeps its & as typed too.
AMPERSAND_READINGS = ("and", "n")
# Words that list or set things side by side: `cats & dogs`, `cat or dog`, `cat vs dog` (number_apart).
LISTING = frozenset({"&", "and", *AMPERSAND_READINGS, "or", "+", "plus", "vs", "versus"})
# Latin letters that are not a base letter plus a mark, so that dropping marks cannot reach them.
LATIN_LETTERS_WITHOUT_MARKS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                                             "þ": "th", "ı": "i"})

# Keys a finger slips between: QWERTY rows as staggered on the keyboard (each row a quarter or three quarters
# of a key to the right of the one above); two keys are neighbours within one key across and one row up or down.
# y and z also count as neighbours: they trade places on German (QWERTZ) keyboards.
KEY_ROWS = (("qwertyuiop", 0.0), ("asdfghjkl", 0.25), ("zxcvbnm", 0.75))
KEY_POSITIONS = {key: (column + offset, row) for row, (keys, offset) in enumerate(KEY_ROWS)
                 for column, key in enumerate(keys)}
NEIGHBOUR_KEYS = frozenset(
    {(a, b) for a, (xa, ya) in KEY_POSITIONS.items() for b, (xb, yb) in KEY_POSITIONS.items()
     if a != b and abs(ya - yb) <= 1 and abs(xa - xb) <= 1.0} | {("y", "z"), ("z", "y")})
# Below this plain similarity a pair counts nothing whichever way substitutions are weighed (the rule's spelling
# ramp starts at 0.6, and slips only lower the value): the plain value is kept, and the slip count is not run.
SLIP_FLOOR = 0.5


def singular(word: str) -> str:
    for ending, replacement in PLURAL_ENDINGS:
        stem_length = len(word) - len(ending) + len(replacement)
        if stem_length >= 3 and word.endswith(ending) and not word.endswith(("ss", "us", "is")):
            return word[: -len(ending)] + replacement
    return word


def irregular_singular(word: str) -> str | None:
    """The word's singular where it is an irregular English plural, alone or ending a compound (`knives` -> knife,
    `snowmen` -> snowman), or None."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    for ending in COMPOUND_PLURAL_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= COMPOUND_PREFIX:
            return word[: -len(ending)] + IRREGULAR_PLURALS[ending]
    return None


def es_singular(word: str) -> str | None:
    """The word with an -es plural undone after its own s, z or o (`buses` -> bus), or None where it has none."""
    for ending, replacement in ES_PLURAL_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) + len(replacement) >= 3:
            return word[: -len(ending)] + replacement
    return None


def s_only_singular(word: str) -> str | None:
    """The word with only its final s dropped where it ends in S_ONLY_ENDINGS (`bikinis` -> bikini, `hoodies` ->
    hoodie), or None."""
    if word.endswith(S_ONLY_ENDINGS) and len(word) - 1 >= 3:
        return word[:-1]
    return None


def without_marks(text: str) -> str:
    """Latin letters without their marks (é -> e, ñ -> n, å -> a); marks on other scripts are kept."""
    kept: list[str] = []
    for character in unicodedata.normalize("NFD", text):
        if unicodedata.combining(character) and kept and "a" <= kept[-1] <= "z":
            continue
        kept.append(character)
    return unicodedata.normalize("NFC", "".join(kept)).translate(LATIN_LETTERS_WITHOUT_MARKS)


def typed(tag: str) -> str:
    """The tag as compared: NFKC (full-width letters and ligatures are the plain letters), casefolded; ´ first, as
    the apostrophe it is typed for (NFKC would make it a space and a combining accent on the next letter)."""
    return unicodedata.normalize("NFKC", tag.replace("´", "'")).casefold()


def plain_words(text: str) -> list[str]:
    """The words of a typed() text without marks on Latin letters and without apostrophes beside a letter."""
    return SEPARATORS.sub(" ", APOSTROPHES.sub("", without_marks(text))).split()


def as_typed(word: str) -> str:
    return word


def es_or_plain_singular(word: str) -> str:
    return es_singular(word) or singular(word)


def irregular_or_plain_singular(word: str) -> str:
    return irregular_singular(word) or singular(word)


def s_only_or_plain_singular(word: str) -> str:
    return s_only_singular(word) or singular(word)


# The readings spelling_keys reads each tag by, its first key the plain singular's (spelling_key); all but as_typed undo
# a word's plural (number_apart compares words so).
KEY_READINGS = (singular, as_typed, es_or_plain_singular, irregular_or_plain_singular, s_only_or_plain_singular)
PLURAL_READINGS = tuple(reading for reading in KEY_READINGS if reading is not as_typed)


# The differences a spelling key undoes, each of which can be left as typed (keys_keeping): tagger.variants.spelled
# names those a pair is one key only with. Case and full-width letters are told by each tag's own form there.
SEPARATED = "separators"  # spaces, hyphens, underscores, apostrophes beside a letter
ACCENTS = "accents"  # marks on Latin letters, German umlauts typed as ae / oe / ue
AMPERSAND = "& for and"
LEETSPEAK_READ = "leetspeak"
BRITISH = "British spelling"  # a word as British English spells it (AMERICAN_SPELLING)
DOUBLED = "doubled letters"
PLURAL = "plural"
UNDONE = (SEPARATED, ACCENTS, AMPERSAND, LEETSPEAK_READ, BRITISH, DOUBLED, PLURAL)
# A word boundary that is no separator: with separators kept as typed, an & read as a word (`cats&dogs`) still ends
# the word before it, as the spaces put around it otherwise do (its plural is undone there).
BOUNDARY = "\x00"
WORDS_AND_SEPARATORS = re.compile(f"({SEPARATORS.pattern}|{BOUNDARY})")


def folded_key(text: str, reading=singular, kept: frozenset = frozenset(), run_together: bool = False,
               american: bool = False) -> str:
    """The text's words joined, leetspeak and doubled letters undone, each word read by `reading` (singular: plural
    endings undone; as_typed; es_or_plain_singular: an -es plural after s, z or o read as one where a word has it;
    irregular_or_plain_singular: an irregular English plural read as one where a word is one; s_only_or_plain_singular:
    only a final s dropped after i, u or -ie, where a word ends so). kept: differences (UNDONE) left as typed.
    run_together: the words joined as one word typed whole is folded (joined_as_one). american: each word British
    English spells otherwise as American English spells it (AMERICAN_SPELLING)."""
    # Doubled letters undone in each word, not across their meeting: `print t-shirt` is not `print shirt`, nor `^_^`
    # `^^^` (but run_together).
    join = joined_as_one if run_together and DOUBLED not in kept else "".join
    if not kept:
        return join([folded_word(word, reading, american=american) for word in plain_words(text)])
    if ACCENTS not in kept:
        text = without_marks(text)
    if SEPARATED not in kept:
        words = SEPARATORS.sub(" ", APOSTROPHES.sub("", text)).split()  # as plain_words, marks as kept
        return join([folded_word(word, reading, kept, american) for word in words])
    parts = WORDS_AND_SEPARATORS.split(text)  # words between their separators as typed
    words = [folded_word(word, reading, kept, american) for word in parts[::2]]
    return "".join(part for pair in zip(words, parts[1::2] + [""]) for part in pair).replace(BOUNDARY, "")


def joined_as_one(words: list[str]) -> str:
    """Folded words joined as the same letters typed as one word are folded: where two words of 2 letters or more meet
    on one letter, it is read once, as a word's doubled letter is (`ear ring` as `earring`, `high heels` as
    `highheels`, `thigh highs` as `thighhighs`). Asked only of a tag beside one typed with fewer words
    (spelling_similarity): `bus stop` is not `bus top`, nor is a word of one letter read so (`print t-shirt`)."""
    key = ""
    for index, word in enumerate(words):
        if index and len(word) > 1 and len(words[index - 1]) > 1 and key[-1] == word[0] and key[-1].isalpha():
            word = word[1:]
        key += word
    return key


def folded_word(word: str, reading=as_typed, kept: frozenset = frozenset(), american: bool = False) -> str:
    """One word as folded_key reads it: leetspeak undone, read by `reading`, doubled letters undone, then spelled as
    American English does (american; after the rest, so a British word's own slips and plural are read as its:
    `colourr`, `colours`), but for the differences kept."""
    word = word if LEETSPEAK_READ in kept else word.translate(LEETSPEAK)
    word = reading(word)
    word = word if DOUBLED in kept else undoubled(word)
    return in_american(word, doubles_undone=DOUBLED not in kept) if american else word


def undoubled(word: str) -> str:
    """The word with each run of a doubled letter read once."""
    return DOUBLED_LETTERS.sub(r"\1", word)


# AMERICAN_SPELLING with doubled letters undone on both sides (`travelling` and `traveling` are one key already).
AMERICAN_UNDOUBLED = {undoubled(british): undoubled(american) for british, american in AMERICAN_SPELLING.items()
                      if undoubled(british) != undoubled(american)}
LETTER_RUNS = re.compile(r"[^\W\d_]+")  # a word's letters between its apostrophes (`colour's`), as looked up


def in_american(word: str, doubles_undone: bool = True) -> str:
    """Each run of letters of the word as American English spells it, where British English spells it otherwise
    (doubles_undone: the word's doubled letters are undone, and the table's too)."""
    table = AMERICAN_UNDOUBLED if doubles_undone else AMERICAN_SPELLING
    return LETTER_RUNS.sub(lambda run: table.get(run.group(), run.group()), word)


def british_words(text: str) -> bool:
    """Whether a word of the typed() text (its leetspeak undone, as typed, undoubled or singular) is spelled as British
    English spells it otherwise: the keys then have an American reading too."""
    return any(run in AMERICAN_SPELLING or undoubled(run) in AMERICAN_UNDOUBLED
               or undoubled(singular(run)) in AMERICAN_UNDOUBLED
               for word in plain_words(text) for run in LETTER_RUNS.findall(word.translate(LEETSPEAK)))


def leetspeak_forms(text: str) -> tuple[str, ...]:
    """The text as typed and, where it has a 1, with its 1s written as l: leetspeak's 1 is an i (`p1nk`: LEETSPEAK
    undoes it so) or an l (`1337`, `ye11ow`). The i's form first."""
    return (text, text.replace("1", "l")) if "1" in text else (text,)


def leetspeak_read(text: str) -> tuple[str, ...]:
    """The text with its digits read as leetspeak's letters, in each of leetspeak_forms (`ye11ow` -> yeiiow, yellow)."""
    return tuple(form.translate(LEETSPEAK) for form in leetspeak_forms(text))


@lru_cache(maxsize=200_000)
def spelling_keys(tag: str) -> tuple[str, ...]:
    """The tag's spelling keys, each a reading of it: with plural endings undone, and as typed where that differs
    (a final s is not always a plural: `gras`, a slip for `grass`, is not the plural of `gra`); with an -es plural
    after s, z or o undone where a word ends so (`buses` is bus + es, `houses` house + s); with an irregular English
    plural undone where a word is one (`lives` as life and as live + s); with only a final s dropped after i, u or -ie
    (`bikinis`, `menus`, `hoodies`: `tennis` is read as typed too); for a tag with a German umlaut, each with ü
    as ue and as u; for a tag with an &, each with it read as and, as n and as typed; for a tag with a 1, each with it
    read as an i (as LEETSPEAK) and as an l.

    NFKC first, so full-width letters (ｐｏｋｅｍｏｎ) and ligatures are the plain letters."""
    return keys_keeping(tag, frozenset())


@lru_cache(maxsize=200_000)
def run_together_keys(tag: str) -> tuple[str, ...]:
    """The tag's spelling keys with its words read as one word typed whole (joined_as_one): for comparing it with a tag
    typed with fewer words. The same as spelling_keys for a tag of one word or whose words meet on no one letter."""
    if len(typed_words(tag)) < 2:
        return spelling_keys(tag)
    return keys_keeping(tag, frozenset(), run_together=True)


def keys_keeping(tag: str, kept: frozenset, run_together: bool = False) -> tuple[str, ...]:
    """The tag's spelling keys with the differences in kept (UNDONE) left as typed; none kept: spelling_keys.
    run_together: its words read as one word typed whole (run_together_keys)."""
    text = typed(tag)
    forms = (text.translate(UMLAUTS), text) if ACCENTS not in kept and any(umlaut in text for umlaut in "äöü") \
        else (text,)
    if "&" in text:  # and, as written out and as spoken short (`black & white`, `r&b` / `rnb`, `rock & roll`)
        space = BOUNDARY if SEPARATED in kept else " "
        if AMPERSAND in kept:  # still a word of its own
            forms = tuple(form.replace("&", f"{space}&{space}") for form in forms)
        else:
            forms = tuple(form.replace("&", f"{space}{word}{space}") for form in forms
                          for word in AMPERSAND_READINGS) + forms
    if LEETSPEAK_READ not in kept:
        forms = tuple(reading for form in forms for reading in leetspeak_forms(form))
    readings = (as_typed,) if PLURAL in kept else KEY_READINGS
    # British spellings as a reading of their own beside the words as typed, not instead: a slip of the British word
    # (`aestheticaly`) is one slip from it as typed, and further from the American word.
    spellings = (False, True) if BRITISH not in kept and any(map(british_words, forms)) else (False,)
    # A reading equal to an earlier one (no -es plural, nothing to undo) is dropped: keys are distinct readings.
    return tuple(dict.fromkeys(folded_key(form, reading, kept, run_together, american)
                               for american in spellings for reading in readings for form in forms))


def spelling_key(tag: str) -> str:
    """The tag with case, separators, leetspeak, marks, plural endings and doubled letters undone (its first
    key: umlauts as ae, oe, ue).

    Words are joined without a separator, so "pro-grams", "pro grams" and "programs" agree.
    """
    return spelling_keys(tag)[0]


def slip_distance(first: str, second: str) -> int:
    """Optimal string alignment distance in which replacing a letter by one not next to it on the keyboard
    costs 2 (insertions, deletions, neighbour swaps and neighbouring-key replacements cost 1)."""
    previous_row, row = None, list(range(len(second) + 1))
    for i in range(1, len(first) + 1):
        previous_row, before, row = row, previous_row, [i] + [0] * len(second)
        for j in range(1, len(second) + 1):
            a, b = first[i - 1], second[j - 1]
            replace = 0 if a == b else 1 if (a, b) in NEIGHBOUR_KEYS else 2
            row[j] = min(previous_row[j] + 1, row[j - 1] + 1, previous_row[j - 1] + replace)
            if i > 1 and j > 1 and a != b and a == second[j - 2] and first[i - 2] == b:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]


@lru_cache(maxsize=200_000)
def key_similarity(first: str, second: str) -> float:
    """1 - slips / length of the longer key (0 at worst); the plain OSA similarity below SLIP_FLOOR."""
    plain = float(OSA.normalized_similarity(first, second))
    if plain < SLIP_FLOOR or plain == 1.0:
        return plain
    return max(0.0, 1.0 - slip_distance(first, second) / max(len(first), len(second)))


def spelling_similarity(first: str, second: str) -> float:
    """How alike two tags' spellings are: 1 - slips / length of their closest spelling keys (see the module's
    text)."""
    best = 0.0
    for first_key, second_key in key_pairs(first, second):
        pair = sorted((first_key, second_key))
        # The plain similarity bounds the slip-counted one from above: a reading that cannot beat the best so
        # far is not counted (the slip count is a Python loop, long tags have up to four readings a side).
        if OSA.normalized_similarity(*pair) > best:
            best = max(best, key_similarity(*pair))
        if best == 1.0:
            return best
    return best


def key_pairs(first: str, second: str):
    """Each spelling key of one tag beside each of the other's; the tag typed with more words also read as one word
    typed whole (run_together_keys), where a space may have been left out (`ear ring` / `earring`)."""
    first_keys, second_keys = spelling_keys(first), spelling_keys(second)
    first_run_together, second_run_together = run_together_sides(first, second)
    if first_run_together:
        first_keys = tuple(dict.fromkeys(first_keys + run_together_keys(first)))
    elif second_run_together:
        second_keys = tuple(dict.fromkeys(second_keys + run_together_keys(second)))
    return ((a, b) for a in first_keys for b in second_keys)


def run_together_sides(first: str, second: str) -> tuple[bool, bool]:
    """Which of two tags is also read as its words run together (run_together_keys): the one typed with more words,
    where the other may have left a space out; neither where both have as many."""
    words = len(typed_words(first)) - len(typed_words(second))
    return words > 0, words < 0


@lru_cache(maxsize=200_000)
def typed_words(tag: str) -> tuple[str, ...]:
    """The tag's words as compared (typed, marks and apostrophes off): per tag once, however many pairs it is in."""
    return tuple(plain_words(typed(tag)))


def number_apart(first: str, second: str) -> bool:
    """Whether the two tags differ only in the number of a word before their last one (`leg up` / `legs up`, `arm
    behind back` / `arms behind back`), the last one's too or not (`hand on hip` / `hands on hips`). English marks a noun
    phrase's number on its last word (`dining tables`); a plural before it names something else, one leg raised or
    both, as Danbooru's distinct tags do, and so does one on each noun of a phrase, one hand on one hip or both (among
    Danbooru's 2,987 most used general tags and their aliases: 9 such pairs, all two tags; benchmarks/real_aliases.py).
    Not where two
    words side by side change (`robe rouge` / `robes rouges`: an adjective agreeing with its noun, as French marks
    both), nor two things listed (`cat & dog` / `cats & dogs`: a list of two in the number it is typed in), nor a slip
    besides."""
    words, others = typed_words(first), typed_words(second)
    if len(words) < 2 or len(words) != len(others):
        return False
    def alike(a: str, b: str, reading=as_typed) -> bool:  # as typed, or as American English spells both
        return any(folded_word(a, reading, american=american) == folded_word(b, reading, american=american)
                   for american in (False, True))

    changed = []
    for index, (a, b) in enumerate(zip(words, others)):
        if alike(a, b):
            continue
        if not any(alike(a, b, reading) for reading in PLURAL_READINGS):
            return False
        changed.append(index)
    if not changed or changed == [len(words) - 1]:  # nothing, or the phrase's own number (`dining tables`)
        return False
    return all(after - before > 1 and not LISTING.intersection(words[before + 1:after])
               for before, after in zip(changed, changed[1:]))


@lru_cache(maxsize=200_000)
def leetspeak_letters(tag: str) -> frozenset[str]:
    """The tag's letters as compared (typed_words joined) with its digits read as leetspeak's letters, a 1 as i and
    as l; its doubled letters kept (`100` is not `1000`)."""
    return frozenset(leetspeak_read("".join(typed_words(tag))))


def number_value(run: str) -> str:
    """A run of digits and marks (NUMBER) as the number it writes, its digits in any script read as 0-9. Of two
    kinds of mark the last is the decimal one (`1,000.50`, `1.000,50`), as is Arabic's decimal mark; one kind before
    groups of three digits groups thousands (`1,000` and `1.000` are `1000`); one mark before another count of
    digits is the decimal mark (`2,5` and `2.5` are `2.5`); several (`1.2.3`, a version or a date) stay."""
    digits = "".join(str(unicodedata.decimal(c)) if c.isdigit() else c for c in run)
    marks = [c for c in digits if c in NUMBER_MARKS]
    parts = re.split(f"[{NUMBER_MARKS}]", digits)
    if not marks:
        return digits
    if len(set(marks)) > 1 or "\u066b" in marks:
        return "".join(parts[:-1]) + "." + parts[-1]
    if all(len(part) == 3 for part in parts[1:]):
        return "".join(parts)
    return ".".join(parts)


def decimals_apart(first: str, second: str) -> bool:
    """Whether the two tags are one text once the marks between their digits are dropped (as the spelling keys drop
    them, for separators), and those marks make different numbers: `2.5d` / `25d`, `3.5mm` / `35mm`, `windows 8.1` /
    `windows 81`; not `1,000 yen` / `1000 yen` nor `2,5` / `2.5`. Only tags typed alike but for the marks: a point
    between leetspeak's digits (`b0.0ks`, `0.0`, `c.0.0.l`) is as much a separator as any."""
    a, b = typed(first), typed(second)
    if not (DECIMAL_MARK.search(a) or DECIMAL_MARK.search(b)) or DECIMAL_MARK.sub("", a) != DECIMAL_MARK.sub("", b):
        return False
    return [number_value(run) for run in NUMBER.findall(a)] != [number_value(run) for run in NUMBER.findall(b)]


@lru_cache(maxsize=200_000)
def numerals(tag: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The tag's digit runs (as their values, in any script's digits), those of them that are numbers (a digit
    leetspeak reads as no letter: 2, 6, 8, 9, `1980s`, `2girls`; the others may stand for letters, `c0at`, `gr4ss`,
    `100`), and the spelling keys of the tag with each run as one sign (`# yen`): the words around its numbers."""
    text = typed(tag)
    matches = [match.group() for match in DIGIT_RUNS.finditer(text)]
    runs = tuple("".join(str(unicodedata.decimal(digit)) for digit in run) for run in matches)
    numbers = tuple(value for run, value in zip(matches, runs) if not LEETSPEAK_DIGITS.issuperset(run))
    return runs, numbers, spelling_keys(DIGIT_RUNS.sub("#", text)) if runs else ()


def numerals_apart(first: str, second: str) -> bool:
    """Whether the two tags name different numbers: their numbers differ (`1980s` / `1990s`, `1girl` / `2girls`), or
    each has as many digit runs around the same words and the runs differ (`100 yen` / `1000 yen`, `100th` / `1000th`,
    `4girls` / `5girls`, `windows 7` / `windows 10`), or a point or comma between digits makes different numbers of
    tags typed alike besides (`2.5d` / `25d`: decimals_apart). Leetspeak, which reads digits as letters, makes `100` and `1000`
    one key; a digit for a letter is still leetspeak where the other tag has the letter, or the words around the
    digits differ (`c0at` / `coat`, `7-shirt` / `t-shirt`, `2girls` / `2g1rls`, `tabl3` / `tabl`, `h3l1o` /
    `he1l0`), and so is a digit where the other tag's digits read as the same letters (`70ols` / `7o0ls`; `1990s` /
    `199os`, a zero typed as an o)."""
    (runs, numbers, words), (other_runs, other_numbers, other_words) = numerals(first), numerals(second)
    if runs == other_runs:  # no digits on either side (most pairs), or the same runs: no mark sets them apart
        return False
    if decimals_apart(first, second):
        return True
    if not leetspeak_letters(first).isdisjoint(leetspeak_letters(second)):
        return False
    return numbers != other_numbers or (len(runs) == len(other_runs) and not set(words).isdisjoint(other_words))
