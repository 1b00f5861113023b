"""The smallest run folder the review app needs: real PNGs, manifest, vocabulary and review.csv, no model."""

import csv
from pathlib import Path

from PIL import Image

from tagger.spreadsheet import spreadsheet_safe
from tagger.variants.review import REVIEW_COLUMNS

HOSTILE = "<img src=x onerror=alert(1)>"

# image file -> its tags; image 3 carries both red and r3d.
IMAGES = {
    "0.png": ["red", "circle"], "1.png": ["red"], "2.png": ["red"], "3.png": ["red", "r3d"],
    "4.png": ["r3d"], "5.png": ["r3d"], "6.png": ["rot"], "7.png": ["circles", HOSTILE],
    "8.png": ["square"], "9.png": ["sqaure"], "10.png": ["hostile"],
}
COLOURS = [(200, 30, 30), (210, 40, 40), (190, 20, 20), (220, 50, 50), (180, 30, 30), (230, 60, 60),
           (170, 20, 20), (30, 30, 200), (30, 160, 30), (40, 170, 40), (90, 90, 90)]

# group, canonical, variant, confidence, score, visual, context, spelling, overlap, probe, spelled, canonical_count,
# variant_count, flag, decision
REVIEW_ROWS = [
    (1, "red", "r3d", "0.8330", "0.9100", "0.8800", "0.5000", "1.0000", "0.3333", "one tag", "leetspeak", 4, 3, "", ""),
    (1, "red", "rot", "0.8000", "0.8200", "0.9000", "", "0.3333", "0.0000", "one tag", "", 4, 1, "", ""),
    (2, "circle", "circles", "0.7500", "0.7000", "0.7500", "", "1.0000", "0.0000", "unsure", "plural", 1, 1, "", ""),
    (3, "hostile", HOSTILE, "0.5500", "0.6000", "0.6100", "", "0.1000", "0.0000", "faint", "", 1, 1,
     "spelling only: check", ""),
    (4, "square", "sqaure", "0.4550", "0.4500", "0.5000", "", "0.9000", "0.0000", "not asked", "typo of a word", 1, 1,
     "near miss", ""),
]


def many_rows(proposals: int, near_misses: int) -> list[tuple]:
    """review.csv rows of one pair a group, most confident first: tag0 <- tag0s, tag1 <- tag1s, ...; then the near
    misses near0 <- near0s, ... (tags no image carries: the page shows 'no images')."""
    evidence = ("0.9000", "0.9000", "", "1.0000", "0.0000", "one tag", "plural", 1, 1)
    return ([(n + 1, f"tag{n}", f"tag{n}s", f"{0.99 - n / 1000:.4f}", *evidence, "", "") for n in range(proposals)] +
            [("", f"near{n}", f"near{n}s", f"{0.40 - n / 1000:.4f}", *evidence, "near miss", "")
             for n in range(near_misses)])


def make_review_run(run_dir: Path) -> Path:
    """Writes the run folder into run_dir (images in run_dir/images) and returns run_dir."""
    images = run_dir / "images"
    images.mkdir(parents=True)
    for (name, _), colour in zip(IMAGES.items(), COLOURS):
        Image.new("RGB", (40, 30), colour).save(images / name)
    with (run_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["image_id", "path", "tags", "split"])
        for name, tags in IMAGES.items():
            writer.writerow([f"images/{name}", str(images / name), ", ".join(tags), "train"])
    counts: dict[str, int] = {}
    for tags in IMAGES.values():
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    with (run_dir / "vocabulary.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["tag", "count"])
        writer.writerows(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    write_review_csv(run_dir, REVIEW_ROWS)
    return run_dir


def write_review_csv(run_dir: Path, rows, header=REVIEW_COLUMNS) -> None:
    with (run_dir / "review.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[spreadsheet_safe(str(cell)) for cell in row] for row in rows])


def review_cells(run_dir: Path) -> list[tuple[str, str, str, str]]:
    """(group, canonical, variant, decision) of each review.csv row, as a spreadsheet would show them."""
    with (run_dir / "review.csv").open(encoding="utf-8", newline="") as file:
        return [(row["group"], row["canonical"], row["variant"], row["decision"]) for row in csv.DictReader(file)]
