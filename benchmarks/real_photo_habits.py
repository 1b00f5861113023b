#!/usr/bin/env python3
"""On real photos, how far does a spelling habit move a tag's images, against a distinct class?

The separability probe calls two tags two concepts where their images differ beyond chance by a fair share (0.2-0.4)
of what sets them apart from unrelated images, and lets a smaller difference pass as a habit: a spelling used more on
some kinds of image than its other spellings. This script asks how large each is on coco128's real photos through the
shared MobileNetV2 ImageNet weights (the suite's cached run), with the probe as cluster_tags.py runs it:

- distinct classes: every pair of coco128 classes with 16 images or more each (and the 20 whose mean embeddings are
  most alike: scene-mates such as cup / dining table, ceiling / light);
- a spelling used at random: each class of 24 images or more split in two at random (3 seeds);
- a 3:1 habit: the same classes split along their images' first principal direction, each spelling used three times
  as often on its own half (the strongest habit of the suite's correlated sets: two variants favouring opposite
  halves).

Printed per kind: medians of the discriminant's share (separation) and the gap's (gap separation), the gap's z, the
pooled gap share (mean excess over chance / mean reference, square-rooted: less noisy than a median of clipped
shares), and how often the rule calls the pair one (same >= 0.5) or two (distinct >= 0.5).

--within-directions K is a what-if, not the rule: each pair's images are also compared less their coordinates on
the top K directions of the pair's own within-tag scatter (each side centred on its own mean), as the probe takes out
what the images' other tags explain. Those directions are chosen with the labels, so the gap's label shuffles are no
longer its exact null.

    python benchmarks/real_photo_habits.py [--work-dir /tmp/variant_suite] [--within-directions 0]
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import variant_suite  # noqa: E402
from variant_discovery import DEFAULT_TRAIN_FLAGS, machine  # noqa: E402

from tagger.runfolder import Manifest  # noqa: E402
from tagger.variants.evidence import CooccurrenceStats  # noqa: E402
from tagger.variants.evidence import pair_cosines, tag_mean_embeddings  # noqa: E402
from tagger.variants.rule import PairEvidence  # noqa: E402
from tagger.variants.separability import SeparabilityProbe  # noqa: E402

DISTINCT_MIN, SPLIT_MIN, MOST_ALIKE, SEEDS = 16, 24, 20, 3


def with_within_directions(probe: SeparabilityProbe, directions: int) -> None:
    """The what-if: the pair's top within-tag directions taken out beside the company tags (see the docstring)."""
    company = probe.company

    def taken_out(first, second, pair):
        tags = company(first, second, pair)
        first_rows, second_rows = probe.projected(first), probe.projected(second)
        within = np.concatenate([first_rows - first_rows.mean(0), second_rows - second_rows.mean(0)])
        vectors = np.linalg.eigh(within.T @ within)[1][:, ::-1][:, :directions]
        coordinates = np.concatenate([first_rows, second_rows]) @ vectors
        coordinates -= coordinates.mean(0)
        return coordinates if tags is None else np.concatenate([tags, coordinates], axis=1)

    probe.company = taken_out


def measure(rows, vocabulary, pairs, embeddings, directions: int) -> list[dict]:
    """The probe's statistics and the rule's same / distinct for each pair of tags (pairs the probe could ask)."""
    matrix = Manifest([], [], rows, []).tag_image_matrix(vocabulary)
    probe = SeparabilityProbe(seed=0).fit(embeddings, matrix)
    if directions:
        with_within_directions(probe, directions)
    position = {tag: index for index, tag in enumerate(vocabulary)}
    first = np.array([position[a] for a, _ in pairs])
    second = np.array([position[b] for _, b in pairs])
    result = probe.probe(first, second)
    cooccurrence = CooccurrenceStats.from_tag_images(matrix)
    visual = pair_cosines(tag_mean_embeddings(matrix, embeddings, center=True), first, second).astype(np.float64)
    evidence = PairEvidence(first=first, second=second, visual=visual,
                            context=cooccurrence.context_similarity(first, second), spelling=np.zeros(len(first)),
                            overlap=cooccurrence.overlap(first, second), probe=result)
    parts = evidence.parts()
    asked = np.flatnonzero(~np.isnan(result.auc))
    return [{"pair": pairs[i], "visual": visual[i], "separation": result.separation[i],
             "gap_separation": result.gap_separation[i], "gap_z": result.gap_z[i], "same": parts["same"][i],
             "distinct": parts["distinct"][i], "excess": result.gap[i] - result.gap_null_mean[i],
             "reference": result.gap_reference[i]} for i in asked]


def split_class(tags, embeddings, kind: str, seed: int):
    """Every class of SPLIT_MIN images or more renamed on each image to one of two spellings: at random, or three
    times as often on its own half of the class's images (split along their first principal direction)."""
    random = np.random.default_rng(seed)
    rows = [list(row) for row in tags]
    counts = Counter(tag for row in tags for tag in row)
    pairs = []
    for tag in sorted(tag for tag, count in counts.items() if count >= SPLIT_MIN):
        images = [image for image, row in enumerate(tags) if tag in row]
        if kind == "random":
            first_share = np.full(len(images), 0.5)
        else:
            points = embeddings[images] - embeddings[images].mean(axis=0)
            along = points @ variant_suite.first_principal_direction(points)
            first_share = np.where(along > np.median(along), 0.75, 0.25)
        first = random.random(len(images)) < first_share
        names = (f"{tag} A", f"{tag} B")
        for image, is_first in zip(images, first):
            rows[image][rows[image].index(tag)] = names[0] if is_first else names[1]
        pairs.append(names)
    return rows, pairs


def summary(label: str, measured: list[dict]) -> str:
    column = lambda name: np.array([m[name] for m in measured])  # noqa: E731
    pooled = np.sqrt(max(column("excess").mean(), 0.0) / column("reference").mean())
    return (f"| {label} | {len(measured)} | {np.median(column('separation')):.2f} | "
            f"{np.median(column('gap_separation')):.2f} | {np.median(column('gap_z')):.2f} | {pooled:.2f} | "
            f"{np.mean(column('same') >= 0.5):.2f} | {np.mean(column('distinct') >= 0.5):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/variant_suite"))
    parser.add_argument("--within-directions", type=int, default=0)
    arguments = parser.parse_args()
    tags, embeddings = variant_suite.coco_base(arguments.work_dir, DEFAULT_TRAIN_FLAGS)
    tags = [list(dict.fromkeys(row)) for row in tags]
    vocabulary = sorted({tag for row in tags for tag in row})
    counts = Counter(tag for row in tags for tag in row)
    frequent = [tag for tag in vocabulary if counts[tag] >= DISTINCT_MIN]
    distinct = measure(tags, vocabulary, [(a, b) for i, a in enumerate(frequent) for b in frequent[i + 1:]],
                       embeddings, arguments.within_directions)
    kinds = {}
    for kind in ("random", "habit"):
        kinds[kind] = []
        for seed in range(SEEDS):
            rows, pairs = split_class(tags, embeddings, kind, seed)
            split_vocabulary = sorted({tag for row in rows for tag in row})
            kinds[kind] += measure(rows, split_vocabulary, pairs, embeddings, arguments.within_directions)
    print("| pairs | n | separation (median) | gap separation (median) | gap z (median) | pooled gap share | "
          "one (same ≥ 0.5) | two (distinct ≥ 0.5) |")
    print("|---|---|---|---|---|---|---|---|")
    print(summary(f"distinct classes of {DISTINCT_MIN}+ images", distinct))
    print(summary(f"the {MOST_ALIKE} most alike of them", sorted(distinct, key=lambda m: -m["visual"])[:MOST_ALIKE]))
    print(summary(f"a spelling used at random ({SEEDS} seeds)", kinds["random"]))
    print(summary(f"a 3:1 habit on opposite halves ({SEEDS} seeds)", kinds["habit"]))
    m = machine()
    print(f"\nwithin-tag directions taken out: {arguments.within_directions}; machine: {m['cpu']}, {m['cores']} cores")


if __name__ == "__main__":
    main()
