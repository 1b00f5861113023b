#!/usr/bin/env python3
"""Rare spellings on real words: what cluster_tags.py lists beside a kept tag (tagger/variants/rare.py), and its cost.

The kept tags are real words, each rare tag one edit from one of them, in two sets measured in one run:
  true variants    codespell's misspellings (tens of thousands collected from real text), each beside its correction
  distinct words   different English words one edit apart (english-words' web2 list, 5 letters or more), one kept
                   and the other rare: what a collection's rare tag of its own looks like beside a kept one
A rare tag counts as listed where it is listed beside its partner. Both sets are asked at once, as one collection
(the kept tags of both, the rare tags of both), through the same function cluster_tags.py calls, so the collection's
language (English, read off its most used tags) and the candidate search are the step's. Prints each set's share
listed, with the rule's spelling links in words, and the time and peak memory of the whole call.

    pip install codespell english-words   # word lists only (not project dependencies)
    python benchmarks/rare_spellings.py [--distinct-pairs 100000]
"""

import os
import platform
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from spelling_slips import DISTINCT_SET, TRUE_SET, word_pair_sets  # noqa: E402
from tagger.variants.canonical import CanonicalRanks  # noqa: E402
from tagger.variants.grouping import CombinedVariants  # noqa: E402
from tagger.variants.rare import RareTags, rare_spellings  # noqa: E402


def main() -> None:
    sets = word_pair_sets(__doc__)
    kept = sorted({correction for _, correction in sets[TRUE_SET]} | {first for first, _ in sets[DISTINCT_SET]})
    partner = {}  # rare -> the kept tags it is asked beside
    for name, pairs in sets.items():
        for first, second in pairs:
            rare, of = (first, second) if name == TRUE_SET else (second, first)
            if rare not in kept:
                partner.setdefault(rare, set()).add(of)
    rare_names = sorted(partner)
    rare = RareTags(rare_names, [2] * len(rare_names), sparse.csr_matrix((len(rare_names), 1), dtype=np.float32))
    counts = [100] * len(kept)
    clock = time.perf_counter()
    listed, _ = rare_spellings(kept, counts, sparse.csr_matrix((len(kept), 1), dtype=np.float32), rare,
                               CombinedVariants().min_score, CanonicalRanks(kept, counts), limit=len(rare_names))
    seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    found = {(miss["variant"], miss["canonical"]): miss["spelled"] for miss in listed}
    print(f"{len(kept):,} kept tags, {len(rare_names):,} rare tags: {len(listed):,} pairs listed in {seconds:.1f} s, "
          f"peak memory {peak:.2f} GB ({platform.machine()}, {len(os.sched_getaffinity(0))} cores)")
    print("\n| set | rare tags | listed beside their partner | beside another kept tag | links of those listed |")
    print("|---|---|---|---|---|")
    beside = {}
    for rare_tag, kept_tag in found:
        beside.setdefault(rare_tag, set()).add(kept_tag)
    for name, pairs in sets.items():
        asked = [(first, second) if name == TRUE_SET else (second, first) for first, second in pairs]
        asked = [(rare, of) for rare, of in asked if rare not in kept]
        links = Counter(found[pair] for pair in asked if pair in found)
        share = sum(pair in found for pair in asked) / len(asked)
        elsewhere = sum(bool(beside.get(rare_tag, set()) - partner[rare_tag]) for rare_tag, _ in asked) / len(asked)
        print(f"| {name} | {len(asked):,} | {share:.3f} | {elsewhere:.3f} | "
              + ", ".join(f"{link} {count:,}" for link, count in links.most_common(4)) + " |")


if __name__ == "__main__":
    main()
