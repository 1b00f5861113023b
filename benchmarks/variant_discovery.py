#!/usr/bin/env python3
"""Benchmark: how well cluster_tags.py recovers tag variants, against ground truth, per method.

Injects variant spellings with known ground truth into a clean tagged set (or uses the demo's
planted variants), runs prepare.py -> train.py -> embed.py -> cluster_tags.py (once per method)
as subprocesses, and scores each method's groups as pairwise merges: precision, recall, F1.

    python benchmarks/variant_discovery.py --tags ../shared/data/coco128/tags.csv
    python benchmarks/variant_discovery.py --tags /tmp/demo_bench/tags.csv --ground-truth planted \
        --train-flags "--model.backbone mobilenetv2 --model.weights none ..."

Exact commands for both sets: benchmarks/README.md.
"""

import argparse
import csv
import itertools
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tagger.tagtext import TagNormalizer  # noqa: E402  (pure Python: does not load TensorFlow)

DEFAULT_TRAIN_FLAGS = ("--model.backbone mobilenetv2 --model.weights /work/shared/weights/mobilenetv2_imagenet_notop.weights.h5 "
                       "--model.image_size 224 --train.head.epochs 10")
INJECTED_KINDS = ("misspelling", "leetspeak", "plural", "case_separator", "translation", "synonym")
SPELLING_KINDS = ("misspelling", "leetspeak", "plural")
REPORTED_KINDS = ("misspelling", "leetspeak", "plural", "translation", "synonym", "between_variants")
LEET = {"o": "0", "e": "3", "a": "4", "i": "1", "s": "5"}
# German unless noted. Left out on purpose: grass -> gras, which is one dropped letter away and so
# would be credited to translation when a spelling-based method finds it.
TRANSLATIONS = {
    "car": "auto", "dog": "hund", "cat": "katze", "person": "persona", "tree": "baum", "sky": "himmel",
    "building": "gebaeude", "chair": "stuhl", "table": "tisch", "wall": "wand", "floor": "boden",
    "road": "strasse", "cup": "tasse", "bowl": "schuessel", "window": "fenster", "door": "tuer",
    "bottle": "flasche", "clock": "uhr", "truck": "lastwagen", "sea": "meer", "house": "haus",
    "bicycle": "fahrrad", "knife": "messer", "fork": "gabel", "ceiling": "decke", "fence": "zaun",
    "paper": "papier", "light": "licht", "snow": "schnee", "bed": "bett", "book": "buch",
    "mountain": "berg", "dirt": "erde", "cabinet": "schrank", "backpack": "rucksack",
    # The demo's colours (data/make_demo.py plants red -> rot).
    "red": "rot", "blue": "blau", "green": "gruen", "yellow": "gelb",
}
SYNONYMS = {
    "person": "human", "car": "automobile", "couch": "sofa", "tv": "television", "cup": "mug",
    "road": "street", "pavement": "sidewalk", "rug": "carpet", "handbag": "purse",
    "cell phone": "mobile phone", "motorcycle": "motorbike", "bicycle": "bike", "airplane": "aeroplane",
    "refrigerator": "fridge", "sea": "ocean", "dirt": "soil", "cabinet": "cupboard", "tie": "necktie",
    "truck": "lorry", "house": "home", "sports ball": "ball", "remote": "remote control",
    "backpack": "knapsack", "rock": "stone", "wine glass": "goblet",
}

normalize = TagNormalizer()  # prepare.py's default rules: what the run's vocabulary holds


# ---------------------------------------------------------------- reading and writing tag tables

def read_tag_table(path: Path) -> list[tuple[str, list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as table:
        return [(row["image"], [t.strip() for t in row["tags"].split(",") if t.strip()])
                for row in csv.DictReader(table)]


def write_tag_table(path: Path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)  # quotes the tags cell, since it holds commas
        writer.writerow(["image", "tags"])
        writer.writerows((image, ", ".join(tags)) for image, tags in rows)


# ---------------------------------------------------------------- making variant spellings

def misspell(tag: str, rng: random.Random) -> str | None:
    """Swap two neighbouring letters, drop one (never the first: people seldom do), or double one."""
    letters = [i for i, c in enumerate(tag) if c.isalpha()]
    operation = rng.choice(["swap", "drop", "double"])
    if operation == "swap":
        places = [i for i in letters if i + 1 in letters and tag[i] != tag[i + 1]]
    else:
        places = letters[1:] if operation == "drop" and len(tag) >= 4 else letters if operation == "double" else []
    if not places:
        return None
    i = rng.choice(places)
    if operation == "swap":
        return tag[:i] + tag[i + 1] + tag[i] + tag[i + 2:]
    return tag[:i] + tag[i + 1:] if operation == "drop" else tag[:i + 1] + tag[i:]


def leetspeak(tag: str, rng: random.Random) -> str | None:
    """Every occurrence of one letter becomes its digit: person -> p3rson."""
    present = sorted({c for c in tag if c in LEET})
    if not present:
        return None
    letter = rng.choice(present)
    return tag.replace(letter, LEET[letter])


# The English plurals of coco's class names (and a few more) that no ending makes: the plural a person types. Its own
# list, not tagger.variants.spelling's: the ground truth must not come from the code it scores.
IRREGULAR_PLURALS = {"person": "people", "knife": "knives", "mouse": "mice", "sheep": "sheep", "man": "men",
                     "woman": "women", "child": "children", "foot": "feet", "tooth": "teeth", "leaf": "leaves",
                     "shelf": "shelves", "wolf": "wolves", "scarf": "scarves", "goose": "geese"}


def plural(tag: str, rng: random.Random) -> str | None:
    last = tag.split(" ")[-1]
    if last in IRREGULAR_PLURALS:
        return None if IRREGULAR_PLURALS[last] == last else tag[: -len(last)] + IRREGULAR_PLURALS[last]
    if not last.isalpha() or (last.endswith("s") and not last.endswith(("ss", "us"))):
        return None  # already plural, like "skis"
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return tag[:-1] + "ies"
    return tag + ("es" if last.endswith(("s", "x", "z", "ch", "sh")) else "s")


def case_separator(tag: str, rng: random.Random) -> str:
    words = tag.split(" ")
    if len(words) > 1:
        return rng.choice(["_".join(w.capitalize() for w in words), "-".join(words), " ".join(words).upper()])
    return rng.choice([tag.capitalize(), tag.upper()])


MAKERS = {"misspelling": misspell, "leetspeak": leetspeak, "plural": plural, "case_separator": case_separator,
          "translation": lambda tag, rng: TRANSLATIONS.get(tag), "synonym": lambda tag, rng: SYNONYMS.get(tag)}


def usable(spelling: str | None, kind: str, concept: str, taken: set[str]) -> bool:
    """A new spelling must not collide with a tag already in the set (it would merge two concepts);
    a case/separator variant must instead fold onto its concept, which is its point."""
    if not spelling:
        return False
    if kind == "case_separator":
        return normalize(spelling) == normalize(concept) and spelling != concept
    return normalize(spelling) not in taken


def plan_variants(counts: Counter, concepts: int, min_count: int, rng: random.Random) -> dict:
    """concept -> [(spelling, kind), ...], the concept's own spelling first; kinds taken in turn so
    each is represented, and only concepts with enough images for every spelling to keep min_count."""
    taken = {normalize(tag) for tag in counts}
    eligible = sorted(tag for tag, count in counts.items() if count >= 2 * min_count)
    rng.shuffle(eligible)
    plan = {}
    for slot in range(concepts):
        kind = INJECTED_KINDS[slot % len(INJECTED_KINDS)]
        for concept in (c for c in eligible if c not in plan):
            if usable(spelling := MAKERS[kind](concept, rng), kind, concept, taken):
                break
        else:
            continue  # no concept left that this kind applies to
        plan[concept] = [(concept, "original"), (spelling, kind)]
        taken.add(normalize(spelling))
        if counts[concept] >= 3 * min_count and rng.random() < 0.5:
            for second in rng.sample([k for k in INJECTED_KINDS if k != kind], len(INJECTED_KINDS) - 1):
                if usable(spelling := MAKERS[second](concept, rng), second, concept, taken):
                    plan[concept].append((spelling, second))
                    taken.add(normalize(spelling))
                    break
    return plan


def inject_variants(rows, plan: dict, min_count: int, double_rate: float, rng: random.Random,
                    own_share: float = 0.5):
    """Each image carrying a concept gets one of its spellings, as one user would type it; every
    spelling first gets min_count images so prepare.py keeps it, the rest go by shares (the concept's
    own spelling own_share of them, the others the rest alike). A few images get two spellings (double_rate)."""
    rows = [(image, list(tags)) for image, tags in rows]
    for concept, spellings in plan.items():
        names = [s for s, _ in spellings]
        shares = [own_share] + [(1 - own_share) / (len(names) - 1)] * (len(names) - 1)
        carriers = [row for row in rows if concept in row[1]]
        rng.shuffle(carriers)
        for index, (_, tags) in enumerate(carriers):
            chosen = names[index % len(names)] if index < min_count * len(names) else rng.choices(names, shares)[0]
            extra = [rng.choice([n for n in names if n != chosen])] if rng.random() < double_rate else []
            position = tags.index(concept)
            tags[position:position + 1] = [chosen] + extra
    return rows


def classify_kind(original: str, spelling: str) -> str:
    """The kind of a planted variant, which planted_variants.json does not record."""
    o, s = normalize(original), normalize(spelling)
    if o == s:
        return "case_separator"
    if TRANSLATIONS.get(o) == s:
        return "translation"
    if SYNONYMS.get(o) == s:
        return "synonym"
    if s in (o + "s", o + "es", o[:-1] + "ies") or s == plural(o, None):
        return "plural"
    if any(LEET[c] in s for c in LEET) and "".join({v: k for k, v in LEET.items()}.get(c, c) for c in s) == o:
        return "leetspeak"
    return "misspelling"


def ground_truth(arguments, work_dir: Path) -> tuple[dict, Path]:
    """{concept: [{spelling, kind, images}]} and the tags file the pipeline is to read."""
    rows = read_tag_table(arguments.tags)
    if arguments.ground_truth == "planted":
        planted = json.loads((arguments.tags.parent / "planted_variants.json").read_text(encoding="utf-8"))
        plan = {c: [(s, "original" if i == 0 else classify_kind(ss[0], s)) for i, s in enumerate(ss)]
                for c, ss in planted.items()}
        source = arguments.tags
    else:
        rng = random.Random(arguments.seed)
        plan = plan_variants(Counter(t for _, tags in rows for t in set(tags)), arguments.concepts,
                             arguments.min_count, rng)
        rows = inject_variants(rows, plan, arguments.min_count, arguments.double_tag_rate, rng)
        source = work_dir / "tags.csv"
        write_tag_table(source, rows)
    uses = Counter(t for _, tags in rows for t in tags)
    truth = {c: [{"spelling": s, "kind": k, "images": uses[s]} for s, k in spellings] for c, spellings in plan.items()}
    (work_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return truth, source


# ---------------------------------------------------------------- running the pipeline

def run_step(label: str, script: str, flags: list[str], work_dir: Path, timings: dict) -> subprocess.CompletedProcess:
    # The benchmark's settings are its flags: TAGGER_ variables and a .env in the caller's folder
    # would silently change them, so the steps run without the former and in the work folder.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TAGGER_")}
    print(f"running {label} ...", flush=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(REPO / script), *flags], cwd=work_dir, env=environment,
                            capture_output=True, text=True)
    timings[label] = round(time.perf_counter() - start, 1)
    log = work_dir / "logs" / f"{label.replace(' ', '_')}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    print(f"  {label}: exit {result.returncode}, {timings[label]} s (log: {log})", flush=True)
    return result


def run_pipeline(arguments, source: Path, images_root: Path, work_dir: Path, timings: dict) -> dict:
    """Runs the four steps; returns method -> its synonyms.json contents, or the reason it has none."""
    run_dir = work_dir / "run"
    common = ["--paths.run_dir", str(run_dir)]
    steps = [("prepare", "prepare.py", ["--data.source", str(source), "--data.images_root", str(images_root),
                                        "--data.min_tag_occurrences", str(arguments.min_count)]),
             ("train", "train.py", shlex.split(arguments.train_flags)), ("embed", "embed.py", [])]
    for label, script, flags in steps:
        if run_step(label, script, common + flags, work_dir, timings).returncode != 0:
            sys.exit(f"{script} failed; see {work_dir / 'logs' / (label + '.log')}")
    outcomes = {}
    for method in arguments.methods.split(","):
        (run_dir / "synonyms.json").unlink(missing_ok=True)  # so a failed run cannot leave the last method's
        result = run_step(f"cluster_tags {method}", "cluster_tags.py",
                          common + ["--cluster.method", method, *shlex.split(arguments.cluster_flags)], work_dir, timings)
        last_line = (result.stderr.strip().splitlines() or [""])[-1]
        if result.returncode == 2:  # settings rejected: this method does not exist (yet)
            outcomes[method] = {"status": "not available", "reason": last_line}
        elif result.returncode != 0:
            outcomes[method] = {"status": f"failed (exit {result.returncode})", "reason": last_line}
        else:
            shutil.copy(run_dir / "synonyms.json", work_dir / f"synonyms.{method}.json")
            outcomes[method] = {"status": "ok", "groups": json.loads((run_dir / "synonyms.json").read_text("utf-8"))["groups"]}
    return outcomes


# ---------------------------------------------------------------- scoring

def true_pairs(truth: dict, vocabulary: set[str]) -> tuple[dict, dict]:
    """{pair: kind} over normalized spellings in the vocabulary, and what was folded or excluded.

    A pair's kind is its variant's kind when one side is the concept's own spelling, else
    between_variants. Pairs that normalize to one tag are merged by prepare.py already (found)."""
    pairs, folded, excluded_pairs, missing = {}, 0, 0, set()
    for concept, spellings in truth.items():
        missing |= {s["spelling"] for s in spellings if normalize(s["spelling"]) not in vocabulary}
        for first, second in itertools.combinations(spellings, 2):  # the original comes first
            a, b = normalize(first["spelling"]), normalize(second["spelling"])
            if a == b:
                folded += 1
            elif a not in vocabulary or b not in vocabulary:
                excluded_pairs += 1
            else:
                kind = second["kind"] if first["kind"] == "original" else "between_variants"
                pairs.setdefault(frozenset((a, b)), kind)
    return pairs, {"folded_by_prepare": folded, "excluded_pairs": excluded_pairs,
                   "spellings_not_in_vocabulary": sorted(missing)}


def score(groups: list, truth_pairs: dict) -> dict:
    proposed = {frozenset(pair) for group in groups
                for pair in itertools.combinations([m["tag"] for m in group["members"]], 2)}
    found = proposed & truth_pairs.keys()
    precision = len(found) / len(proposed) if proposed else None
    recall = len(found) / len(truth_pairs) if truth_pairs else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0

    def recall_of(kinds):
        relevant = [p for p, k in truth_pairs.items() if k in kinds]
        return round(sum(p in found for p in relevant) / len(relevant), 4) if relevant else None

    return {"proposed_pairs": len(proposed), "true_pairs_found": len(found),
            "precision": precision, "recall": recall, "f1": f1,
            "spelling_recall": recall_of(SPELLING_KINDS),
            "recall_by_kind": {kind: recall_of({kind}) for kind in REPORTED_KINDS},
            "wrong_merges": sorted(sorted(p) for p in proposed - found),
            "missed": sorted([*sorted(p), truth_pairs[p]] for p in truth_pairs.keys() - found)}


# ---------------------------------------------------------------- reporting

def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    return {"cpu": model or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": platform.python_version()}


def cell(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def listing(items: list[str], shown: int) -> str:
    # One big chained cluster makes hundreds of wrong pairs; the JSON keeps them all.
    more = f"; ... {len(items) - shown} more in the results JSON" if len(items) > shown else ""
    return "; ".join(items[:shown]) + more if items else "none"


def print_report(results: dict, shown: int) -> None:
    gt = results["ground_truth"]
    print(f"\n## Variant discovery: {results['tags']} ({results['ground_truth_mode']})\n")
    print(f"{gt['concepts']} concepts, {gt['true_pairs']} true pairs in the vocabulary; "
          f"{gt['folded_by_prepare']} folded by prepare (found); {gt['excluded_pairs']} pairs excluded, "
          f"spellings too rare: {', '.join(gt['spellings_not_in_vocabulary']) or 'none'}\n")
    print("| method | proposed pairs | precision | recall | F1 | spelling recall |\n|---|---|---|---|---|---|")
    for method, outcome in results["methods"].items():
        if outcome["status"] != "ok":
            print(f"| {method} | {outcome['status']} | | | | |")
        else:
            print(f"| {method} | " + " | ".join(cell(outcome[k]) for k in
                  ("proposed_pairs", "precision", "recall", "f1", "spelling_recall")) + " |")
    for method, outcome in results["methods"].items():
        if outcome["status"] != "ok":
            print(f"\n{method}: {outcome['status']}: {outcome['reason']}")
    print(f"\nF1 difference combined − dbscan: {cell(results['f1_difference_combined_minus_dbscan'])}\n")
    print("| method | " + " | ".join(REPORTED_KINDS) + " |\n|---|" + "---|" * len(REPORTED_KINDS))
    for method, outcome in results["methods"].items():
        if outcome["status"] == "ok":
            print(f"| {method} | " + " | ".join(cell(outcome["recall_by_kind"][k]) for k in REPORTED_KINDS) + " |")
    for method, outcome in results["methods"].items():
        if outcome["status"] == "ok":
            print(f"\n{method}: wrong merges: " + listing([" / ".join(p) for p in outcome["wrong_merges"]], shown))
            print(f"{method}: missed: " + listing([f"{a} / {b} ({k})" for a, b, k in outcome["missed"]], shown))
    m = results["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['platform']}")
    print("wall time (s): " + ", ".join(f"{step} {seconds}" for step, seconds in results["timings"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=Path, required=True, help="CSV with columns image,tags")
    parser.add_argument("--images-root", type=Path, help="default: the CSV's folder")
    parser.add_argument("--ground-truth", choices=["inject", "planted"], default="inject",
                        help="inject variants into a clean set, or use planted_variants.json beside --tags")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concepts", type=int, default=18, help="concepts to give variant spellings")
    parser.add_argument("--min-count", type=int, default=3, help="images each spelling keeps; prepare's threshold")
    parser.add_argument("--double-tag-rate", type=float, default=0.05)
    parser.add_argument("--methods", default="combined,dbscan")
    parser.add_argument("--train-flags", default=DEFAULT_TRAIN_FLAGS)
    parser.add_argument("--cluster-flags", default="", help="extra flags for every cluster_tags.py run")
    parser.add_argument("--work-dir", type=Path, help="default: a new temporary folder (kept)")
    parser.add_argument("--out", type=Path, help="results JSON (default: results.json in the work folder)")
    parser.add_argument("--show", type=int, default=40, help="wrong merges and missed pairs printed per method")
    arguments = parser.parse_args()
    arguments.tags = arguments.tags.resolve()
    images_root = (arguments.images_root or arguments.tags.parent).resolve()
    work_dir = (arguments.work_dir or Path(tempfile.mkdtemp(prefix="variant_bench_"))).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work_dir}")

    timings, start = {}, time.perf_counter()
    truth, source = ground_truth(arguments, work_dir)
    outcomes = run_pipeline(arguments, source, images_root, work_dir, timings)
    with (work_dir / "run" / "vocabulary.csv").open(newline="", encoding="utf-8") as table:
        vocabulary = {row["tag"] for row in csv.DictReader(table)}
    timings["total"] = round(time.perf_counter() - start, 1)
    pairs, truth_summary = true_pairs(truth, vocabulary)
    for outcome in outcomes.values():
        if outcome["status"] == "ok":
            outcome.update(score(outcome.pop("groups"), pairs))
    f1 = {m: o["f1"] for m, o in outcomes.items() if o["status"] == "ok"}
    results = {
        "tags": str(arguments.tags), "ground_truth_mode": arguments.ground_truth, "seed": arguments.seed,
        "min_count": arguments.min_count, "train_flags": arguments.train_flags, "work_dir": str(work_dir),
        "ground_truth": {"concepts": len(truth), "true_pairs": len(pairs), **truth_summary, "spellings": truth},
        "methods": outcomes,
        "f1_difference_combined_minus_dbscan": f1["combined"] - f1["dbscan"] if {"combined", "dbscan"} <= f1.keys() else None,
        "machine": machine(), "timings": timings,
    }
    print_report(results, arguments.show)
    out = arguments.out or work_dir / "results.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
