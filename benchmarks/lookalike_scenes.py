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
import csv
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (40, 60, 220), "navy": (20, 30, 120),
           "yellow": (235, 210, 20), "orange": (240, 130, 20)}
SHAPES = ("ring", "disc", "square", "rectangle", "triangle")
# Concept -> its variant spellings and their kinds (the concept's own spelling is used too).
VARIANTS = {"red": [("r3d", "leetspeak"), ("rot", "translation")], "green": [("gruen", "translation")],
            "square": [("sqaure", "misspelling")], "ring": [("rings", "plural")],
            "triangle": [("dreieck", "translation")], "orange": [("0range", "leetspeak")]}
# The distinct look-alike pairs: never one tag, however close their images.
LOOKALIKES = (("navy", "blue"), ("orange", "yellow"), ("disc", "ring"), ("rectangle", "square"))


def draw_shape(pen: ImageDraw.ImageDraw, shape: str, colour, cx: float, cy: float, radius: float) -> None:
    if shape == "ring":
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=max(2, int(radius / 3)))
    elif shape == "disc":
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif shape == "square":
        pen.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif shape == "rectangle":  # 3:2, lying
        pen.rectangle((cx - radius, cy - radius * 2 / 3, cx + radius, cy + radius * 2 / 3), fill=colour)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)


def make_scenes(out: Path, images: int, size: int, seed: int = 0) -> Path:
    """Writes the images and tags.csv of their concepts (no variants); returns the CSV's path."""
    generator = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(images):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in generator.integers(110, 160, 3)))
        pen = ImageDraw.Draw(image)
        tags = []
        for _ in range(int(generator.integers(1, 4))):
            colour, shape = list(COLOURS)[generator.integers(len(COLOURS))], SHAPES[generator.integers(len(SHAPES))]
            radius = generator.uniform(0.12, 0.2) * size
            cx, cy = generator.uniform(radius, size - radius, size=2)
            jitter = tuple(int(np.clip(c + generator.integers(-15, 16), 0, 255)) for c in COLOURS[colour])
            draw_shape(pen, shape, jitter, cx, cy, radius)
            tags += [colour, shape]
        noise = generator.normal(0, 6, (size, size, 3))
        name = f"images/{index:05d}.png"
        Image.fromarray(np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)).save(out / name)
        rows.append((name, ", ".join(dict.fromkeys(tags))))
    with (out / "tags.csv").open("w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(["image", "tags"])
        writer.writerows(rows)
    return out / "tags.csv"


def spelling_plan() -> dict:
    """{concept: [(spelling, kind)]}, the concept's own spelling first, as benchmarks/variant_discovery.py's plans
    hold them."""
    return {concept: [(concept, "original"), *spellings] for concept, spellings in VARIANTS.items()}


def spelled(tags: list[list[str]], seed: int) -> list[list[str]]:
    """Each image's concepts under a spelling drawn at random (the concept's own as often as each variant)."""
    chooser = random.Random(seed)
    return [[chooser.choice([concept] + [s for s, _ in VARIANTS.get(concept, [])]) for concept in row] for row in tags]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=96)
    arguments = parser.parse_args()
    print(f"wrote {make_scenes(arguments.out, arguments.images, arguments.size)}")
