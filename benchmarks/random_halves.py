"""Random halves of one real-photo tag: how often does the probe's gap call them two?

A spelling used at random over a concept's images is what a random half of the concept's images is. The gap between
the two halves' mean images (tagger.variants.separability) is tested against label shuffles of the same images; this
script halves the most used tags of coco128 (real photos, the shared MobileNetV2 ImageNet weights, embeddings cached
by variant_suite.py) many times over and counts how often the gap's z passes 2, 3 and 4, read two ways side by side:
as plain spreads above the shuffles' mean (ProbeResult.gap_z, what the rule reads) and against the scaled chi-square of
the same mean and spread (sum_of_squares_z: a squared distance is a sum of squares, its null skewed to the right). A
normal passes them in 2.3%, 0.13% and 0.003% of tries.
Each halving is compared as the variant step compares a pair, by the probe the step fits on these tags: on the
images' features less what their company (the other tags) explains, and on the whole images.

    python benchmarks/random_halves.py [--work-dir /tmp/variant_suite] [--halvings 500]
        [--tags person,wall,sky,tree,table,grass]
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import chi2, norm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from variant_discovery import DEFAULT_TRAIN_FLAGS, machine  # noqa: E402
from variant_suite import coco_base  # noqa: E402

from tagger.runfolder import Manifest  # noqa: E402
from tagger.variants.separability import SeparabilityProbe  # noqa: E402

LEVELS = (2, 3, 4)
NORMAL_TAIL = {level: float(norm.sf(level)) for level in LEVELS}


def sum_of_squares_z(observed: float, null_mean: float, null_std: float) -> float:
    """The z of a standard normal with the tail probability the gap has under the scaled chi-square of its shuffles'
    mean and spread (Satterthwaite: dof = 2 mean² / variance)."""
    dof, scale = 2 * null_mean ** 2 / null_std ** 2, null_std ** 2 / (2 * null_mean)
    return norm.isf(chi2.sf(observed / scale, dof))


def halvings(probe, vocabulary: list[str], tag: str, count: int) -> dict[str, list[tuple[float, float]]]:
    """(plain z, chi-square z) of `count` random halves of the tag's images, with company and without."""
    index = vocabulary.index(tag)
    images = probe.tag_images_[index].indices  # company() leaves the tag's own column out (pair)
    generator = np.random.default_rng(1)
    found: dict[str, list[tuple[float, float]]] = {"features less their company": [], "whole images": []}
    for repeat in range(count):
        order = generator.permutation(images)
        first, second = np.sort(order[:len(images) // 2]), np.sort(order[len(images) // 2:])
        for name, company in (("features less their company", probe.company(first, second, (index,))),
                              ("whole images", None)):
            observed, mean, spread = probe.gap(first, second, (5, repeat), company)[:3]
            found[name].append(((observed - mean) / spread, float(sum_of_squares_z(observed, mean, spread))))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/variant_suite"))
    parser.add_argument("--halvings", type=int, default=500, help="random halves of each tag")
    parser.add_argument("--tags", default="person,wall,sky,tree,table,grass",
                        help="coco128's most used tags (134, 69, 67, 62, 37 and 35 images)")
    arguments = parser.parse_args()
    start = time.perf_counter()
    tags, embeddings = coco_base(arguments.work_dir, DEFAULT_TRAIN_FLAGS)
    # The probe as the variant step fits it on these tags (vocabulary as prepare.py keeps it, from 8 images); each
    # halving then reads its gap, as a pair's is read.
    counts = Counter(t for row in tags for t in set(row))
    vocabulary = sorted((t for t, c in counts.items() if c >= 8), key=lambda t: (-counts[t], t))
    probe = SeparabilityProbe().fit(embeddings, Manifest([], [], tags, []).tag_image_matrix(vocabulary))
    pooled: dict[str, list[tuple[float, float]]] = {}
    for tag in arguments.tags.split(","):
        for name, values in halvings(probe, vocabulary, tag, arguments.halvings).items():
            pooled.setdefault(name, []).extend(values)
    print("| compared on | z read as | halves | past 2 | past 3 | past 4 | largest | halves past 2, 3, 4 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, values in pooled.items():
        table = np.array(values)
        for column, reading in ((0, "plain spreads"), (1, "scaled chi-square")):
            z = table[:, column]
            shares = " | ".join(f"{np.mean(z > level):.2%} ({np.mean(z > level) / NORMAL_TAIL[level]:.1f}x)"
                                for level in LEVELS)
            counts = ", ".join(str(int(np.sum(z > level))) for level in LEVELS)
            print(f"| {name} | {reading} | {len(z)} | {shares} | {z.max():.2f} | {counts} |")
    print("| a standard normal | | | 2.28% | 0.13% | 0.003% | | |")
    m = machine()
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
