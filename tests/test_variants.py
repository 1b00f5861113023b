"""Variant discovery on synthetic embeddings with known truth; review.csv, aliases and the HTML report."""

import csv
import sys

import numpy as np
import pytest
from scipy import sparse

from tagger import runfolder
from tagger.cli import main
from tagger.errors import TaggerError
from tagger.runfolder import Manifest
from tagger.variants.evidence import tag_mean_embeddings
from tagger.variants.grouping import CombinedVariants, DBSCANVariants
from tagger.variants.review import (
    accepted_aliases,
    read_review,
    write_review,
)
from tagger.variants.evidence import CooccurrenceStats, candidate_pairs, spelling_candidate_pairs
from tagger.variants.rule import (GROUPS_DISAGREE, IMAGES_DIFFER, NEVER_TOGETHER, SPELLED_ALIKE, SPELLING_ONLY,
                                  TYPED_TOGETHER)
from tagger.variants.spelling import spelling_key, spelling_similarity
from tagger.variants.words import SLIP_ZIPF, WORD_ZIPF, listed_zipf, slips_of_words, tag_words


def test_spelling_undoes_leetspeak_plurals_doubling_and_separators():
    assert {spelling_key(tag) for tag in ["pr0gramm", "programm", "program", "Pro-Grams"]} == {"program"}
    assert spelling_similarity("pr0gramm", "program") == 1.0
    # A 1 is an i or an l: both readings.
    assert spelling_similarity("p1nk", "pink") == spelling_similarity("ye11ow", "yellow") == 1.0
    assert spelling_similarity("b1ouse", "blouse") == spelling_similarity("m1lk", "milk") == 1.0
    assert spelling_similarity("sqaure", "square") == pytest.approx(5 / 6)  # one transposition
    assert spelling_similarity("cat", "car") == pytest.approx(2 / 3)  # r and t are neighbouring keys
    # A final s is not always a plural: `gras` is a slip for `grass` (one s dropped), not the plural of `gra`.
    assert spelling_similarity("gras", "grass") == spelling_similarity("dres", "dress") == 1.0
    assert spelling_similarity("glasses", "glass") == 1.0
    # -es after a word's own s, z or o is read both ways: bus + es and house + s.
    assert spelling_similarity("bus", "buses") == spelling_similarity("bu5", "buses") == 1.0
    assert spelling_similarity("tomato", "tomatoes") == spelling_similarity("quiz", "quizzes") == 1.0
    assert spelling_similarity("house", "houses") == spelling_similarity("shoe", "shoes") == 1.0
    assert spelling_similarity("wine glass", "wine glasses") == 1.0
    # A final s after i or u, and -ies after a word's own -ie, read both ways: `tennis` as typed, `bikinis` and `menus`
    # as plurals; `movies` as movie + s beside -ies for y (`parties`).
    assert spelling_similarity("bikini", "bikinis") == spelling_similarity("menu", "menus") == 1.0
    assert spelling_similarity("hoodie", "hoodies") == spelling_similarity("c00kie", "cookies") == 1.0
    assert spelling_similarity("party", "parties") == spelling_similarity("virus", "viruses") == 1.0
    assert spelling_similarity("t–shirt", "t-shirt") == spelling_similarity("t—shirt", "t shirt") == 1.0
    # Doubled letters are undone word by word: across the words' meeting they would join distinct tags (`print
    # t-shirt` / `print shirt`, `bus stop` / `bus top`, the emoticons `^_^` / `^^^`).
    assert max(spelling_similarity("print t-shirt", "print shirt"), spelling_similarity("bus stop", "bus top"),
               spelling_similarity("^_^", "^^^")) < 0.95
    # ... but a space left out where two words meet on one letter is one tag typed whole (Danbooru's aliases).
    assert spelling_similarity("ear ring", "earring") == spelling_similarity("highheels", "high heels") == 1.0
    assert spelling_similarity("thigh highs", "thighhighs") == spelling_similarity("bus stop", "busstop") == 1.0
    # Letters are doubled by a slip; a sign typed twice is meant so (`!` / `!!`, distinct tags on Danbooru).
    assert spelling_similarity("!", "!!") < 0.6 and spelling_similarity("^^", "^^^") < 0.95
    assert spelling_similarity("^^ ^^", "^^^") < 0.95  # nor where two words meet
    # A British spelling is the American one (breame's list): as typed, and in a phrase or a plural.
    assert spelling_similarity("grey hair", "gray hair") == spelling_similarity("colours", "color") == 1.0
    assert spelling_similarity("aeroplane", "airplanes") == spelling_similarity("jewellery", "jewelry") == 1.0
    assert spelling_similarity("aestheticaly", "aesthetically") == 1.0  # a reading beside the word as typed
    # ... read after the word's own slips and plural, and on its letters between apostrophes; not a list's entry that
    # pairs two words (a love potion is no filter)
    assert spelling_similarity("colourr", "color") == spelling_similarity("colour's", "color's") == 1.0
    assert spelling_similarity("philtre", "filter") < 0.6
    # Not f to -ves: which words take it is a list, and `caves` is no plural of `cafe`. English's irregular plurals
    # are that list, alone and ending a compound after a word of its own (not `omen`, `ramen`, `dolmen`).
    assert spelling_similarity("caves", "cafe") < 0.8
    assert spelling_similarity("knives", "knife") == spelling_similarity("people", "person") == 1.0
    assert spelling_similarity("barefeet", "barefoot") == 1.0  # ending a compound, as `snowmen`
    assert spelling_similarity("mice", "mouse") == spelling_similarity("cacti", "cactus") == 1.0
    assert spelling_similarity("snowmen", "snowman") == spelling_similarity("police women", "policewoman") == 1.0
    assert spelling_similarity("bookshelves", "bookshelf") == spelling_similarity("wolves", "wolf") == 1.0
    # A further reading, beside the regular one: `lives` is life, and live + s.
    assert spelling_similarity("lives", "life") == spelling_similarity("lives", "live") == 1.0
    assert max(spelling_similarity("omen", "oman"), spelling_similarity("ramen", "raman"),
               spelling_similarity("dolmen", "dolman")) < 0.8


def test_spelling_undoes_accents_typed_without_the_key_and_keeps_other_scripts_marks():
    assert spelling_similarity("pokémon", "pokemon") == 1.0
    assert spelling_similarity("árbol", "arbol") == 1.0
    assert spelling_similarity("smørrebrød", "smorrebrod") == 1.0
    assert spelling_similarity("ｐｏｋｅｍｏｎ", "Pokemon") == 1.0  # full-width letters
    # An umlaut is typed without its key as ue or as u: both forms count.
    assert spelling_similarity("schüssel", "schuessel") == 1.0
    assert spelling_similarity("über", "uber") == 1.0
    assert spelling_similarity("straße", "strasse") == 1.0
    # An apostrophe beside a letter is left out as often as typed; one inside an emoticon stays.
    assert spelling_similarity("rock'n'roll", "rock n roll") == 1.0
    # An & is the word and, written out or spoken short; kept as typed too.
    assert spelling_similarity("black & white", "Black_and_White") == spelling_similarity("r&b", "rnb") == 1.0
    assert spelling_similarity("rock & roll", "rock'n'roll") == 1.0
    assert spelling_similarity("fish & chips", "fish and chips") == 1.0
    assert spelling_similarity("r&b", "rb") < 0.7
    assert spelling_similarity("girls' frontline", "girls frontline") == 1.0
    assert spelling_key(":'(") == ":'(" and spelling_similarity(":'(", ":(") < 0.7
    assert spelling_similarity(":'d", ":d") < 0.7
    assert spelling_similarity("rock´n´roll", "rock'n'roll") == 1.0  # ´ typed for the apostrophe
    # A kana's voicing mark makes another kana: not an accent.
    assert spelling_similarity("か", "が") == 0.0
    # Blocking finds the pairs through either key.
    pairs = {tuple(sorted(("gebäude", "gebaeude", "über", "uber", "árbol", "arbol", "tree")[i] for i in pair))
             for pair in spelling_candidate_pairs(["gebäude", "gebaeude", "über", "uber", "árbol", "arbol", "tree"])}
    assert pairs == {("gebaeude", "gebäude"), ("uber", "über"), ("arbol", "árbol")}


def test_a_second_name_typed_beside_the_first_stays_a_candidate_though_the_overlap_ranks_it_last():
    """`tuer` is typed beside `door` on 50 of its 60 images and alone on 10; `door` alone on 50 more. Three other
    tags sit further from `door` in the images and share none of its images, so the overlap penalty of the ranking
    (cosine x (1 - 50/60)^2) puts all three before `tuer`, and with two neighbours kept `tuer` would be no candidate.
    It is one of `door`'s most alike partners that it could be named twice with, and is kept besides. `vintage`,
    on 8 of the door images and no other, never names an image without `door`: not one it could be named twice
    with, and ranked last."""
    vocabulary = ["door", "tuer", "gate", "wall", "window", "vintage"]
    vectors = np.array([[1, 0, 0, 0], [1, 0.05, 0, 0], [1, 0.9, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1.2], [1, 0.02, 0, 0]])
    image_tags = [["door", "tuer"]] * 50 + [["door"]] * 42 + [["door", "vintage"]] * 8 + [["tuer"]] * 10 + \
        [["gate"]] * 20 + [["wall"]] * 20 + [["window"]] * 20
    tag_images = Manifest([], [], [list(tags) for tags in image_tags], []).tag_image_matrix(vocabulary)
    cooccurrence = CooccurrenceStats.from_tag_images(tag_images)
    pairs = {(vocabulary[a], vocabulary[b]) for a, b in candidate_pairs(vectors, vocabulary, 2, cooccurrence)}
    assert ("door", "tuer") in pairs
    assert ("door", "vintage") not in pairs and ("door", "gate") in pairs and ("door", "wall") in pairs


def test_a_slip_is_one_slip_from_a_word_of_some_language_and_itself_no_word():
    vocabulary = ["window", "windw", "Building", "BUIDING", "road", "rod", "roa", "table", "tabel", "atble",
                  "shirt lift", "skirt lift", "long hair", "long hiar", "asuka", "asuna", "grass", "gass", "c4r", "car",
                  "árbol", "arbl", "window", "wndw", "rosin", "eosin", "whole", "who'll", "sagen", "saegen",
                  "wall", "awll", "sky", "ksy", "skies", "windows", "gra55", "grss", "1girl", "girl", "ye11ow",
                  "yellwo"]
    pairs = [(0, 1), (2, 3), (4, 5), (4, 6), (7, 8), (7, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19),
             (20, 21), (22, 23), (24, 25), (26, 27), (28, 29), (30, 31), (32, 33), (34, 33), (35, 1), (36, 37),
             (38, 39), (40, 41)]
    slips = {(vocabulary[a], vocabulary[b]) for (a, b), slip in slips_of_words(vocabulary, pairs).items() if slip}
    assert slips == {("window", "windw"), ("Building", "BUIDING"), ("table", "atble"), ("long hair", "long hiar"),
                     ("árbol", "arbl"), ("wall", "awll"), ("windows", "windw"), ("gra55", "grss"),
                     ("ye11ow", "yellwo")}
    # The word may be typed in leetspeak (gra55 is grass, ye11ow yellow, its 1 an l). Not: two words (rod, shirt lift;
    # tabel is Dutch, gass Norwegian; roa), two names, a tag of three letters (ksy: no word, one slip from sky; nor
    # from skies, sky with a plural: a slip of one is one of the other), a slip with digits (1girl may be a number;
    # c4r / car: leetspeak, which the key undoes), two slips (wndw), a rare word (eosin), words listed with an
    # apostrophe (who'll) or an umlaut (sägen, typed saegen) and asked about as tags write them.
    assert tag_words("Árbol_Grande") == ("arbol", "grande") and tag_words("c4r") is None
    zipf = listed_zipf(["window", "buiding", "windw", "schussel", "eosin"])
    assert zipf["window"] >= WORD_ZIPF and zipf["schussel"] >= WORD_ZIPF  # schüssel, typed without its marks
    assert zipf["windw"] == 0 and zipf["buiding"] < SLIP_ZIPF  # text holds slips too, rarely (1.3 in English)
    assert SLIP_ZIPF <= zipf["eosin"] < WORD_ZIPF  # a rare word: neither a word nor a slip, eosin / rosin says nothing


def test_a_slip_is_judged_in_the_collections_languages():
    """Where the collection's languages are known, a word is a word of one of them: a tag listed only in other
    languages, one slip from a word of the collection, is a slip that spells a word elsewhere (`fenc`, Catalan, beside
    `fence`) or that word in another language (`tabel`, Dutch for table): one concept either way. In a collection
    written in Dutch too, `tabel` is a word of it, and two words of the language are no slip but two words. A word
    listed in the collection's language under the word cut-off is neither (`gass`, English 2.4), and a word of
    another language only is no word side (`tisch`, German, beside `tisc`)."""
    from tagger.variants.canonical import CanonicalRanks
    from tagger.variants.words import slip_links

    dutch = ["hond", "kat", "boom", "lucht", "huis", "straat", "tafel", "stoel", "raam", "wolk", "water", "deur"]
    asked = [("fence", "fenc"), ("table", "tabel"), ("grass", "gass"), ("tisch", "tisc"), ("window", "windw")]
    found = {}
    for name, tags in (("english", ENGLISH_TAGS), ("english and dutch", ENGLISH_TAGS + dutch)):
        vocabulary = tags + ["fence", "fenc", "tabel", "gass", "tisch", "tisc", "windw"]
        ranks = CanonicalRanks(vocabulary, [100] * len(vocabulary))
        pairs = [(vocabulary.index(a), vocabulary.index(b)) for a, b in asked]
        slip, apart = slip_links(vocabulary, pairs, ranks.written_in_language, languages=ranks.languages())
        found[name] = (ranks.languages(), [(slip[pair], apart[pair]) for pair in pairs])
    assert found["english"] == ({"en"}, [(True, False), (True, False), (False, False), (False, False), (True, False)])
    assert found["english and dutch"] == ({"en", "nl"}, [(True, False), (False, True), (False, False), (False, False),
                                                         (True, False)])
    # Without the languages (slips_of_words), a word of any language is a word: `fenc` and `tabel` are no slips.
    vocabulary = ["fence", "fenc", "table", "tabel"]
    assert slips_of_words(vocabulary, [(0, 1), (2, 3)]) == {(0, 1): False, (2, 3): False}


def test_a_missing_word_list_package_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # import wordfreq raises ImportError
    with pytest.raises(TaggerError, match="pip install"):
        listed_zipf(["an unasked word"])


def test_a_slip_of_the_finger_counts_once_another_letter_twice():
    # Slips: a dropped letter, a swap of neighbours, a neighbouring key (s for a): one edit each.
    assert spelling_similarity("window", "windw") == pytest.approx(5 / 6)
    assert spelling_similarity("tabel", "table") == pytest.approx(4 / 5)
    assert spelling_similarity("progrsm", "program") == pytest.approx(6 / 7)
    assert spelling_similarity("progrpm", "program") == pytest.approx(5 / 7)  # p is far from a
    # Another letter far from it on the keyboard is another word more often than a slip (Danbooru's distinct
    # `shirt lift` / `skirt lift`, `black robe` / `black rose`): it costs two, as writing a different letter does.
    assert spelling_similarity("shirt lift", "skirt lift") == pytest.approx(7 / 9)
    assert spelling_similarity("black robe", "black rose") == pytest.approx(7 / 9)
    assert spelling_similarity("cup", "cap") == pytest.approx(1 / 3)
    # y and z trade places on German keyboards.
    assert spelling_similarity("yebra", "zebra") == pytest.approx(4 / 5)
    # Symmetric, and unrelated spellings stay at the plain edit distance (they count nothing either way).
    assert spelling_similarity("skirt lift", "shirt lift") == spelling_similarity("shirt lift", "skirt lift")
    assert spelling_similarity("tree", "banana") == 0.0


def synthetic_collection(seed=0):
    """Images of 5 concepts; 'dog' is spelled dog/dogs/d0g, 'car' car/auto; 'wheel' rides with 'car'."""
    random = np.random.default_rng(seed)
    centres = {name: random.normal(size=64) for name in ["dog", "cat", "car", "tree", "sky"]}
    spellings = {"dog": ["dog", "dogs", "d0g"], "car": ["car", "auto"]}
    embeddings, image_tags = [], []
    for index in range(600):
        concepts = random.choice(list(centres), size=2, replace=False)
        embeddings.append(sum(centres[c] for c in concepts) + random.normal(scale=0.8, size=64))
        tags = [random.choice(spellings.get(c, [c])) for c in concepts]
        if "car" in concepts:
            tags.append("wheel")  # travels with car: same images, never a variant
        image_tags.append(tags)
    return np.array(embeddings, np.float32), image_tags


def fit_combined(rejected=frozenset(), accepted=frozenset()):
    embeddings, image_tags = synthetic_collection()
    counts = {}
    for tags in image_tags:
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    vocabulary = sorted(counts, key=lambda tag: (-counts[tag], tag))
    tag_images = Manifest([], [], image_tags, []).tag_image_matrix(vocabulary)
    vectors = tag_mean_embeddings(tag_images, embeddings, center=True)
    model = CombinedVariants().fit(vectors, vocabulary, [counts[t] for t in vocabulary], tag_images, rejected,
                                   accepted_pairs=accepted)
    return model, vectors, vocabulary, [counts[t] for t in vocabulary]


def test_combined_groups_variants_but_not_tags_that_travel_together():
    model, vectors, vocabulary, counts = fit_combined()
    assert sorted(sorted(group.members) for group in model.groups_) == [["auto", "car"], ["d0g", "dog", "dogs"]]
    # The baseline cannot tell wheel from car: their mean embeddings are the same.
    baseline = DBSCANVariants().fit(vectors, vocabulary, counts)
    assert any({"car", "wheel"} <= set(group.members) for group in baseline.groups_)


def test_canonical_is_the_most_used_spelling_of_the_language_and_evidence_is_kept():
    model, _, vocabulary, counts = fit_combined()
    used = {tag: counts[vocabulary.index(tag)] for tag in ["dog", "dogs", "d0g"]}
    assert max(used, key=used.get) == "d0g"  # leetspeak typed on more images than either word
    dog = next(group for group in model.groups_ if "dogs" in group.members)
    assert dog.canonical == max(["dog", "dogs"], key=used.get)  # never renamed to leetspeak
    assert dog.counts[1:] == sorted(dog.counts[1:], reverse=True)
    assert all(score >= 0.5 for score in dog.scores[1:])
    assert all(overlap == 0.0 for overlap in dog.evidence.overlap[1:])


ENGLISH_TAGS = ["person", "car", "tree", "sky", "building", "window", "road", "grass", "table", "chair", "door",
                "floor", "light", "cloud", "water", "street", "house", "dog", "cat", "wall"]
GERMAN_TAGS = ["hund", "katze", "baum", "himmel", "haus", "strasse", "tisch", "stuhl", "fenster", "wolke", "wasser",
               "boden", "licht", "wand", "programm", "lustig", "schwarz", "auto", "dog", "cat"]


def ranked(tags_and_counts: dict[str, int], pairs) -> list[list[str]]:
    from tagger.variants.canonical import CanonicalRanks

    vocabulary = list(tags_and_counts)
    ranks = CanonicalRanks(vocabulary, list(tags_and_counts.values()))
    return [[vocabulary[index] for index in ranks.ordered([vocabulary.index(tag) for tag in pair])] for pair in pairs]


def test_the_canonical_is_written_in_the_collections_language_then_the_most_used():
    """A typo or leetspeak typed on more images than the word (a concept's images split at random give it the larger
    share as often as not) is never the canonical: accepting the merge would rename the collection's tags to it. A
    word of another language is no word of this collection (`dor` is Portuguese, `decke` German); between two words
    of the language, or two spellings of none, the collection's own preference: the most used."""
    english = {**{tag: 500 - 10 * rank for rank, tag in enumerate(ENGLISH_TAGS)},
               "wwall": 900, "dor": 800, "c3iling": 700, "ceiling": 20, "decke": 600, "trees": 650,
               "asuka": 30, "asuka langley": 40}
    assert ranked(english, [("wall", "wwall"), ("door", "dor"), ("ceiling", "c3iling", "decke"), ("tree", "trees"),
                            ("asuka", "asuka langley")]) == [
        ["wall", "wwall"], ["door", "dor"], ["ceiling", "c3iling", "decke"], ["trees", "tree"],
        ["asuka langley", "asuka"]]
    # A German collection keeps its own word; English loanwords among its tags do not make it English.
    german = {**{tag: 500 - 10 * rank for rank, tag in enumerate(GERMAN_TAGS)}, "pr0gramm": 900}
    assert ranked(german, [("programm", "pr0gramm")]) == [["programm", "pr0gramm"]]


def test_a_few_short_words_most_used_in_another_language_do_not_make_it_the_collections():
    """In a collection of nine English tags, `door` is most used in Dutch text and `cat` in Romanian: one tag each is
    the noise of short words, not a language the collection is written in; `dor`, listed in French and Dutch at Zipf
    3.1, is still no word of it. A collection written in another script has no language: the most used names a group."""
    from tagger.variants.canonical import CanonicalRanks

    small = ["door", "cat", "car", "tree", "sky", "house", "window", "table", "chair", "dor"]
    ranks = CanonicalRanks(small, [100] * 9 + [500])
    assert ranks.languages() == {"en"}
    assert [small[index] for index in ranks.ordered([0, 9])] == ["door", "dor"]
    japanese = ["猫", "犬", "空", "木", "家", "車", "窓", "机", "椅子", "道", "草", "水", "cat", "sky"]
    ranks = CanonicalRanks(japanese, [500] + [100] * 12 + [20])
    assert ranks.languages() == frozenset()
    assert [japanese[index] for index in ranks.ordered([12, 0])] == ["猫", "cat"]


def test_a_collection_written_in_two_languages_keeps_either_languages_words():
    from tagger.variants.canonical import CanonicalRanks

    mixed = ENGLISH_TAGS[:12] + GERMAN_TAGS[:12]
    ranks = CanonicalRanks(mixed, [100] * len(mixed))
    assert {"en", "de"} <= ranks.languages()
    only_english = CanonicalRanks(ENGLISH_TAGS + ["hund"], [100] * len(ENGLISH_TAGS) + [1])
    assert only_english.languages() == {"en"} and not only_english.written_in_language("hund")


def test_a_tag_typed_without_its_space_beside_those_words_but_one_is_its_words_not_a_slip():
    """`bellcollar` is no word of any list, and one slip from `belt collar`: read as a slip of it, the pair was merged
    on spelling alone (Danbooru: `neck bell` and `belt collar` are two tags). Its letters are two words of the
    collection's language, bell collar, one of them `belt collar`'s in its place: beside it, two words. Asked of the
    pair: `preson` splits into pre son, which shares no word with `old person`, and stays a slip of `person`; a slip
    that splits into no two such words (`windw`, `clevage`) is still a slip."""
    from tagger.variants.canonical import CanonicalRanks
    from tagger.variants.words import one_slip_apart, slip_links, spelled_out, word_splits

    assert word_splits("redeyes") == ["red eyes", "rede yes"]
    vocabulary = ENGLISH_TAGS + ["bellcollar", "belt collar", "clevage", "cleavage", "windw", "preson", "person",
                                 "old person"]
    ranks = CanonicalRanks(vocabulary, [100] * len(vocabulary))
    index = {tag: position for position, tag in enumerate(vocabulary)}
    pairs = [(index[a], index[b]) for a, b in [("bellcollar", "belt collar"), ("clevage", "cleavage"),
                                                ("window", "windw"), ("preson", "person"), ("preson", "old person")]]
    assert spelled_out(vocabulary, pairs, ranks.written_in_language, ranks.read_ahead) == {pairs[0]: "bell collar"}
    slip, apart = slip_links(vocabulary, pairs, ranks.written_in_language, read_ahead=ranks.read_ahead)
    assert [slip[pair] for pair in pairs[:4]] == [False, True, True, True]
    assert [apart[pair] for pair in pairs[:4]] == [True, False, False, False]
    # Without the collection's language (spelling_slips.py's words), no tag is read so: a slip as before.
    assert slip_links(vocabulary, pairs)[0][pairs[0]]
    # One slip is counted on the readings spelling_similarity compares, a space left out included.
    assert one_slip_apart("thigh highs", "thighhihs") and one_slip_apart("high heels", "highheesl")


def test_two_words_of_the_collections_language_near_in_spelling_are_not_merged_on_spelling_alone():
    """`white pants` / `white panties` (Danbooru: two concepts) spell 0.9 apart, as a typo of a long tag does; a slip
    that spells another word of the language is another word more often than a slip, and two slips that each do
    (`shirt lift` / `skirt lift`, a letter far on the keyboard; `censored` / `uncensored`) more often still. The
    spelling adds to what the images say, and alone proposes nothing: the pair is listed as spelled alike."""
    from tagger.variants.canonical import CanonicalRanks
    from tagger.variants.rule import PairEvidence
    from tagger.variants.words import words_apart

    vocabulary = ENGLISH_TAGS + ["white pants", "white panties", "stairs", "stars", "windw", "tabel", "shirt lift",
                                 "skirt lift", "censored", "uncensored", "wndow", "g1rl", "girl"]
    ranks = CanonicalRanks(vocabulary, [100] * len(vocabulary))
    index = {tag: position for position, tag in enumerate(vocabulary)}
    pairs = [(index[a], index[b]) for a, b in [("white pants", "white panties"), ("stairs", "stars"),
                                                ("shirt lift", "skirt lift"), ("censored", "uncensored"),
                                                ("window", "windw"), ("table", "tabel"), ("windw", "wndow"),
                                                ("g1rl", "girl")]]
    apart = words_apart(vocabulary, pairs, ranks.written_in_language)
    assert [apart[pair] for pair in pairs] == [True, True, True, True, False, False, False, False]
    # Not: a slip of a word (windw), a word of another language (tabel, Dutch, in an English collection), two slips
    # of one word, a tag in leetspeak (written as typed, no word of the language).

    def evidence(words_apart):
        return PairEvidence(first=np.array([0]), second=np.array([1]), visual=np.array([0.0]),
                            context=np.array([0.0]), spelling=np.array([0.9]), overlap=np.array([0.0]),
                            words_apart=words_apart)

    assert evidence(None).scores()[0] == pytest.approx(0.6 * (0.9 - 0.6) / 0.35)  # proposed on spelling, flagged
    two_words = evidence(np.array([1.0]))
    assert two_words.scores()[0] == 0.0 and two_words.flags(0.5) == [SPELLED_ALIKE]


def test_a_word_before_the_last_in_another_number_is_not_merged_on_spelling_alone():
    """English marks a tag's number on its last word (`dining tables`); a plural before it names another thing:
    Danbooru's `leg up` / `legs up` (one leg raised or both), `arm behind back` / `arms behind back`, one spelling key
    once plurals are undone. The spelling adds to what the images say, and alone proposes nothing; the plural of the
    last word is proposed on spelling as before (flagged)."""
    from tagger.variants.evidence import pair_evidence
    from tagger.variants.spelling import number_apart

    assert number_apart("leg up", "legs up") and number_apart("Arms_Behind_Back", "arm behind back")
    assert number_apart("l3gs up", "leg up") and number_apart("feet up", "foot up")  # leetspeak, irregular plurals
    assert not number_apart("dining table", "dining tables")  # the last word's number: a plural
    assert not number_apart("robe rouge", "robes rouges")  # French marks both words
    # Each noun of a phrase in its own number: one hand on one hip or both (Danbooru's distinct tags); a list of two
    # is typed in one number.
    assert number_apart("hand on hip", "hands on hips") and number_apart("arms at sides", "arm at side")
    assert not number_apart("cat & dog", "cats & dogs") and not number_apart("cat and dog", "cats and dogs")
    assert not number_apart("cat or dog", "cats or dogs") and not number_apart("cat vs dog", "cats vs dogs")
    assert number_apart("grey leg up", "gray legs up")  # the other words alike as American English spells them
    assert not number_apart("legs up", "leg uo") and not number_apart("legs up", "leggs up")  # a slip; one number
    assert not number_apart("cat", "cats") and not number_apart("leg up", "leg up")

    vocabulary = ["leg up", "legs up", "dining table", "dining tables"]
    # Each tag on images of its own, and images that say nothing (every embedding the same): spelling alone.
    image_tags = [[tag] for tag in vocabulary for _ in range(10)]
    tag_images = Manifest([], [], image_tags, []).tag_image_matrix(vocabulary)
    vectors = tag_mean_embeddings(tag_images, np.ones((len(image_tags), 4), np.float32), center=True)
    evidence = pair_evidence([0, 2], [1, 3], vectors, vocabulary, CooccurrenceStats.from_tag_images(tag_images))
    assert evidence.number_apart.tolist() == [1.0, 0.0] and evidence.spelling.tolist() == [1.0, 1.0]
    assert evidence.scores().tolist() == [0.0, 0.6]
    assert evidence.flags(0.5) == [SPELLED_ALIKE, SPELLING_ONLY]


def test_tags_naming_different_numbers_are_no_spelling_variants():
    """Digits are read as letters (leetspeak) to undo `c0at`, and so `100 yen` and `1000 yen` became one spelling key,
    `1980s` / `1990s` and `4girls` / `5girls` one slip apart: distinct tags, alike in images, that spelling would have
    proposed. Where the tags name different numbers their spelling links them not at all; a digit for a letter is
    still leetspeak."""
    from tagger.variants.evidence import pair_evidence
    from tagger.variants.spelling import numerals_apart

    def apart(first, second):
        assert numerals_apart(first, second) == numerals_apart(second, first)  # whichever tag comes first
        return numerals_apart(first, second)

    assert apart("100 yen", "1000 yen") and apart("1980s", "1990s") and apart("2000s", "20s") and apart("ps4", "ps5")
    assert apart("4girls", "5girls") and apart("1girl", "2girls") and apart("Windows_7", "windows 10")
    assert apart("100th", "1000th") and apart("top10", "top100") and apart("4koma", "44koma")  # runs around one word
    assert apart("١٩٨٠s", "١٩٩٠s")  # Arabic-Indic digits are numbers too
    assert not apart("c0at", "coat") and not apart("gr4ss", "gra55") and not apart("gra55", "grss")  # letters
    assert not apart("2girls", "2g1rls") and not apart("tabl3", "tabl") and not apart("7-shirt", "t-shirt")
    assert not apart("0-ring bikini", "o-ring bikini") and not apart("1 love you", "i love you")
    assert not apart("h3l1o", "he1l0") and not apart("70ols", "7o0ls")  # leetspeak both, other letters or the same
    assert not apart("1 girl", "1girl") and not apart("1girl", "girl") and not apart("1990s", "199os")
    assert not apart("１９８０ｓ", "1980s")  # full-width digits are the plain ones
    # A point or comma between digits is part of the number, not a separator the spelling drops.
    assert apart("2.5d", "25d") and apart("3.5mm", "35mm") and apart("windows 8.1", "windows 81")
    assert apart("v1.2", "v12") and apart("10.5", "105") and apart("1.2.3", "1.2.4") and apart("١٫٥", "١٥")
    assert not apart("1.5", "1,5") and not apart("1,000 yen", "1000 yen") and not apart("1.000", "1000")
    assert not apart("1,000.50", "1000.50") and not apart("١٫٥", "١.٥") and not apart("web 2.0", "web 2")
    # A point between leetspeak's digits, or between digits the other tag separates otherwise, is a separator.
    assert not apart("0_0", "0.0") and not apart("0.0", "o.o") and not apart("b0.0ks", "books")
    assert not apart("c.0.0.l", "cool") and not apart("1, 2, 3", "1,2,3") and not apart("^0.0^", "^o.o^")

    vocabulary = ["1980s", "1990s", "100 yen", "1000 yen", "c0at", "coat"]
    # Each tag on images of its own, and images that say nothing (every embedding the same): spelling alone.
    image_tags = [[tag] for tag in vocabulary for _ in range(10)]
    tag_images = Manifest([], [], image_tags, []).tag_image_matrix(vocabulary)
    vectors = tag_mean_embeddings(tag_images, np.ones((len(image_tags), 4), np.float32), center=True)
    evidence = pair_evidence([0, 2, 4], [1, 3, 5], vectors, vocabulary, CooccurrenceStats.from_tag_images(tag_images))
    assert evidence.numerals_apart.tolist() == [1.0, 1.0, 0.0] and evidence.spelling.tolist() == [0.6, 1.0, 1.0]
    assert evidence.spelled().tolist() == [0.0, 0.0, 1.0] and evidence.scores().tolist() == [0.0, 0.0, 0.6]
    assert evidence.flags(0.5) == ["", "", SPELLING_ONLY]


def test_rejected_pairs_are_not_proposed_again():
    model, *_ = fit_combined(rejected={frozenset(("car", "auto"))})
    assert sorted(sorted(group.members) for group in model.groups_) == [["d0g", "dog", "dogs"]]


def test_a_pair_a_person_accepted_joins_first_whatever_it_scores():
    # d0g is one tag with dog and with dogs; once dog / dogs is rejected it can join only one of them. The scores pick
    # one; the person's acceptance of the other wins over them, on any machine's scores.
    model, *_ = fit_combined(rejected={frozenset(("dog", "dogs"))})
    (joined,) = [group for group in model.groups_ if "d0g" in group.members]
    (other,) = {"dog", "dogs"} - set(joined.members)
    model, *_ = fit_combined(rejected={frozenset(("dog", "dogs"))}, accepted={frozenset(("d0g", other))})
    assert sorted(sorted(group.members) for group in model.groups_) == [["auto", "car"], sorted(["d0g", other])]


def test_where_two_merges_on_spelling_alone_cannot_both_hold_the_main_spelling_keeps_its_own():
    """`vases` is one spelling key with `vase`, and (read as -es) with `vas`, a word one slip from `vase`: vase / vas
    proposes nothing on spelling (two words), so vases joins one of them. Every merge on spelling alone scores 0.6;
    the tie goes to the likelier canonical (`vase`, the most used word), whatever order the tags were read in."""
    from tagger.variants.rule import GROUPS_DISAGREE

    counts = {"vase": 40, "vases": 20, "vas": 15, "v4se": 15}
    for spellings in (["vase", "vases", "vas", "v4se"], ["vas", "v4se", "vases", "vase"]):
        vocabulary = spellings + ENGLISH_TAGS
        tag_counts = [counts.get(tag, 30) for tag in vocabulary]
        tag_images = disjoint_tag_images(tag_counts)
        # Images that say nothing (every embedding the same): spelling alone.
        vectors = tag_mean_embeddings(tag_images, np.ones((tag_images.shape[1], 4), np.float32), center=True)
        model = CombinedVariants().fit(vectors, vocabulary, tag_counts, tag_images)
        assert [group.members for group in model.groups_] == [["vase", "vases", "v4se"]]
        assert ("vases", "vas", GROUPS_DISAGREE) in [(miss["canonical"], miss["variant"], miss["flag"])
                                                    for miss in model.near_misses_]


def write_review_rows(path, rows):
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["group", "canonical", "variant", "decision"])
        writer.writerows(rows)
    # apply_review checks every accepted variant against the vocabulary prepare.py wrote
    runfolder.write_vocabulary(path.parent, [(tag, 1) for tag in sorted({row[2] for row in rows} | {row[1] for row in rows})])


def test_accepted_rows_become_aliases_with_chains_resolved(tmp_path):
    write_review_rows(tmp_path / "review.csv", [(1, "b", "a", "accept"), (2, "c", "b", "Accept"),
                                                (3, "x", "y", "reject"), (4, "p", "q", "")])
    assert accepted_aliases(tmp_path) == {"a": "c", "b": "c"}


def test_conflicting_and_cyclic_decisions_are_refused(tmp_path):
    write_review_rows(tmp_path / "review.csv", [(1, "b", "a", "accept"), (2, "c", "a", "accept")])
    with pytest.raises(TaggerError, match="line 3: 'a' is accepted as a variant of both 'b' \\(line 2\\) and 'c'; reject one of them"):
        accepted_aliases(tmp_path)
    write_review_rows(tmp_path / "review.csv", [(1, "b", "a", "accept"), (2, "a", "b", "accept")])
    with pytest.raises(TaggerError, match="cycle: a -> b -> a"):
        accepted_aliases(tmp_path)
    write_review_rows(tmp_path / "review.csv", [(1, "b", "a", "maybe")])
    with pytest.raises(TaggerError, match="line 2: decision must be accept or reject"):
        accepted_aliases(tmp_path)


def test_review_is_spreadsheet_safe_and_reads_back_unescaped(tmp_path):
    model, *_ = fit_combined()
    group = model.groups_[0]
    group.members[1] = "=HYPERLINK(1)"
    group.similarities[1] = -0.25  # a measure below 0: a number to a spreadsheet, sorted as one (it was '-0.2500)
    write_review(tmp_path, [group], {})
    raw = (tmp_path / "review.csv").read_text()
    assert ",'=HYPERLINK(1)," in raw and ",-0.2500," in raw
    assert read_review(tmp_path / "review.csv")[0]["variant"] == "=HYPERLINK(1)"


def test_apply_review_command_writes_aliases_and_remembers_rejections(tmp_path, capsys):
    write_review_rows(tmp_path / "review.csv", [(1, "red", "r3d", "accept"), (1, "red", "rot", "reject")])
    assert main("apply_review", ["--paths.run_dir", str(tmp_path)]) == 0
    assert (tmp_path / "aliases.txt").read_text().splitlines()[-1] == "alias r3d -> red"
    assert (tmp_path / "rejected.csv").read_text() == "tag,other_tag\nred,rot\n"
    assert "1 accepted merge in" in capsys.readouterr().out


def test_apply_review_before_cluster_tags_names_the_step(tmp_path, capsys):
    assert main("apply_review", ["--paths.run_dir", str(tmp_path)]) == 1
    assert "review.csv is missing: run cluster_tags.py first" in capsys.readouterr().err


def test_report_escapes_tags_and_paths(tmp_path):
    from tagger.variants.synonyms_page import write_synonyms_page

    model, *_ = fit_combined()
    group = model.groups_[0]
    group.members[1] = "<script>alert(1)</script>"
    manifest = runfolder.Manifest(["a"], [str(tmp_path / "missing<b>.png")], [[group.members[1]]], ["train"])
    write_synonyms_page(tmp_path, [group], manifest, "combined")
    page = (tmp_path / "synonyms.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_near_miss_never_repeats_a_rejected_decision_through_a_group():
    # red and r3d have the same images' mean: one tag. rot sits near both (cosine 0.66: a near miss by its means).
    # The person rejected red / rot: rot / r3d would take rot into red's group again, so it is not listed.
    vocabulary = ["red", "r3d", "rot", "blue"]
    vectors = np.array([[1, 0, 0], [1, 0, 0], [0.66, 0.75, 0], [0, 0.6, 0.8]], np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tag_images = sparse.csr_matrix(np.kron(np.eye(4), np.ones(10)))  # each tag on 10 images of its own
    counts = [10, 10, 10, 10]

    def near_misses(rejected):
        model = CombinedVariants().fit(vectors, vocabulary, counts, tag_images, rejected)
        assert [group.members for group in model.groups_] == [["r3d", "red"]]  # four tags: too few to read a language
        return sorted(sorted((miss["canonical"], miss["variant"])) for miss in model.near_misses_)

    assert near_misses(frozenset()) == [["r3d", "rot"], ["red", "rot"]]
    assert near_misses({frozenset(("red", "rot"))}) == []


def test_a_pair_above_the_cut_off_kept_out_of_a_group_is_not_listed_as_alike_and_never_together():
    # coat, coats and mantel look alike (cosine 0.90); coat and coats merge. mantel / coat scores above the cut-off,
    # but coats / mantel share no company, so the pair across the groups keeps mantel out: that is not a pair the
    # images could not decide, and it is not listed under the flag for those.
    vocabulary = ["coat", "coats", "mantel", "x", "y"]
    images = [["coat", "x", "y"]] * 10 + [["coats", "y"]] * 10 + [["mantel", "x"]] * 10
    tag_images = Manifest([], [], images, []).tag_image_matrix(vocabulary)
    vectors = np.zeros((5, 8))
    for row in range(3):
        vectors[row, 0], vectors[row, row + 1] = 0.95, np.sqrt(1 - 0.95 ** 2)
    vectors[3, 5] = vectors[4, 6] = 1.0
    model = CombinedVariants().fit(vectors.astype(np.float32), vocabulary, [10, 10, 10, 10, 20], tag_images)
    assert [group.members for group in model.groups_] == [["coat", "coats"]]
    assert [miss["flag"] for miss in model.near_misses_ if NEVER_TOGETHER in miss["flag"]] == []


def test_the_near_misses_are_counted_by_kind_in_one_log_line(caplog):
    from tagger.variants.step import log_near_misses

    with caplog.at_level("INFO", logger="tagger.variants.step"):
        log_near_misses([{"flag": "near miss"}, {"flag": NEVER_TOGETHER}, {"flag": NEVER_TOGETHER}])
        log_near_misses([])
        log_near_misses([{"flag": GROUPS_DISAGREE}, {"flag": "near miss"}])
    assert caplog.messages == ["3 near misses listed in review.csv, not merged: 1 just under the cut-off, 2 alike and "
                               "never on one image",
                               "2 near misses listed in review.csv, not merged: 1 scored as one and kept apart by "
                               "another pair, 1 just under the cut-off"]
    caplog.clear()
    with caplog.at_level("INFO", logger="tagger.variants.step"):
        log_near_misses([{"flag": flag} for flag in (SPELLED_ALIKE, IMAGES_DIFFER, SPELLED_ALIKE, TYPED_TOGETHER)])
    assert caplog.messages == ["4 near misses listed in review.csv, not merged: 1 told apart by their images, "
                               "2 spelled alike, the images unsure, 1 spelled alike and typed together"]


def unit_vectors_at(cosines: dict[tuple[int, int], float], count: int) -> np.ndarray:
    """Unit vectors whose pairwise cosines are the given ones (a Cholesky factor of their Gram matrix)."""
    gram = np.eye(count)
    for (a, b), cosine in cosines.items():
        gram[a, b] = gram[b, a] = cosine
    return np.linalg.cholesky(gram).astype(np.float32)


def disjoint_tag_images(counts: list[int]) -> sparse.csr_matrix:
    """Each tag on images of its own (no co-occurrence)."""
    rows = np.repeat(np.arange(len(counts)), counts)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(counts), len(rows)))


def test_a_member_joined_through_another_member_is_flagged_and_judged_by_its_own_evidence():
    from tagger.variants.calibration import CALIBRATION, IMAGES, NEAR_MISS, confidence
    from tagger.variants.rule import JOINED_THROUGH

    # hund / dog: 1.0; chien / dog: 0.55 joins chien to the group (every pair across it scores at least 0.25);
    # chien / hund, its own pair with the canonical, scores 0.275: under the near misses' cut-off (0.3).
    vocabulary = ["hund", "dog", "chien"]
    vectors = unit_vectors_at({(0, 1): 0.9, (1, 2): 0.72, (0, 2): 0.61}, 3)
    model = CombinedVariants().fit(vectors, vocabulary, [30, 20, 10], disjoint_tag_images([30, 20, 10]))
    [group] = model.groups_
    assert group.members == ["hund", "dog", "chien"]
    assert [round(score, 3) for score in group.scores[1:]] == [1.0, 0.275]
    assert group.flags == ["", "", JOINED_THROUGH]
    assert group.confidences == [1.0, CALIBRATION[IMAGES][0][1], confidence(group.scores[2], NEAR_MISS)]
    assert confidence(group.scores[2], NEAR_MISS) < CALIBRATION[IMAGES][0][1]


def test_each_kind_of_near_miss_has_its_own_room_and_the_rest_are_counted(caplog):
    from tagger.variants.rule import NEAR_MISS
    from tagger.variants.step import log_near_misses

    # 12 pairs under the cut-off (0.4 each: alike images, no spelling) and none of another kind; the list holds 5.
    pairs = 12
    cosine = 0.66  # strength ramp(0.66, 0.5, 0.9) = 0.4
    vectors = np.zeros((2 * pairs, 2 * pairs), np.float32)
    for pair in range(pairs):
        vectors[2 * pair, 2 * pair] = 1.0
        vectors[2 * pair + 1, 2 * pair] = cosine
        vectors[2 * pair + 1, 2 * pair + 1] = np.sqrt(1 - cosine ** 2)
    vocabulary = ["apple", "bridge", "candle", "desert", "engine", "forest", "guitar", "harbor", "island", "jacket",
                  "kettle", "ladder", "magnet", "needle", "orange", "pencil", "quartz", "rabbit", "saddle", "tunnel",
                  "umpire", "violin", "walnut", "yogurt"]  # no two near in spelling
    model = CombinedVariants(near_misses=5).fit(vectors, vocabulary, [10] * (2 * pairs),
                                                disjoint_tag_images([10] * (2 * pairs)))
    assert [miss["flag"] for miss in model.near_misses_] == [NEAR_MISS] * 5
    assert model.near_misses_left_out_ == {NEAR_MISS: 7}
    assert IMAGES_DIFFER not in model.near_misses_left_out_
    with caplog.at_level("INFO", logger="tagger.variants.step"):
        log_near_misses(model.near_misses_, model.near_misses_left_out_)
    assert caplog.messages[-1] == "7 more not listed (the best 50 of each kind are): 7 near miss"


def test_a_tag_whose_only_company_is_its_partner_is_compared_by_its_images_alone():
    # a and b share one image and keep no other company: no context to compare, so meaning is the visual cosine.
    tag_images = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], float))
    cooccurrence = CooccurrenceStats.from_tag_images(tag_images)
    assert np.isnan(cooccurrence.context_similarity(np.array([0]), np.array([1]))).tolist() == [True]
    # Company besides the partner is a profile to compare: a and b each share an image with c below.
    with_company = CooccurrenceStats.from_tag_images(
        sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], float)))
    assert with_company.context_similarity(np.array([0]), np.array([1])).tolist() == [1.0]
    from tagger.variants.evidence import pair_evidence

    vectors = unit_vectors_at({(0, 1): 0.8, (0, 2): 0.0, (1, 2): 0.0}, 3)
    evidence = pair_evidence(np.array([0]), np.array([1]), vectors, ["a", "b", "c"], cooccurrence)
    assert np.isnan(evidence.context[0])
    assert evidence.parts()["meaning"][0] == pytest.approx(0.8)


def test_a_member_the_tag_names_join_is_flagged_by_the_score_that_joined_it():
    from tagger.variants.text_evidence import TextAwareVariants

    # hund / dog: images alike (0.64: the rule's 0.35 alone, a near miss), names alike (0.95): the text route makes
    # it one (1.0). Its flag must be that of the score that merged it, not of the images alone.
    vectors = unit_vectors_at({(0, 1): 0.64}, 2)
    text = unit_vectors_at({(0, 1): 0.95}, 2)
    model = TextAwareVariants(text_vectors=text).fit(vectors, ["hund", "dog"], [20, 10], disjoint_tag_images([20, 10]))
    [group] = model.groups_
    assert model.evidence_.parts()["score"][0] == pytest.approx(0.35)
    assert group.scores[1] == pytest.approx(1.0)
    assert group.flags == ["", ""]
    assert model.near_misses_ == []
