#!/usr/bin/env python3
"""Scale of the combined variant method: 50,000 tags x 1,280 dimensions, co-occurrence from
1,000,000 images of 10 tags each (synthetic, Zipf-distributed tag use as in real collections).

Prints the time of each part, the total, and the process's peak memory; target: < 2 min, < 4 GB.

    python benchmarks/variant_scale.py [--tags 50000] [--images 1000000] [--dims 1280]
"""

import argparse
import platform
import resource
import time

import numpy as np
from scipy import sparse

from tagger.evidence import CooccurrenceStats, candidate_pairs
from tagger.variants import CombinedVariants, pair_evidence


def synthetic_tag_images(tags: int, images: int, per_image: int, random) -> sparse.csr_matrix:
    # Zipf-like popularity: a few tags on many images, most on a few hundred or fewer.
    popularity = 1.0 / np.arange(1, tags + 1) ** 0.8
    popularity /= popularity.sum()
    columns = random.choice(tags, size=(images, per_image), p=popularity)
    rows = np.repeat(np.arange(images), per_image)
    matrix = sparse.csr_matrix((np.ones(rows.size, np.float32), (columns.ravel(), rows)), shape=(tags, images))
    matrix.data[:] = 1.0  # an image listing a tag twice still carries it once
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=50_000)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--dims", type=int, default=1280)
    arguments = parser.parse_args()
    random = np.random.default_rng(0)

    vectors = random.standard_normal((arguments.tags, arguments.dims), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tag_images = synthetic_tag_images(arguments.tags, arguments.images, arguments.per_image, random)
    vocabulary = [f"tag{index:05d}" for index in range(arguments.tags)]
    counts = np.asarray(tag_images.sum(axis=1)).ravel().astype(int).tolist()
    print(f"machine: {platform.processor() or platform.machine()}, cores: {__import__('os').cpu_count()}")
    print(f"data: {arguments.tags:,} tags x {arguments.dims} dims, {arguments.images:,} images x "
          f"{arguments.per_image} tags ({tag_images.nnz:,} tag uses)")

    timings = {}
    start = time.perf_counter()
    cooccurrence = CooccurrenceStats.from_tag_images(tag_images)
    timings["co-occurrence counts"] = time.perf_counter() - start
    start = time.perf_counter()
    pairs = candidate_pairs(vectors, vocabulary, 10)
    timings["candidate pairs (visual + spelling neighbours)"] = time.perf_counter() - start
    start = time.perf_counter()
    evidence = pair_evidence(pairs[:, 0], pairs[:, 1], vectors, vocabulary, cooccurrence)
    evidence.scores()
    timings["evidence of candidate pairs"] = time.perf_counter() - start
    start = time.perf_counter()
    CombinedVariants().fit(vectors, vocabulary, counts, tag_images)
    timings["whole CombinedVariants.fit (all of the above + grouping)"] = time.perf_counter() - start

    for name, seconds in timings.items():
        print(f"{name:<58} {seconds:7.1f} s")
    print(f"candidate pairs: {len(pairs):,}; co-occurring tag pairs: {cooccurrence.together.nnz // 2:,}")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    total = timings["whole CombinedVariants.fit (all of the above + grouping)"]
    print(f"fit: {total:.1f} s of the 120 s target ({total / 120:.0%}); peak memory {peak_gb:.2f} GB of 4 GB")


if __name__ == "__main__":
    main()
