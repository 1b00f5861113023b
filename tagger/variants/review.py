"""Proposals and decisions: review.csv for a person to fill, rejections remembered, accepted rows to aliases."""

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import csv_text, write_text
from tagger.result import StepResult
from tagger.spreadsheet import from_spreadsheet_safe, spreadsheet_safe
from tagger.tagtext import resolve_chains

REVIEW_COLUMNS = ["group", "canonical", "variant", "score", "visual", "context", "spelling", "overlap",
                  "canonical_count", "variant_count", "flag", "decision"]
ACCEPT = {"accept", "accepted", "yes", "y", "1", "true", "x"}
REJECT = {"reject", "rejected", "no", "n", "0", "false"}


def read_review(path: Path) -> list[dict]:
    """review.csv rows with the spreadsheet-safe escaping undone."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    missing = {"canonical", "variant", "decision"} - set(rows[0] if rows else REVIEW_COLUMNS)
    if missing:
        raise TaggerError(f"{path}: columns {', '.join(sorted(missing))} are missing; it must keep the header "
                          f"cluster_tags.py wrote")
    return [{key: from_spreadsheet_safe(value or "") for key, value in row.items() if key} for row in rows]


class ReviewChangedOnDisk(TaggerError):
    """review.csv is no longer what the writer read: someone else (a spreadsheet, another tab) saved it since."""

    def __init__(self, path: Path):
        super().__init__(f"{path} changed on disk since it was read (a spreadsheet or another page saved it); "
                         "reload to see it before deciding again")


@dataclass
class ReviewTable:
    """review.csv as read: its header (the columns kept in their order), its rows, and a fingerprint of its bytes."""

    header: list[str]
    rows: list[dict]
    fingerprint: str


def review_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes ('' when it does not exist): compared before every write."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def read_review_table(path: Path) -> ReviewTable:
    """review.csv with its header and fingerprint taken from the same bytes."""
    data = runfolder.require(path, "cluster_tags.py").read_bytes()
    with path.open(encoding="utf-8-sig", newline="") as file:
        header = next(csv.reader(file), [])
    rows = read_review(path)
    fingerprint = hashlib.sha256(data).hexdigest()
    if review_fingerprint(path) != fingerprint:  # written between the two reads: read again
        return read_review_table(path)
    return ReviewTable([name for name in header if name], rows, fingerprint)


def review_line(header: list[str], row: dict) -> str:
    """One row of review.csv as its CSV line (spreadsheet-safe cells, in header's columns)."""
    return csv_text([spreadsheet_safe(str(row.get(name, "") or "")) for name in header], [])


def save_review_table(path: Path, header: list[str], rows: list[dict], read_fingerprint: str,
                      lines: list[str] | None = None) -> str:
    """Write rows under header (today's columns, kept as read), atomically; returns the new fingerprint.

    Refuses with ReviewChangedOnDisk when the file is no longer the one read (fingerprint read_fingerprint),
    so a decision made elsewhere is never overwritten. lines: the rows already encoded by review_line.
    """
    if review_fingerprint(path) != read_fingerprint:
        raise ReviewChangedOnDisk(path)
    if lines is None:
        lines = [review_line(header, row) for row in rows]
    text = csv_text(header, []) + "".join(lines)
    write_text(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decision_of(row: dict, path: Path, line: int) -> str | None:
    value = row.get("decision", "").strip().casefold()
    if not value:
        return None
    if value in ACCEPT:
        return "accept"
    if value in REJECT:
        return "reject"
    raise TaggerError(f"{path} line {line}: decision must be accept or reject (or empty), got {row['decision']!r}")


def previous_decisions(run_dir: Path) -> tuple[dict[tuple[str, str], str], set[frozenset]]:
    """Decisions already made: (variant, canonical) -> accept/reject, and every rejected pair so far."""
    decisions: dict[tuple[str, str], str] = {}
    rejected = set(read_rejected(run_dir))
    review = run_dir / runfolder.REVIEW
    if review.exists():
        for line, row in enumerate(read_review(review), start=2):
            decision = decision_of(row, review, line)
            if decision:
                decisions[(row["variant"], row["canonical"])] = decision
            if decision == "reject":
                rejected.add(frozenset((row["variant"], row["canonical"])))
    return decisions, rejected


def read_rejected(run_dir: Path) -> list[frozenset]:
    path = run_dir / runfolder.REJECTED
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as file:
        return [frozenset((from_spreadsheet_safe(row["tag"]), from_spreadsheet_safe(row["other_tag"])))
                for row in csv.DictReader(file)]


def write_rejected(run_dir: Path, rejected: set[frozenset]) -> None:
    rows = sorted(tuple(sorted(pair)) for pair in rejected if len(pair) == 2)
    runfolder.write_csv(run_dir / runfolder.REJECTED, ["tag", "other_tag"],
                        [(spreadsheet_safe(a), spreadsheet_safe(b)) for a, b in rows])


def write_review(run_dir: Path, groups, decisions: dict[tuple[str, str], str], near_misses=()) -> None:
    """One row per proposed merge, earlier decisions kept; a tag also accepted elsewhere is flagged, and so is
    a merge carried by spelling alone. Then one row per near miss (no group number; flagged), so recall can be
    reviewed too: accepting one merges it like any other row."""
    accepted_targets: dict[str, set[str]] = {}
    for (variant, canonical), decision in decisions.items():
        if decision == "accept":
            accepted_targets.setdefault(variant, set()).add(canonical)
    rows = []
    for number, group in enumerate(groups, start=1):
        for index in range(1, len(group.members)):
            variant, canonical = group.members[index], group.canonical
            others = accepted_targets.get(variant, set()) - {canonical}
            flags = [group.flags[index]] if getattr(group, "flags", None) and group.flags[index] else []
            flags += [f"also accepted as a variant of {', '.join(sorted(others))}"] if others else []
            flag = "; ".join(flags)
            evidence = group.evidence
            rows.append([
                number, canonical, variant, f"{group.scores[index]:.4f}" if group.scores else "",
                f"{group.similarities[index]:.4f}",
                *(_evidence_cell(evidence, name, index) for name in ("context", "spelling", "overlap")),
                group.counts[0], group.counts[index], flag, decisions.get((variant, canonical), ""),
            ])
    for miss in near_misses:
        rows.append(["", miss["canonical"], miss["variant"], f"{miss['score']:.4f}", f"{miss['visual']:.4f}",
                     *("" if miss[name] != miss[name] else f"{miss[name]:.4f}" for name in ("context", "spelling", "overlap")),
                     miss["canonical_count"], miss["variant_count"], miss["flag"],
                     decisions.get((miss["variant"], miss["canonical"]), "")])
    runfolder.write_csv(run_dir / runfolder.REVIEW, REVIEW_COLUMNS,
                        [[spreadsheet_safe(str(cell)) for cell in row] for row in rows])


def _evidence_cell(evidence, name: str, index: int) -> str:
    if evidence is None:
        return ""
    value = float(getattr(evidence, name)[index])
    return "" if value != value else f"{value:.4f}"  # NaN: no evidence of this kind


def accepted_aliases(run_dir: Path) -> dict[str, str]:
    """variant -> canonical for the accepted rows of review.csv, chains resolved, conflicts refused."""
    review = runfolder.require(run_dir / runfolder.REVIEW, "cluster_tags.py")
    targets: dict[str, str] = {}
    for line, row in enumerate(read_review(review), start=2):
        if decision_of(row, review, line) != "accept":
            continue
        variant, canonical = row["variant"].strip(), row["canonical"].strip()
        if not variant or not canonical or variant == canonical:
            continue
        if targets.get(variant, canonical) != canonical:
            raise TaggerError(f"{review} line {line}: {variant!r} is accepted as a variant of both "
                              f"{targets[variant]!r} and {canonical!r}; reject one of them")
        targets[variant] = canonical
    return resolve_chains(targets, f"{review}: accepted merges", "reject one of them")


def apply_review(settings) -> StepResult:
    """The documented command (apply_review.py): accepted rows of review.csv become aliases.txt."""
    run_dir = settings.paths.run_dir
    aliases = accepted_aliases(run_dir)
    _, rejected = previous_decisions(run_dir)
    write_rejected(run_dir, rejected)
    runfolder.write_text(run_dir / runfolder.ALIASES,
                         "".join(f"alias {variant} -> {canonical}\n" for variant, canonical in sorted(aliases.items())))
    print(f"{len(aliases)} accepted merges written to {run_dir / runfolder.ALIASES}; "
          f"{len(rejected)} rejected pairs remembered in {runfolder.REJECTED}")
    print(f"next: python prepare.py --paths.run_dir {run_dir} --data.aliases {run_dir / runfolder.ALIASES} ...")
    return StepResult([run_dir / runfolder.ALIASES, run_dir / runfolder.REJECTED], aliases)
