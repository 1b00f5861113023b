#!/usr/bin/env python3
"""A clean multi-label set where fine-tuning has something to earn: synthetic scenes of 1-3 small shapes.

Each picture holds one to three shapes (ring, square, triangle) in four colours at random places on a grey
background with noise, and is tagged with each colour-shape pair it shows ("red ring", "blue square"): 12 tags, no
variants, no noise in the tags. A tag is a binding of a colour to a shape, which an ImageNet backbone's pooled
features carry only loosely once two shapes share a picture; the layers above can learn it from a few thousand
images. benchmarks/finetune_defaults.py uses it as its largest set, since no real photo set of that size can be
had offline here. Deterministic: the same seed gives byte-identical files.

    python benchmarks/make_scenes.py --out /tmp/scenes --images 6000 --size 96
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (40, 60, 220), "yellow": (235, 210, 20)}
SHAPES = ("ring", "square", "triangle")


def draw_shape(pen: ImageDraw.ImageDraw, shape: str, colour, cx: float, cy: float, radius: float) -> None:
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "ring":
        pen.ellipse(box, outline=colour, width=max(2, int(radius / 3)))
    elif shape == "square":
        pen.rectangle(box, fill=colour)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)


def make_scenes(out: Path, images: int, size: int, seed: int) -> None:
    random = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(images):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in random.integers(100, 160, 3)))
        pen = ImageDraw.Draw(image)
        tags = []
        for _ in range(int(random.integers(1, 4))):
            colour, shape = list(COLOURS)[random.integers(len(COLOURS))], SHAPES[random.integers(len(SHAPES))]
            radius = random.uniform(0.10, 0.18) * size
            cx, cy = random.uniform(radius, size - radius, size=2)
            draw_shape(pen, shape, COLOURS[colour], cx, cy, radius)
            tags.append(f"{colour} {shape}")
        noise = random.normal(0, 8, (size, size, 3))
        pixels = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
        name = f"images/{index:05d}.png"
        Image.fromarray(pixels).save(out / name)
        rows.append((name, ", ".join(dict.fromkeys(tags))))
    with (out / "tags.csv").open("w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(["image", "tags"])
        writer.writerows(rows)
    print(f"wrote {images} images and {out / 'tags.csv'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    make_scenes(arguments.out, arguments.images, arguments.size, arguments.seed)
