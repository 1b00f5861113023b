#!/usr/bin/env python3
"""What do the images say about the pairs spelling links, where the merge rests on spelling alone?

A pair proposed on spelling alone (`spelling only: check`: the images neither confirm it nor tell its tags apart) is
right on most sets and wrong by construction on the look-alike sets that rename a distinct class to a near spelling
(nearspell, danbooru, nearslip, together_nearspell). This script asks whether anything the step measures could tell
the two apart there. For every set and seed of benchmarks/variant_suite.py it runs the variant step and keeps every
candidate pair with a spelling link: whether it is true, its counts, the rule's terms (tagger/variants/rule.py
PairEvidence.parts) and the separability probe's statistics. It then prints, among the pairs proposed on spelling
alone, how well each measure ranks the false above the true (ROC AUC: 0.5 is no information), at coco128's scale
(8-60 images a tag) and at the scale of the midscale and scenes sets.

    python benchmarks/spelled_pairs.py [--work-dir /tmp/variant_suite] [--seeds 0,1,2] [--sets coco,...] \
        [--demo-runs runs/demo] [--out pairs.json]
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import variant_suite  # noqa: E402
from variant_discovery import DEFAULT_TRAIN_FLAGS, machine, true_pairs  # noqa: E402

PROBE_MEASURES = ("auc", "z", "gap_z", "gap_power", "separation", "gap_separation", "reference_z")
RANKED = ("probe z", "probe gap_z", "probe separation", "probe gap_separation", "probe gap_power", "visual",
          "context", "overlap", "rarer count")


def spelled_pairs(label: str, rows, embeddings, plan: dict, min_count: int, kernel=None, photos=None) -> list[dict]:
    """Every candidate pair with a spelling link on one set: truth, counts, the rule's terms, the probe's measures."""
    truth = {c: [{"spelling": s, "kind": k} for s, k in spellings] for c, spellings in plan.items()}
    vocabulary, combined, _, _ = variant_suite.discover(rows, embeddings, min_count, kernel, photos)
    pairs, _ = true_pairs(truth, set(vocabulary))
    counts = combined.cooccurrence_.counts
    evidence, parts, probe = combined.evidence_, combined.evidence_.parts(), combined.evidence_.probe
    group_of = {tag: index for index, group in enumerate(combined.groups_) for tag in group.members}
    records = []
    for i in np.flatnonzero(parts["spelled"] > 0):
        first, second = evidence.first[i], evidence.second[i]
        a, b = vocabulary[first], vocabulary[second]
        record = {"set": label, "pair": [a, b], "true": frozenset((a, b)) in pairs,
                  "counts": [int(counts[first]), int(counts[second])], "merged": a in group_of and group_of[a] == group_of.get(b),
                  "visual": float(evidence.visual[i]), "context": float(evidence.context[i]),
                  "overlap": float(evidence.overlap[i]), "spelling": float(evidence.spelling[i]),
                  **{name: float(value[i]) for name, value in parts.items()}}
        if probe is not None:
            record.update({f"probe {name}": float(getattr(probe, name)[i]) for name in PROBE_MEASURES})
        records.append(record)
    return records


def spelling_only(records: list[dict], min_score: float = 0.5) -> list[dict]:
    return [r for r in records if r["score"] >= min_score and r["images_agree"] < 0.5]


def ranking_auc(false_values: list[float], true_values: list[float]) -> float:
    """P(a false pair's value > a true pair's), ties a half (Mann-Whitney)."""
    false_values, true_values = np.asarray(false_values), np.asarray(true_values)
    greater = (false_values[:, None] > true_values[None, :]).mean()
    ties = (false_values[:, None] == true_values[None, :]).mean()
    return float(greater + ties / 2)


def measure(record: dict, name: str) -> float:
    return min(record["counts"]) if name == "rarer count" else record.get(name, np.nan)


def print_rankings(records: list[dict]) -> None:
    scales = {"coco128's scale": lambda s: not s.startswith(("midscale", "scenes", "demo")),
              "midscale and scenes": lambda s: s.startswith(("midscale", "scenes"))}
    for scale, chosen in scales.items():
        proposed = [r for r in spelling_only(records) if chosen(r["set"])]
        false, true = [r for r in proposed if not r["true"]], [r for r in proposed if r["true"]]
        print(f"\n{scale}: {len(proposed)} pairs proposed on spelling alone, {len(false)} false")
        if not false or not true:
            continue
        print("| measure | AUC, false above true | false median | true median |\n|---|---|---|---|")
        for name in RANKED:
            f = [v for v in (measure(r, name) for r in false) if np.isfinite(v)]
            t = [v for v in (measure(r, name) for r in true) if np.isfinite(v)]
            if f and t:
                print(f"| {name} | {ranking_auc(f, t):.2f} | {np.median(f):.2f} | {np.median(t):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/variant_suite"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default=",".join(variant_suite.ALL_SETS))
    parser.add_argument("--min-count", type=int, default=8)
    parser.add_argument("--demo-runs", default="", help="comma-separated run folders made by data/run_demo.sh")
    parser.add_argument("--out", type=Path, help="every spelled pair's record, as JSON")
    arguments = parser.parse_args()
    seeds = [int(s) for s in arguments.seeds.split(",") if s]
    sets = arguments.sets.split(",")
    records, start = [], time.perf_counter()
    coco_sets = [s for s in sets if s not in ("demo", *variant_suite.SCENES_SETS)]
    if coco_sets:
        tags, embeddings = variant_suite.coco_base(arguments.work_dir, DEFAULT_TRAIN_FLAGS)
        for name in coco_sets:
            for seed in seeds:
                rows, set_embeddings, plan, photos = variant_suite.make_set(name, seed, tags, embeddings,
                                                                            arguments.min_count)
                records += spelled_pairs(f"{name} s{seed}", rows, set_embeddings, plan, arguments.min_count,
                                         photos=photos)
                print(f"{name} s{seed}: {len(records)} spelled pairs so far", flush=True)
    scenes_sets = [s for s in variant_suite.SCENES_SETS if s in sets]
    if scenes_sets:
        from lookalike_scenes import spelled, spelled_near, spelled_near_with_signature, spelling_plan

        tags, embeddings = variant_suite.scenes_base(arguments.work_dir, variant_suite.SCENES_TRAIN_FLAGS)
        spellers = {"scenes": spelled, "scenes_nearspell": spelled_near, "scenes_signature": spelled_near_with_signature,
                    "scenes_correlated": lambda rows, seed: variant_suite.correlated_injection(
                        rows, embeddings, spelling_plan(), arguments.min_count, random.Random(seed))}
        for name in scenes_sets:
            for seed in seeds:
                records += spelled_pairs(f"{name} s{seed}", spellers[name](tags, seed), embeddings, spelling_plan(),
                                         arguments.min_count)
    if "demo" in sets:
        for run in filter(None, arguments.demo_runs.split(",")):
            tags, embeddings, plan, kernel, photos = variant_suite.demo_set(Path(run), 10)
            records += spelled_pairs(f"demo {Path(run).parent.name}", tags, embeddings, plan, 10, kernel, photos)
    print_rankings(records)
    m = machine()
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores; total {time.perf_counter() - start:.0f} s")
    if arguments.out:
        arguments.out.write_text(json.dumps(records, indent=1) + "\n")
        print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
