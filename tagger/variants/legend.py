"""The names of the variant evidence and their one-line legend: one vocabulary for terminal, pages, JSON and CSV.

The same number once had three names (the terminal's bare `0.33`, the page's "visual", the JSON's "similarity");
everything that shows evidence takes its names and explanations from here.
"""

# Name -> what it measures, in one line. Ordered as every table shows them.
EVIDENCE_LEGEND = {
    "score": "how sure the tool is that the two tags are one tag (0-1); pairs from cluster.min_score are proposed",
    "visual": "how alike the two tags' images look to the model (cosine of their mean embeddings and tag logits, -1 to 1)",
    "context": "how alike the company they keep is (cosine of their co-occurrence with other tags; blank: none)",
    "spelling": "how alike the spellings are, after undoing case, separators, leetspeak, plurals (0-1)",
    "overlap": "share of the rarer tag's images carrying both tags (a person rarely types two spellings of one tag)",
}
EVIDENCE_NAMES = tuple(EVIDENCE_LEGEND)
IMAGES_LEGEND = "images: how many images carry the tag"
BOTH_LEGEND = "both: the image carries both tags of the pair"

# synonyms.json and synonyms.csv called the visual evidence "similarity" before; they keep that key too.
LEGACY_NAMES = {"visual": "similarity"}


def format_evidence(values: dict, names=EVIDENCE_NAMES, digits: int = 2) -> str:
    """`score 0.67, visual 0.33, ...` for the names that have a value (None and NaN are left out)."""
    return ", ".join(f"{name} {values[name]:.{digits}f}" for name in names
                     if values.get(name) is not None and values[name] == values[name])
