"""The names of the variant evidence and their one-line legend: one vocabulary for terminal, pages, JSON and CSV.

The same number once had three names (the terminal's bare `0.33`, the page's "visual", the JSON's "similarity");
everything that shows evidence takes its names and explanations from here.
"""

import math

# Name -> what it measures, in one line. Ordered as every table shows them.
EVIDENCE_LEGEND = {
    "confidence": "how often pairs like this one (same kind, about the same score) were one tag on the benchmark "
                  "set where such pairs fared worst, the truth known (0-1)",
    "score": "how strongly the evidence says the two tags are one tag (0-1); pairs from cluster.min_score are proposed",
    "visual": "how alike the two tags' images look to the model (cosine of their mean embeddings and tag logits, -1 to 1)",
    "context": "how alike the company they keep is (cosine of their co-occurrence with other tags; blank: none)",
    "spelling": "how alike the spellings are, after undoing case, separators, leetspeak, accents, British spellings, "
                "plurals (0-1)",
    "overlap": "share of the rarer tag's images carrying both tags (a person rarely types two spellings of one tag; "
               "it counts less where the images carrying both show one thing named twice, and against a spelling link "
               "only beyond what this collection's spelling-linked pairs share)",
}
EVIDENCE_NAMES = tuple(EVIDENCE_LEGEND)
# Shown only by runs with cluster.text_evidence (after overlap): other runs' files have no text column.
TEXT_LEGEND = {"text": "how alike the tag names are to the text tower of the run's SigLIP / SigLIP2 / CLIP preset "
                       "(cosine of their centered text embeddings, -1 to 1; counts only where the images agree)"}
# What the separability probe found (rule.PairEvidence.probe_answers): words, not a number, so it is kept out of
# the numeric evidence above. Blank where the probe was off (cluster.method dbscan, cluster.probe false).
PROBE_LEGEND = {"probe": "can the two tags' images be told apart? two tags: they are; one tag: they would have been and "
                         "were not; unsure: neither; faint: the images barely tell either tag from unrelated images; "
                         "not asked: too few images of one tag without the other, the other evidence decides, or past "
                         "cluster.max_probes"}
# The spelling link in words (tagger.variants.spelled): beside the spelling's number, what makes the two alike, or why
# their likeness is no link by itself. Blank for groups of the DBSCAN baseline, which weighs no spelling.
SPELLED_LEGEND = {"spelled": "what links the two spellings: the differences undone (case, full-width / ligature, "
                             "separators, accents, & for and, leetspeak, British spelling, doubled letters, plural), "
                             "typo of a word (one slip; the other tag is no word of the collection's languages), "
                             "near spelling (a few slips apart); "
                             "or why spelling alone proposes nothing: two words (both words of the collection's "
                             "language), another number of a word (leg up / legs up), different numbers (1980s / "
                             "1990s: no link at all). Blank: no spelling link"}
WORDS_LEGEND = {**PROBE_LEGEND, **SPELLED_LEGEND}  # the evidence told in words, not numbers
IMAGES_LEGEND = "images: how many images carry the tag"
BOTH_LEGEND = "both: the image carries both tags of the pair"

# synonyms.json and synonyms.csv called the visual evidence "similarity" before; they keep that key too.
LEGACY_NAMES = {"visual": "similarity"}


def evidence_legend(text: bool) -> dict[str, str]:
    """EVIDENCE_LEGEND, and the tag names' text cosine after it when the run measured it."""
    return {**EVIDENCE_LEGEND, **TEXT_LEGEND} if text else EVIDENCE_LEGEND


def with_text_column(columns, after: str) -> list[str]:
    """columns with the tag names' text cosine ("text") right after the column named after."""
    place = list(columns).index(after) + 1
    return [*columns[:place], "text", *columns[place:]]


def measures_probe(groups, near_misses=()) -> bool:
    """Whether these proposals carry the separability probe's answers (cluster.probe, combined method)."""
    return any(group.evidence is not None and group.evidence.probe is not None for group in groups) or \
        any(miss.get("probe") for miss in near_misses)


def measures_spelled(groups, near_misses=()) -> bool:
    """Whether these proposals say their spelling links in words (the combined method; not the DBSCAN baseline)."""
    return any(group.evidence is not None for group in groups) or any("spelled" in miss for miss in near_misses)


def measures_text(groups, near_misses=()) -> bool:
    """Whether these proposals carry the tag names' text cosine (cluster.text_evidence): its column is shown then."""
    return any(group.evidence is not None and group.evidence.text is not None for group in groups) or \
        any("text" in miss for miss in near_misses)


def cut(value: float, digits: int = 2) -> str:
    """value to digits decimals, cut down (floored) rather than rounded, wherever evidence is shown: a near miss scoring 0.4996 under
    min_score 0.5 read "score 0.50", and a group's "confidence >= 0.46" was false of its 0.455. The 1e-6 keeps a
    value whose binary form falls a hair under its decimal one at its own digits (0.57 x 100 = 56.999..., 0.7 in
    float32 is 0.699999988)."""
    if not math.isfinite(value):
        return f"{value}"  # nan, inf: as an f-string shows them
    scale = 10 ** digits
    return f"{math.floor((value + 1e-6) * scale) / scale:.{digits}f}"


def format_evidence(values: dict, names=EVIDENCE_NAMES, digits: int = 2) -> str:
    """`score 0.67, visual 0.33, ...` for the names that have a value (None and NaN are left out)."""
    return ", ".join(f"{name} {cut(values[name], digits)}" for name in names
                     if values.get(name) is not None and values[name] == values[name])
