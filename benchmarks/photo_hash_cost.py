"""What reading each image's photo hash adds to prepare.py's image check: the check as it was (decode, upright,
RGB) and with the hash (inspect_image), side by side over the same files, on one thread.

    .venv/bin/python benchmarks/photo_hash_cost.py --images ../shared/data/coco128/images --repeats 3
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from variant_discovery import machine  # noqa: E402

from tagger.images import image_files_under, inspect_image, refuse_bombs, to_rgb  # noqa: E402


def check_only(path: Path) -> None:
    """The check without the hash: what image_problem did before the photo column."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            refuse_bombs(image)
            image.load()
            to_rgb(ImageOps.exif_transpose(image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    paths = image_files_under(arguments.images)
    seconds = {"check": [], "check + photo hash": []}
    for _ in range(arguments.repeats):  # alternated, so a warm cache favours neither
        for name, read in (("check", check_only), ("check + photo hash", inspect_image)):
            start = time.perf_counter()
            for path in paths:
                read(path)
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in seconds.items()}
    m = machine()
    print(f"{len(paths)} images, best of {arguments.repeats}; {m['cpu']}, one thread")
    for name, value in best.items():
        print(f"{name:20s} {value:6.2f} s  ({1000 * value / len(paths):.1f} ms an image)")
    print(f"ratio: {best['check + photo hash'] / best['check']:.3f}")


if __name__ == "__main__":
    main()
