#!/usr/bin/env python3
"""Makes the demo set: small pictures whose content decides their tags, with planted tag variants.

Each picture is one coloured shape (ring, square or triangle) on a light or dark background, tagged with its colour,
its shape and its background, as users would: each concept under one spelling per image,
some concepts under several spellings across images (the planted variants below).
Deterministic: the same seed gives byte-identical files.

    python data/make_demo.py [--out data/demo] [--images 480] [--size 64] [--seed 0]
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (40, 60, 220), "yellow": (235, 210, 20)}
SHAPES = ("ring", "square", "triangle")
BACKGROUNDS = {"light background": (235, 235, 235), "dark background": (30, 30, 30)}

# Concept -> spellings users typed, with their shares. Case and separator variants
# ("Dark_Background") are folded by prepare.py; the others must be found by cluster_tags.py.
PLANTED_VARIANTS = {
    "red": [("red", 0.4), ("r3d", 0.3), ("rot", 0.3)],  # leetspeak, German
    "ring": [("ring", 0.6), ("rings", 0.4)],  # plural
    "square": [("square", 0.6), ("sqaure", 0.4)],  # typo
    "dark background": [("dark background", 0.5), ("Dark_Background", 0.5)],  # case and separator
}


def spelling(concept: str, random: np.random.Generator) -> str:
    options = PLANTED_VARIANTS.get(concept, [(concept, 1.0)])
    return options[random.choice(len(options), p=[share for _, share in options])][0]


def draw(shape: str, colour, background, size: int, random: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), background)
    pen = ImageDraw.Draw(image)
    radius = random.uniform(0.22, 0.38) * size
    cx, cy = random.uniform(radius, size - radius, size=2)
    jitter = tuple(int(np.clip(c + random.integers(-20, 21), 0, 255)) for c in colour)
    if shape == "ring":  # hollow, so that it differs from a square inside as well as at the corners
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=jitter, width=max(2, int(radius / 3)))
    elif shape == "square":
        pen.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=jitter)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=jitter)
    noise = random.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8))


def make_demo(out: Path, images: int, size: int, seed: int) -> None:
    random = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(images):
        colour = list(COLOURS)[random.integers(len(COLOURS))]
        shape = SHAPES[random.integers(len(SHAPES))]
        background = list(BACKGROUNDS)[random.integers(len(BACKGROUNDS))]
        name = f"images/{index:04d}.png"
        draw(shape, COLOURS[colour], BACKGROUNDS[background], size, random).save(out / name)
        rows.append((name, ", ".join(spelling(concept, random) for concept in (colour, shape, background))))
    with (out / "tags.csv").open("w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(["image", "tags"])
        writer.writerows(rows)
    truth = {concept: [s for s, _ in options] for concept, options in PLANTED_VARIANTS.items()}
    (out / "planted_variants.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {images} images and {out / 'tags.csv'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "demo")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    make_demo(arguments.out, arguments.images, arguments.size, arguments.seed)
