#!/usr/bin/env python3
"""What a change to variant discovery changed, pair by pair: two results of benchmarks/variant_suite.py (--out), the
code before and after, on the same sets and seeds.

Printed: each set-seed whose precision or recall moved; each pair shown in either run (proposed or listed) whose
outcome, flag or score (by more than 1e-6) changed, as (proposed, flag, score, the canonical it was shown against);
and how many pairs were only turned around (shown against the other tag as canonical). A change the note calls
"same results" prints no change.

    python benchmarks/variant_compare.py before.json after.json
"""

import argparse
import json
import sys


def by_set(path: str) -> dict[str, dict]:
    with open(path, encoding="utf-8") as file:
        return {result["set"]: result for result in json.load(file)["results"]}


def outcome(pair: dict | None) -> tuple | None:
    return None if pair is None else (pair["proposed"], pair["flag"], round(pair["score"], 3), pair["pair"][0])


def compare(before: dict[str, dict], after: dict[str, dict]) -> tuple[list[str], list[str], int]:
    """(lines for the sets whose precision or recall moved, lines for the pairs that changed, pairs only turned
    around). Sets in one run only are reported as such."""
    moved, changed, turned = [], [], 0
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            moved.append(f"{name}: only in the {'second' if name in after else 'first'} run")
            continue
        old, new = before[name], after[name]
        for measure in ("precision", "recall"):
            if old["combined"][measure] != new["combined"][measure]:
                moved.append(f"{name} {measure}: {old['combined'][measure]} -> {new['combined'][measure]}")
        old_pairs = {frozenset(pair["pair"]): pair for pair in old["pairs"]}
        new_pairs = {frozenset(pair["pair"]): pair for pair in new["pairs"]}
        for key in sorted(set(old_pairs) | set(new_pairs), key=sorted):
            first, second = old_pairs.get(key), new_pairs.get(key)
            if first is None or second is None or (first["proposed"], first["flag"]) != (
                    second["proposed"], second["flag"]) or abs(first["score"] - second["score"]) > 1e-6:
                changed.append(f"{name} {' / '.join(sorted(key))}: {outcome(first)} -> {outcome(second)}")
            elif first["pair"] != second["pair"]:
                turned += 1
    return moved, changed, turned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    try:
        moved, changed, turned = compare(by_set(args.before), by_set(args.after))
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"variant_compare: cannot read the results ({error}); give two files variant_suite.py --out wrote")
    print("\n".join(moved + changed))
    print(f"sets whose precision or recall moved: {len(moved)}; pairs changed: {len(changed)}; "
          f"pairs only turned around: {turned}")


if __name__ == "__main__":
    main()
