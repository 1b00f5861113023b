#!/usr/bin/env python3
"""Does variant discovery's outcome hang on the machine's last bits?

Another CPU, BLAS build or thread count gives embeddings that differ in their last bits (float32 kernels sum in
another order). An outcome that changes with them hung on a marginal signal, as the demo's tests once did. Each set
of benchmarks/variant_suite.py (those made from coco128's cached embeddings and the midscale features) is run twice
in this one process: as made, and with every embedding multiplied by (1 + scale x N(0, 1)), scale 1e-4 by default
(about a hundred times what kernels differ by). Printed per set and seed: the pairs shown (proposed and near misses),
how many changed whether they are proposed or listed, or their flag, and the largest change of a score.

    python benchmarks/variant_stability.py [--work-dir /tmp/variant_suite] [--seeds 0,1,2] [--sets coco,...] \
        [--scale 1e-4]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import variant_suite  # noqa: E402
from variant_discovery import DEFAULT_TRAIN_FLAGS, machine  # noqa: E402

SETS = tuple(name for name in variant_suite.ALL_SETS if name != "demo" and not name.startswith("scenes"))


def shown(combined) -> dict:
    """(canonical, tag) -> (proposed or not, flag, score rounded to 3 decimals) for every pair a person sees."""
    return {tuple(pair["pair"]): (pair["proposed"], pair["flag"], round(pair["score"], 3))
            for pair in variant_suite.scored_pairs(combined, {})}


def compare(before: dict, after: dict) -> tuple[list, float]:
    """(pairs whose outcome or flag changed, the largest score change among pairs shown both times)."""
    changed = [(pair, before.get(pair), after.get(pair)) for pair in sorted(set(before) | set(after))
               if before.get(pair) is None or after.get(pair) is None or before[pair][:2] != after[pair][:2]]
    common = set(before) & set(after)
    return changed, max((abs(before[p][2] - after[p][2]) for p in common), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/variant_suite"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--scale", type=float, default=1e-4, help="relative size of the perturbation")
    parser.add_argument("--min-count", type=int, default=8)
    args = parser.parse_args()
    unknown = sorted(set(args.sets.split(",")) - set(SETS))
    if unknown:
        sys.exit(f"unknown or unsupported sets: {', '.join(unknown)} (choose from {', '.join(SETS)})")
    started = time.perf_counter()
    tags, embeddings = variant_suite.coco_base(args.work_dir, DEFAULT_TRAIN_FLAGS)
    moved, runs, largest = 0, 0, 0.0
    print("| set | pairs shown | outcome or flag changed | largest score change |\n|---|---|---|---|")
    for name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            rows, features, _, photos = variant_suite.make_set(name, seed, tags, embeddings, args.min_count)
            noise = np.random.default_rng(1000 + seed).standard_normal(features.shape)
            perturbed = (features * (1 + args.scale * noise)).astype(np.float32)
            before = shown(variant_suite.discover(rows, features, args.min_count, photos=photos)[1])
            after = shown(variant_suite.discover(rows, perturbed, args.min_count, photos=photos)[1])
            changed, score_change = compare(before, after)
            example = f" (e.g. {changed[0]})" if changed else ""
            print(f"| {name} s{seed} | {len(before)} | {len(changed)}{example} | {score_change:.3f} |", flush=True)
            moved, runs, largest = moved + bool(changed), runs + 1, max(largest, score_change)
    print(f"\n{moved} of {runs} set-seeds changed an outcome or flag; largest score change {largest:.3f} "
          f"(embeddings x (1 + {args.scale:g} N(0, 1)))")
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['platform']}; "
          f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
