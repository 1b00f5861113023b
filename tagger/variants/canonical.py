"""Which spelling names a variant group: the canonical, the one apply_review.py renames the others to and tag.py writes.

A person keeps the spelling written in their collection's language, then the one their collection uses most: `wall`
beside `wwall` even where the slip is on more images (a concept's images split between spellings at random give a
typo the larger share as often as not: 5 of 11 groups on coco128 at seed 6 had a slip or leetspeak for canonical),
`ceiling` beside `decke` in an English collection, `programm` beside `pr0gramm` in a German one; between two
spellings of the language (`tree` / `trees`), or two of none (names: `asuka` / `asuka langley`), the collection's own
preference, the most used. Accepting a merge renames a collection's tags: it must never rename them to a typo.

The collection's languages are read off its own tags, as words.py reads words (wordfreq's lists, a word at WORD_ZIPF
or more): of its SAMPLED_TAGS most used tags, each of Latin letters listed somewhere has a home, the language where it
is most used in text (every word listed there at WORD_ZIPF or more); a language is the collection's where at least
LANGUAGE_SHARE of the sampled tags (whatever their script), and MIN_HOME_TAGS, have it for home. Most short words are
listed in some language (`dor` is Portuguese, `tabe` Danish), so a spelling counts only in the collection's languages
(`dor` is 2.8 in English: no word of an English collection). Only tags of Latin letters are judged (words.tag_words):
in a collection written mostly in another script no language reaches the share, and the most used spelling names the
group, as it did before this rule.
"""

from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from tagger.variants.words import WORD_ZIPF, tag_words, zipf_by_language

SAMPLED_TAGS = 1000  # the collection's most used tags read for its languages: its vocabulary's head says them
# A language is the collection's where a tenth of those tags have it for home: English words' homes elsewhere (a
# short word most used in Dutch text, `door`, `bed`) took 4% or less each on coco128 (75% English), and a collection
# written in two languages has each well above it.
LANGUAGE_SHARE = 0.1
MIN_HOME_TAGS = 3  # and at least three of them: in a collection of a dozen tags, one or two are short words' noise

# word -> {language: its Zipf frequency there, where WORD_ZIPF or more}; every word asked is kept (an empty dict: no
# list holds it so), so a second fit (a test, a re-run in one process) reads no list again for it.
_LEVELS: dict[str, dict[str, float]] = {}


class CanonicalRanks:
    """Sort keys for a group's spellings, the canonical first: one a person already chose (chosen: they merged another
    tag into it, review.csv's accepted rows and aliases.txt, review.chosen_canonicals: their decision, not this rule,
    names the group, and a re-run under a changed rule never turns their merge around), then one written in the
    collection's language, then the most used, then alphabetically (a tie never hangs on the order tags were read)."""

    def __init__(self, vocabulary: Sequence[str], counts: Sequence[int], chosen: Collection[str] = frozenset(),
                 ask=()):
        """ask: indices of every tag that may be ranked, read with the first ranking in one pass over wordfreq's
        lists (a pass costs the same however many words it asks; none is made where nothing is ranked)."""
        self.vocabulary, self.counts, self.chosen = vocabulary, counts, frozenset(chosen)
        self._pending = [vocabulary[index] for index in ask]
        self._sample: list[str] | None = None
        self._languages: frozenset[str] | None = None

    def read_ahead(self, tags: Iterable[str]) -> None:
        """Tags whose words the next question (a ranking, a tag's language) reads too, in its one pass over
        wordfreq's lists: asked one at a time, each new word would cost a pass of its own."""
        self._pending.extend(tags)

    def key(self, index: int) -> tuple[bool, bool, int, str]:
        tag = self.vocabulary[index]
        return tag not in self.chosen, not self.written_in_language(tag), -int(self.counts[index]), tag

    def ordered(self, indices) -> list[int]:
        """indices (into the vocabulary) with the canonical first, then the rest by use (most used first)."""
        indices = list(indices)
        self._ask_tags([self.vocabulary[index] for index in indices])
        canonical = min(indices, key=self.key)
        return [canonical] + sorted((index for index in indices if index != canonical),
                                    key=lambda index: (-int(self.counts[index]), self.vocabulary[index]))

    def languages(self) -> frozenset[str]:
        """The collection's languages (see the module); empty where none has enough of its sampled tags."""
        if self._languages is None:
            self._ask_tags([])
            homes = Counter(home for home in map(self.home, self._sample) if home)
            self._languages = frozenset(language for language, count in homes.items()
                                        if count >= max(LANGUAGE_SHARE * len(self._sample), MIN_HOME_TAGS))
        return self._languages

    def home(self, tag: str) -> str | None:
        """The language where the tag is most used in text (the least of its words' Zipf frequencies, every word at
        WORD_ZIPF or more there; ties to the alphabetically first), None where no language lists it so."""
        levels = self._levels(tag)
        return min(levels, key=lambda language: (-levels[language], language)) if levels else None

    def written_in_language(self, tag: str) -> bool:
        """Whether every word of the tag is a word of one of the collection's languages."""
        levels = self._levels(tag)
        return any(language in levels for language in self.languages())

    def _levels(self, tag: str) -> dict[str, float]:
        """language -> the least Zipf frequency of the tag's words there, over the languages listing them all at
        WORD_ZIPF or more."""
        words = tag_words(tag)
        if not words:
            return {}
        self._ask_tags([tag])
        listed = [_LEVELS[word] for word in words]
        return {language: min(levels[language] for levels in listed)
                for language in set.intersection(*(set(levels) for levels in listed))}

    def _ask_tags(self, tags: list[str]) -> None:
        """Reads wordfreq's lists for these tags' words not read yet (with the pending ones and, the first time, the
        sample the collection's languages are read from)."""
        tags, self._pending = tags + self._pending, []
        if self._sample is None:
            order = sorted(range(len(self.vocabulary)), key=lambda i: (-int(self.counts[i]), self.vocabulary[i]))
            self._sample = [self.vocabulary[index] for index in order[:SAMPLED_TAGS]]
            tags = tags + self._sample
        # Not `set - _LEVELS.keys()`: that copies every word ever read into a set, on each tag asked.
        words = {word for tag in tags for word in (tag_words(tag) or ()) if word not in _LEVELS}
        if words:
            found = zipf_by_language(words, WORD_ZIPF)
            _LEVELS.update((word, found.get(word, {})) for word in words)
