#!/usr/bin/env python3
"""A variant-discovery set at a scale where the images can speak: scenes with distinct look-alike concepts.

Each picture holds one to three shapes at random places on a grey background with noise, tagged with the colour and
the shape of each (so colours and shapes keep each other's company). Among them are distinct concepts that look
alike and share no spelling: navy beside blue, orange beside yellow, a filled disc beside a hollow ring, a rectangle
beside a square. The variant spellings (spelling_plan) are used at random over their concept's images: leetspeak,
typos, plurals and translations (`dreieck` for triangle shares no letter). The images hold only the concepts;
benchmarks/variant_suite.py embeds them once and spells the tags at each seed.

    python benchmarks/lookalike_scenes.py --out /tmp/lookalike_scenes [--images 3000] [--size 96]
"""

import argparse
import random
from pathlib import Path

from make_scenes import write_scenes

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (40, 60, 220), "navy": (20, 30, 120),
           "yellow": (235, 210, 20), "orange": (240, 130, 20)}
SHAPES = ("ring", "disc", "square", "rectangle", "triangle")
# Concept -> its variant spellings and their kinds (the concept's own spelling is used too).
VARIANTS = {"red": [("r3d", "leetspeak"), ("rot", "translation")], "green": [("gruen", "translation")],
            "square": [("sqaure", "misspelling")], "ring": [("rings", "plural")],
            "triangle": [("dreieck", "translation")], "orange": [("0range", "leetspeak")]}
# The distinct look-alike pairs: never one tag, however close their images.
LOOKALIKES = (("navy", "blue"), ("orange", "yellow"), ("disc", "ring"), ("rectangle", "square"))
# Each look-alike renamed to a spelling of its partner that the spelling keys fold to the same word (a plural,
# leetspeak): two concepts the spelling alone would merge, which the images must keep apart.
NEAR_FOLDS = {"navy": "blues", "yellow": "oranges", "disc": "r1ng", "rectangle": "squares"}


def make_scenes(out: Path, images: int, size: int, seed: int = 0) -> Path:
    """Writes the images and tags.csv of their concepts (no variants), a colour tag and a shape tag per shape;
    returns the CSV's path."""
    return write_scenes(out, images, size, seed, COLOURS, SHAPES, lambda colour, shape: [colour, shape],
                        radii=(0.12, 0.2), jitter=15)


def spelling_plan() -> dict:
    """{concept: [(spelling, kind)]}, the concept's own spelling first, as benchmarks/variant_discovery.py's plans
    hold them."""
    return {concept: [(concept, "original"), *spellings] for concept, spellings in VARIANTS.items()}


def spelled(tags: list[list[str]], seed: int) -> list[list[str]]:
    """Each image's concepts under a spelling drawn at random (the concept's own as often as each variant)."""
    chooser = random.Random(seed)
    return [[chooser.choice([concept] + [s for s, _ in VARIANTS.get(concept, [])]) for concept in row] for row in tags]


def spelled_near(tags: list[list[str]], seed: int) -> list[list[str]]:
    """spelled, with each look-alike concept under its NEAR_FOLDS spelling."""
    return [[NEAR_FOLDS.get(tag, tag) for tag in row] for row in spelled(tags, seed)]


def spelled_near_with_signature(tags: list[list[str]], seed: int) -> list[list[str]]:
    """spelled_near, and a tag naming each look-alike's look (`navy-ish`) on 80% of its images and 30% of its
    partner's: company that differs between two concepts at a rate the probe's company adjustment takes in, and that
    goes with the very difference between them."""
    chooser = random.Random(100 + seed)
    partner_of = {b: a for a, b in LOOKALIKES} | {a: a for a, _ in LOOKALIKES}
    rows = []
    for concepts, row in zip(tags, spelled_near(tags, seed)):
        signatures = {f"{partner_of[c]}-ish" for c in concepts if c in partner_of
                      and chooser.random() < (0.8 if partner_of[c] == c else 0.3)}
        rows.append(row + sorted(signatures))
    return rows


def typed_by_two_habits(tags: list[list[str]], seed: int, share: float = 0.5, drop: float = 0.6) -> list[list[str]]:
    """Each image tagged by one person. `share` of them type the variant spellings (one drawn at random for each
    concept that has any) and leave out each tag with chance `drop` (one kept at least); the others type every
    concept under its own spelling. Each look-alike is under its NEAR_FOLDS spelling, as in spelled_near. A spelling
    then comes with fewer tags beside it, and its images still show what those left out: company the probe adjusts
    for that is missing on one side only (the images of `rings` show the colours their tags leave out)."""
    chooser = random.Random(200 + seed)
    rows = []
    for concepts in tags:
        if chooser.random() < share:
            typed = [chooser.choice([s for s, _ in VARIANTS[c]]) if c in VARIANTS else c for c in concepts]
            rows.append([t for t in typed if chooser.random() >= drop] or [chooser.choice(typed)])
        else:
            rows.append(list(concepts))
    return [[NEAR_FOLDS.get(tag, tag) for tag in row] for row in rows]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=96)
    arguments = parser.parse_args()
    print(f"wrote {make_scenes(arguments.out, arguments.images, arguments.size)}")
