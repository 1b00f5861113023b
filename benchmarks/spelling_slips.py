#!/usr/bin/env python3
"""The spelling evidence on real words: plain edit distance against typing slips (tagger/variants/spelling.py).

Two sets of real pairs, both measured in one run, with both measures side by side:
  true variants    human misspellings with their corrections: codespell's dictionary (tens of thousands of
                   misspellings collected from real text)
  distinct words   different English words one edit apart (english-words' web2 list, 5 letters or more; pairs
                   whose spelling keys share a one-deletion form, as the candidate search blocks them), sampled:
                   what a vocabulary's distinct tags of near spelling look like (`shirt` / `skirt`, `robe` / `rose`)

For each: the share reaching a spelling of 0.95, 0.8 and 0.6, and the share the rule would merge on spelling
alone (spelled = ramp(spelling from 0.6 to 0.95), 0.6 x spelled >= min_score 0.5). A better measure keeps the
first set and loses the second. The third and fourth rows of each set add the slip of a word
(tagger/variants/words.py): one of the two words as typed is one slip from the other and a word of no language
in wordfreq's lists (third row; fourth: a word of English, the vocabulary's language, and the other no word of
English, as the variant step reads words in the collection's languages), so the rule counts it as an undone
plural. web2 holds many rare words (`lyery`, `arrie`) that wordfreq does not list: there a distinct word counts as
a slip, which is the risk these rows measure.
The last table asks the slip of a word by the longer word's length, 3 and 4 letters included (web2's pairs of
those lengths whole), for the rule's minimum length (tagger/variants/words.py, MIN_SLIP_LETTERS).

    pip install codespell english-words   # word lists only (not project dependencies)
    python benchmarks/spelling_slips.py [--distinct-pairs 100000]
"""

import argparse
import random
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from rapidfuzz.distance import OSA

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tagger.variants.grouping import CombinedVariants  # noqa: E402
from tagger.variants.rule import ramp  # noqa: E402
from tagger.variants.spelling import key_similarity, spelling_key  # noqa: E402
from tagger.variants.words import MIN_SLIP_LETTERS, slip_links  # noqa: E402

THRESHOLDS = (0.95, 0.8, 0.6)


def plain(first: str, second: str) -> float:
    return float(OSA.normalized_similarity(first, second))


def slips(first: str, second: str) -> float:
    return key_similarity(*sorted((first, second)))


def misspellings() -> list[tuple[str, str]]:
    """(misspelling, correction) as typed."""
    import codespell_lib

    pairs = []
    for line in (Path(codespell_lib.__file__).parent / "data" / "dictionary.txt").read_text().splitlines():
        wrong, _, corrections = line.partition("->")
        right = corrections.split(",")[0].strip()
        if wrong and right and " " not in right and spelling_key(wrong) != spelling_key(right):
            pairs.append((wrong, right))
    return pairs


def distinct_words(count: int | None, lengths=range(5, 100)) -> list[tuple[str, str]]:
    """Pairs of words whose keys differ and share a one-deletion form, one word of each key (its first), of these
    lengths; count sampled (None: all)."""
    from english_words import get_english_words_set

    words = {}
    for word in sorted(get_english_words_set(["web2"], lower=True, alpha=True)):
        if len(word) in lengths:
            words.setdefault(spelling_key(word), word)
    buckets = defaultdict(list)
    for key in sorted(words):
        for form in {key[:i] + key[i + 1:] for i in range(len(key))} | {key}:
            buckets[form].append(key)
    pairs = sorted({tuple(sorted(p)) for members in buckets.values() if len(members) <= 50
                    for p in combinations(members, 2) if p[0] != p[1]})
    random.Random(0).shuffle(pairs)
    return [(words[a], words[b]) for a, b in pairs[:count]]


def slips_of_pairs(pairs: list[tuple[str, str]], min_letters: int = MIN_SLIP_LETTERS,
                   languages: tuple[str, ...] = ()) -> list[bool]:
    """Whether the second word of each pair is a slip of the first or the other way (tagger.variants.words), words
    read in these languages (the collection's, as the variant step reads them; none: every language)."""
    vocabulary = [word for pair in pairs for word in pair]
    of_words = slip_links(vocabulary, [(2 * i, 2 * i + 1) for i in range(len(pairs))], min_letters=min_letters,
                          languages=languages)[0]
    return [of_words[2 * i, 2 * i + 1] for i in range(len(pairs))]


def by_length(true_pairs: list[tuple[str, str]], distinct_pairs: list[tuple[str, str]]) -> None:
    """The slip of a word by the longer word's length, asked at each length whatever the rule's minimum
    (MIN_SLIP_LETTERS): is a short slip riskier? (web2's 3- and 4-letter pairs whole; 5 and more: the sample
    above)."""
    print("\n| longer word | misspellings (true) | a slip of a word | distinct pairs (false) | a slip of a word |")
    print("|---|---|---|---|---|")
    for label, lengths in (("3 letters", range(3, 4)), ("4 letters", range(4, 5)), ("5 or more", range(5, 100))):
        true = [pair for pair in true_pairs if max(map(len, pair)) in lengths]
        distinct = distinct_pairs if lengths.start == 5 else distinct_words(None, lengths)
        shares = [sum(slips_of_pairs(pairs, lengths.start)) / len(pairs) for pairs in (true, distinct)]
        print(f"| {label} | {len(true):,} | {shares[0]:.3f} | {len(distinct):,} | {shares[1]:.3f} |")


def merged_alone(similarity: float) -> bool:
    """The rule's spelling case with no help from the images (PairEvidence.parts) reaches min_score."""
    return float(0.6 * ramp(similarity, 0.6, 0.95)) >= CombinedVariants().min_score


TRUE_SET, DISTINCT_SET = "misspelling / correction (true)", "distinct words (false)"


def word_pair_sets(description: str) -> dict[str, list[tuple[str, str]]]:
    """The two sets of real pairs, sized by the command line (--distinct-pairs) of a script described so."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distinct-pairs", type=int, default=100_000)
    arguments = parser.parse_args()
    try:
        return {TRUE_SET: misspellings(), DISTINCT_SET: distinct_words(arguments.distinct_pairs)}
    except ImportError as error:
        raise SystemExit(f"needs the word lists: pip install codespell english-words ({error})")


def main() -> None:
    sets = word_pair_sets(__doc__)
    print("| set | pairs | measure | " + " | ".join(f">= {t}" for t in THRESHOLDS) + " | merged on spelling alone |")
    print("|---|---|---|" + "---|" * (len(THRESHOLDS) + 1))
    shares = {}
    for name, pairs in sets.items():
        keys = [(spelling_key(a), spelling_key(b)) for a, b in pairs]
        for label, measure in (("plain edit distance", plain), ("slips", slips)):
            values = [measure(a, b) for a, b in keys]
            row = [sum(v >= t for v in values) / len(values) for t in THRESHOLDS]
            alone = sum(map(merged_alone, values)) / len(values)
            shares[name, label] = row[1]
            print(f"| {name} | {len(pairs):,} | {label} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {alone:.3f} |")
        # The rule: slips, and a slip of a word counts as an undone plural (spelled = 1); its words read in every
        # language, and in the vocabulary's (English: the variant step reads the collection's off its tags).
        for languages, label in (((), "every language"), (("en",), "English")):
            of_words = slips_of_pairs(pairs, languages=languages)
            alone = [merged_alone(slips(*key)) or slip for key, slip in zip(keys, of_words)]
            slip_share = sum(of_words) / len(pairs)
            print(f"| {name} | {len(pairs):,} | slips + slip of a word in {label} ({slip_share:.3f} are) "
                  f"| – | – | – | {sum(alone) / len(pairs):.3f} |")
    for label in ("plain edit distance", "slips"):
        true, false = (shares[name, label] for name in sets)
        print(f"{label}: at >= 0.8, true share / distinct share = {true / false:.2f}")
    by_length(*sets.values())


if __name__ == "__main__":
    main()
