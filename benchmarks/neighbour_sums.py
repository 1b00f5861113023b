#!/usr/bin/env python3
"""Neighbour search with similarities summed in float64 (tagger/neighbours.py's similarities_of) beside the plain
float32 product it replaced, in one process on the same vectors: the time of each, the ratio, and how many groups of
equal vectors each splits (equal vectors must tie: tags on the same images; with OpenBLAS 0.3.31 a float32 product
gives equal rows different last bits, so their order became the BLAS kernel's).

    python benchmarks/neighbour_sums.py [--rows 20000] [--dims 256] [--k 30] [--distinct 2000]

The vectors: --distinct random ones, each repeated over --rows rows (as tags used on the same images).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from variant_discovery import machine  # noqa: E402

from tagger import neighbours  # noqa: E402
from tagger.neighbours import nearest_rows, unit_rows  # noqa: E402


def split_groups(similarities_of, vectors: np.ndarray, copies_of: np.ndarray, queries: int = 200) -> int:
    """Groups of equal vectors (per query) whose similarities to the query are not all equal."""
    unit = unit_rows(vectors)
    order = np.argsort(copies_of, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(copies_of[order]) != 0])
    values = similarities_of(unit[:queries], unit)[:, order]
    spread = np.maximum.reduceat(values, starts, axis=1) - np.minimum.reduceat(values, starts, axis=1)
    return int(np.count_nonzero(spread))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--distinct", type=int, default=2_000)
    arguments = parser.parse_args()
    random = np.random.default_rng(0)
    copies_of = random.integers(0, arguments.distinct, arguments.rows)
    vectors = random.normal(size=(arguments.distinct, arguments.dims)).astype(np.float32)[copies_of]

    summed_in_float64 = neighbours.similarities_of
    variants = {"float64 sums (shipped)": summed_in_float64,
                "float32 product (before)": lambda query, chunk: query @ chunk.T}
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), numpy {np.__version__}")
    print(f"data: {arguments.rows:,} rows x {arguments.dims} dims, {arguments.distinct:,} distinct vectors, "
          f"k = {arguments.k}")
    seconds = {}
    for label, product in variants.items():
        neighbours.similarities_of = product
        try:
            start = time.perf_counter()
            nearest_rows(vectors, vectors, arguments.k, skip_same_row=True)
            seconds[label] = time.perf_counter() - start
        finally:
            neighbours.similarities_of = summed_in_float64
        print(f"{label:26s} {seconds[label]:7.2f} s  groups of equal vectors split (200 queries): "
              f"{split_groups(product, vectors, copies_of)}")
    first, second = seconds.values()
    print(f"ratio float64 sums / float32 product: {first / second:.2f}")


if __name__ == "__main__":
    main()
