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
    if shape == "ring":  # hollow
        pen.ellipse(box, outline=colour, width=max(2, int(radius / 3)))
    elif shape == "disc":
        pen.ellipse(box, fill=colour)
    elif shape == "square":
        pen.rectangle(box, fill=colour)
    elif shape == "rectangle":  # 3:2, lying
        pen.rectangle((cx - radius, cy - radius * 2 / 3, cx + radius, cy + radius * 2 / 3), fill=colour)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)


def write_scenes(out: Path, images: int, size: int, seed: int, colours: dict, shapes: tuple, tags_of,
                 radii: tuple[float, float] = (0.10, 0.18), jitter: int = 0) -> Path:
    """Pictures of one to three shapes in `colours` x `shapes` on grey with noise, each tagged with tags_of(colour,
    shape) per shape (duplicates dropped), and tags.csv; returns the CSV's path. radii: a shape's radius as a share
    of the side; jitter: each shape's colour moves up to this much per channel."""
    generator = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(images):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in generator.integers(100, 160, 3)))
        pen = ImageDraw.Draw(image)
        tags = []
        for _ in range(int(generator.integers(1, 4))):
            colour, shape = list(colours)[generator.integers(len(colours))], shapes[generator.integers(len(shapes))]
            radius = generator.uniform(*radii) * size
            cx, cy = generator.uniform(radius, size - radius, size=2)
            fill = colours[colour] if not jitter else tuple(
                int(np.clip(c + generator.integers(-jitter, jitter + 1), 0, 255)) for c in colours[colour])
            draw_shape(pen, shape, fill, cx, cy, radius)
            tags += tags_of(colour, shape)
        noise = generator.normal(0, 8, (size, size, 3))
        pixels = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
        name = f"images/{index:05d}.png"
        Image.fromarray(pixels).save(out / name)
        rows.append((name, ", ".join(dict.fromkeys(tags))))
    with (out / "tags.csv").open("w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(["image", "tags"])
        writer.writerows(rows)
    return out / "tags.csv"


def make_scenes(out: Path, images: int, size: int, seed: int) -> None:
    write_scenes(out, images, size, seed, COLOURS, SHAPES, lambda colour, shape: [f"{colour} {shape}"])
    print(f"wrote {images} images and {out / 'tags.csv'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    make_scenes(arguments.out, arguments.images, arguments.size, arguments.seed)
