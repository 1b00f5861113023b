"""Proposals and decisions: review.csv for a person to fill, rejections remembered, accepted rows to aliases.

Nothing a person decided is dropped without a word: a review.csv cut short is refused, an accepted row is
either applied or refused with its line number, decisions (and canonical cells a person edited) are carried
into the next review.csv, and aliases.txt keeps the merges of every earlier round.
"""

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import csv_text, write_text
from tagger.logs import counted
from tagger.rerun import next_after_apply
from tagger.result import StepResult
from tagger.spreadsheet import from_spreadsheet_safe
from tagger.tagtext import parse_aliases, resolve_chains, write_aliases_text
from tagger.textfiles import decode_user_text, read_user_text
from tagger.variants.legend import cut, measures_text, with_text_column

log = logging.getLogger(__name__)

# "probe" (what the separability probe found) came after the numbers, and "spelled" (the spelling link in words) after
# it; readers go by the header's names.
REVIEW_COLUMNS = ["group", "canonical", "variant", "confidence", "score", "visual", "context", "spelling", "overlap",
                  "probe", "spelled", "canonical_count", "variant_count", "flag", "decision"]
# Columns of numbers: a negative one is written as a number, not neutralized as a formula would be.
MEASURE_COLUMNS = frozenset({"group", "confidence", "score", "visual", "context", "spelling", "overlap", "text",
                             "canonical_count", "variant_count"})
ACCEPT = {"accept", "accepted", "yes", "y", "1", "true", "x"}
REJECT = {"reject", "rejected", "no", "n", "0", "false"}
KEPT_FLAG = "kept from the earlier review.csv: not proposed this run"
UNDO_HINT = f"to undo an earlier merge, delete its line from {runfolder.ALIASES}"


# --- reading review.csv -----------------------------------------------------------------------------------

def read_review_lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of every row of review.csv, the spreadsheet-safe escaping undone.

    A file cut short (ending mid-row or inside a quoted cell) or a row with another number of cells than
    the header is refused, naming the line: applying the rows before the cut would drop the rest silently.
    """
    return parse_review(read_user_text(path), path)[1]


def missing_columns(header: list[str]) -> list[str]:
    return sorted({"canonical", "variant", "decision"} - set(header))


def parse_review(text: str, path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """review.csv's header and (line number, row) pairs from its text (see read_review_lines)."""
    if text and not text.endswith(("\n", "\r")):
        raise TaggerError(f"{path} ends in the middle of line {text.count(chr(10)) + 1} (no line break after it): "
                          "it looks cut short; restore it, or add a line break at its end if it is complete")
    if not text:  # cluster_tags.py always writes the header: nothing left is a file emptied
        raise TaggerError(f"{path} is empty, its header too: restore it from the spreadsheet, or delete it and run "
                          "cluster_tags.py again (the decisions in it are lost)")
    first_line = text.splitlines()[0]
    if "," not in first_line and not missing_columns(next(csv.reader([first_line], delimiter=";"))):
        raise TaggerError(f"{path} is separated by semicolons (a spreadsheet's setting in some languages): save it as "
                          "comma-separated (CSV UTF-8)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, line = [], 1
    try:
        header = next(reader, None) or []
        missing = missing_columns(header)
        if missing:
            raise TaggerError(f"{path}: {'columns' if len(missing) > 1 else 'column'} {', '.join(missing)} "
                              f"{'are' if len(missing) > 1 else 'is'} missing; it must keep the header cluster_tags.py "
                              "wrote")
        line = reader.line_num + 1
        for cells in reader:
            if cells and len(cells) != len(header):
                raise TaggerError(f"{path} line {line}: {len(cells)} cells where the header has {len(header)}: "
                                  "the file looks cut short or damaged; restore it from the spreadsheet")
            if cells:
                rows.append((line, {name: from_spreadsheet_safe(cell) for name, cell in zip(header, cells) if name}))
            line = reader.line_num + 1
    except csv.Error as error:
        raise TaggerError(f"{path} line {line}: {error} (a quoted cell is never closed): it looks cut short; "
                          "restore it from the spreadsheet") from None
    return header or [], rows


def read_review(path: Path) -> list[dict]:
    """review.csv rows with the spreadsheet-safe escaping undone."""
    return [row for _, row in read_review_lines(path)]


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
    data = runfolder.require(path, "cluster_tags.py").read_bytes()  # one read: rows and fingerprint agree
    header, lines = parse_review(decode_user_text(data, path), path)
    return ReviewTable([name for name in header if name], [row for _, row in lines],
                       hashlib.sha256(data).hexdigest())


def review_line(header: list[str], row: dict) -> str:
    """One row of review.csv as its CSV line (spreadsheet-safe cells, in header's columns)."""
    return csv_text([str(row.get(name, "") or "") for name in header], [])  # csv_text neutralizes formulas


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
    raise TaggerError(f"{path} line {line}: decision must be accept or reject (or empty; yes, y, x and 1 accept, no, n "
                      f"and 0 reject), got {row['decision']!r}")


def previous_decisions(run_dir: Path) -> tuple[dict[tuple[str, str], str], set[frozenset]]:
    """Decisions already made: (variant, canonical) -> accept/reject, and every rejected pair so far."""
    decisions: dict[tuple[str, str], str] = {}
    rejected = set(read_rejected(run_dir))
    review = run_dir / runfolder.REVIEW
    if review.exists():
        for line, row in read_review_lines(review):
            decision = decision_of(row, review, line)
            if decision:
                decisions[(row["variant"], row["canonical"])] = decision
            if decision == "reject":
                rejected.add(frozenset((row["variant"], row["canonical"])))
    return decisions, rejected


# --- rejected.csv -----------------------------------------------------------------------------------------

def read_rejected(run_dir: Path) -> list[frozenset]:
    path = run_dir / runfolder.REJECTED
    if not path.exists():
        return []
    table = runfolder.read_csv(path)
    return [frozenset((tag, other)) for tag, other in zip(table["tag"], table["other_tag"])]


def write_rejected(run_dir: Path, rejected: set[frozenset]) -> None:
    rows = sorted(tuple(sorted(pair)) for pair in rejected if len(pair) == 2)
    runfolder.write_csv(run_dir / runfolder.REJECTED, ["tag", "other_tag"], rows)


# --- writing review.csv -----------------------------------------------------------------------------------

def write_review(run_dir: Path, groups, decisions: dict[tuple[str, str], str], near_misses=()) -> None:
    """One row per proposed merge, earlier decisions kept; a tag also accepted elsewhere is flagged, and so is
    a merge carried by spelling alone. Then one row per near miss (no group number; flagged), so recall can be
    reviewed too: accepting one merges it like any other row.

    A proposal or near miss whose variant a person accepted under a canonical they typed keeps their canonical; accepted
    rows not proposed again (and not yet in aliases.txt) are kept at the end, so no decision is lost.
    With the tag names' text cosine measured (cluster.text_evidence), a text column follows overlap.
    """
    accepted_targets: dict[str, set[str]] = {}
    for (variant, canonical), decision in decisions.items():
        if decision == "accept":
            accepted_targets.setdefault(variant, set()).add(canonical)
    written: set[tuple[str, str]] = set()
    rows = []
    for number, group in enumerate(groups, start=1):
        answers = group.evidence.probe_answers() if group.evidence is not None else None
        spelled = group.spelling_links()
        for index in range(1, len(group.members)):
            variant, canonical = group.members[index], group.canonical
            canonical = edited_canonical(variant, canonical, decisions, accepted_targets)
            written.add((variant, canonical))
            others = accepted_targets.get(variant, set()) - {canonical}
            flags = [group.flags[index]] if getattr(group, "flags", None) and group.flags[index] else []
            flags += [f"also accepted as a variant of {', '.join(sorted(others))}"] if others else []
            evidence = group.evidence
            rows.append({
                "group": number, "canonical": canonical, "variant": variant,
                "score": cut(group.scores[index], 4) if group.scores else "",
                "confidence": cut(group.confidences[index], 4) if getattr(group, "confidences", None) else "",
                "visual": cut(group.similarities[index], 4),
                **{name: _evidence_cell(evidence, name, index) for name in ("context", "spelling", "overlap", "text")},
                "probe": "" if answers is None else answers[index],
                "spelled": spelled[index] if spelled is not None else "",
                "canonical_count": group.counts[0], "variant_count": group.counts[index], "flag": "; ".join(flags),
                "decision": decisions.get((variant, canonical), ""),
            })
    for miss in near_misses:
        # As a proposal's: a near miss a person accepted under a canonical they typed is shown under it (its evidence
        # measured against the one listed), not listed again undecided beside their row.
        canonical = edited_canonical(miss["variant"], miss["canonical"], decisions, accepted_targets)
        canonical = miss["canonical"] if (miss["variant"], canonical) in written else canonical
        written.add((miss["variant"], canonical))
        rows.append({**{name: miss[name] for name in ("variant", "canonical_count", "variant_count", "flag")},
                     "canonical": canonical, **{name: miss.get(name) or "" for name in ("probe", "spelled")},
                     **{name: "" if miss.get(name) is None or miss[name] != miss[name] else cut(miss[name], 4)
                        for name in ("confidence", "score", "visual", "context", "spelling", "overlap", "text")},
                     "decision": decisions.get((miss["variant"], canonical), "")})
    rows += kept_accepted_rows(run_dir, decisions, written)
    columns = review_columns(measures_text(groups, near_misses))
    cells = [[str(row.get(name, "")) for name in columns] for row in rows]
    runfolder.write_csv(run_dir / runfolder.REVIEW, columns, cells, numbers=MEASURE_COLUMNS)


def review_columns(text: bool) -> list[str]:
    """REVIEW_COLUMNS, with the tag names' text cosine after overlap when the run measured it. Readers go by
    the header's names, so a review.csv with or without it reads alike."""
    return with_text_column(REVIEW_COLUMNS, after="overlap") if text else REVIEW_COLUMNS


def edited_canonical(variant: str, canonical: str, decisions: dict, accepted_targets: dict[str, set[str]]) -> str:
    """The canonical a person chose for this variant, when they accepted it under another spelling than
    the one proposed (and never decided the proposal itself); else the proposed one."""
    if (variant, canonical) in decisions:
        return canonical
    chosen = sorted(accepted_targets.get(variant, set()))
    return chosen[0] if len(chosen) == 1 else canonical


def already_merged(variant: str, canonical: str, merges: dict[str, str]) -> bool:
    """merges (chains resolved, as aliases.txt holds them) already send variant where canonical leads: an
    accepted a -> b whose b was itself merged into c is written as a -> c, and is the same decision."""
    return variant in merges and merges[variant] in (canonical, merges.get(canonical, canonical))


def kept_accepted_rows(run_dir: Path, decisions: dict, written: set[tuple[str, str]]) -> list[dict]:
    """Accepted rows of the earlier review.csv that this run did not propose and aliases.txt does not hold yet."""
    merged = dict(earlier_aliases(run_dir))
    return [{"canonical": canonical, "variant": variant, "flag": KEPT_FLAG, "decision": "accept"}
            for (variant, canonical), decision in sorted(decisions.items())
            if decision == "accept" and (variant, canonical) not in written
            and not already_merged(variant, canonical, merged)]


def _evidence_cell(evidence, name: str, index: int) -> str:
    if evidence is None or getattr(evidence, name) is None:  # text: only with cluster.text_evidence
        return ""
    value = float(getattr(evidence, name)[index])
    return "" if value != value else cut(value, 4)  # NaN: no evidence of this kind


# --- accepted rows -> aliases.txt -------------------------------------------------------------------------

class RowsRefused(TaggerError):
    """Rows of review.csv apply_review.py cannot apply, each (its line, the row, why): the message names every line, and
    review.py's page shows each row's pair beside its reason."""

    def __init__(self, path: Path, kind: str, problems: list[tuple[int, dict, str]]):
        self.head = f"{path}: {counted(len(problems), kind)} cannot be applied, nothing was written"
        self.problems = problems
        super().__init__(self.head + ": " + "; ".join(f"line {line}: {why}" for line, _, why in problems))


def earlier_aliases(run_dir: Path) -> dict[str, str]:
    """The merges of earlier rounds: variant -> canonical as aliases.txt holds them ({} before the first)."""
    path = run_dir / runfolder.ALIASES
    if not path.exists():
        return {}
    return {variant: canonical for _, variant, canonical in parse_aliases(read_user_text(path), path)}


def chosen_canonicals(run_dir: Path, decisions: dict[tuple[str, str], str]) -> set[str]:
    """The tags a person merged others into and kept: the canonicals of accepted rows (review.csv) and of earlier
    rounds' merges (aliases.txt: an applied row leaves review.csv once prepare.py has merged its variant), at the
    ends of their chains (accepting dog -> dogs and dogs -> d0g chose d0g, not dogs). Each names its group in the
    next runs (tagger.variants.canonical)."""
    merges = {**earlier_aliases(run_dir),
              **{variant: canonical.strip() for (variant, canonical), decision in decisions.items()
                 if decision == "accept"}}
    return set(merges.values()) - set(merges)


def accepted_rows(run_dir: Path, earlier: dict[str, str]) -> dict[str, str]:
    """variant -> canonical of every accepted row of review.csv, each checked; refusals name their lines.

    Refused: an empty variant or canonical, a tag merged into itself, a variant that is neither a tag of
    vocabulary.csv nor already merged into that canonical, a variant accepted into two canonicals, and a
    change of an earlier round's merge (which only deleting its line in aliases.txt may undo).
    """
    review = runfolder.require(run_dir / runfolder.REVIEW, "cluster_tags.py")
    # A rare spelling (rare_tags.csv) is merged as a kept tag is: prepare.py renames it before counting.
    vocabulary = set(runfolder.read_vocabulary(run_dir)) | set(runfolder.read_rare_tags(run_dir) or ())
    targets: dict[str, tuple[str, int]] = {}
    problems = []
    for line, row in read_review_lines(review):
        if decision_of(row, review, line) != "accept":
            continue
        variant, canonical = row["variant"].strip(), row["canonical"].strip()
        problem = accepted_row_problem(variant, canonical, vocabulary, earlier)
        if problem is None and targets.get(variant, (canonical,))[0] != canonical:
            earlier_line = targets[variant][1]
            problem = (f"{variant!r} is accepted as a variant of both {targets[variant][0]!r} (line {earlier_line}) "
                       f"and {canonical!r}; reject one of them")
        if problem:
            problems.append((line, row, problem))
        else:
            targets.setdefault(variant, (canonical, line))
    if problems:
        raise RowsRefused(review, "accepted row", problems)
    return {variant: canonical for variant, (canonical, _) in targets.items()}


def accepted_row_problem(variant: str, canonical: str, vocabulary: set[str], earlier: dict[str, str]) -> str | None:
    if not variant:
        return "accepted, but its variant cell is empty: restore it, or clear the decision"
    if not canonical:
        return (f"accepted, but its canonical cell is empty: fill in the tag to merge {variant!r} into, "
                "or clear the decision")
    if variant == canonical:
        return f"merges {variant!r} into itself: name another canonical, or clear the decision"
    if variant in earlier and not already_merged(variant, canonical, earlier):
        return (f"{variant!r} was merged into {earlier[variant]!r} in an earlier round; {UNDO_HINT} "
                "first, then apply again")
    if variant not in vocabulary and not already_merged(variant, canonical, earlier):
        return (f"{variant!r} is not a tag of {runfolder.VOCABULARY} or {runfolder.RARE_TAGS} (its variant cell was edited, or prepare.py "
                "ran on other data since cluster_tags.py): restore the cell, run cluster_tags.py again, or clear the "
                "decision")
    return None


def accepted_aliases(run_dir: Path) -> dict[str, str]:
    """variant -> canonical: the merges of earlier rounds (aliases.txt) and the accepted rows of review.csv,
    chains resolved; conflicts and cycles refused."""
    earlier = earlier_aliases(run_dir)
    merges = {**earlier, **accepted_rows(run_dir, earlier)}
    return resolve_chains(merges, f"{run_dir / runfolder.REVIEW}: accepted merges (with {runfolder.ALIASES})",
                          f"reject one of them ({UNDO_HINT})")


def rejected_yet_merged(run_dir: Path, aliases: dict[str, str], earlier: dict[str, str]) -> None:
    """Refuses rows of review.csv rejected while the merges would still join their two tags (accepted in an earlier
    round, then rejected): aliases.txt and rejected.csv would contradict each other; nothing is written."""
    review = run_dir / runfolder.REVIEW
    problems = []
    for line, row in read_review_lines(review):
        variant, canonical = row["variant"].strip(), row["canonical"].strip()
        if decision_of(row, review, line) != "reject" or not variant or not canonical:
            continue
        if aliases.get(variant, variant) == aliases.get(canonical, canonical):
            undo = UNDO_HINT if variant in earlier or canonical in earlier else "reject the accepted rows that join them"
            problems.append((line, row, f"{variant!r} / {canonical!r} is rejected, yet the merges still join them "
                                        f"(into {aliases.get(canonical, canonical)!r}); {undo}, or accept it again"))
    if problems:
        raise RowsRefused(review, "rejected row", problems)


def apply_review(settings) -> StepResult:
    """The documented command (apply_review.py): accepted rows of review.csv join the merges of earlier rounds
    in aliases.txt; rejected pairs are remembered. Its product: the aliases written, and the commands that train on
    them (tagger.rerun.next_after_apply; none where there is nothing to train again)."""
    run_dir = settings.paths.run_dir
    earlier = earlier_aliases(run_dir)
    aliases = accepted_aliases(run_dir)
    rejected_yet_merged(run_dir, aliases, earlier)
    _, rejected = previous_decisions(run_dir)
    write_rejected(run_dir, rejected)
    runfolder.write_text(run_dir / runfolder.ALIASES, write_aliases_text(aliases))
    new = sum(1 for variant, canonical in aliases.items() if earlier.get(variant) != canonical)
    log.info(f"{counted(len(aliases), 'accepted merge')} in {run_dir / runfolder.ALIASES} ({new} new, "
             f"{len(aliases) - new} from earlier rounds); {counted(len(rejected), 'rejected pair')} remembered in "
             f"{runfolder.REJECTED}")
    commands = next_after_apply(run_dir, aliases)
    if commands:
        log.info("next, to train on the merged tags (each step as it last ran here, prepare.py reading the aliases):")
        for command in commands:
            log.info(f"  {command}")
    else:
        log.info("no accepted merges: the tags stay as they are, nothing to train again")
    return StepResult([run_dir / runfolder.ALIASES, run_dir / runfolder.REJECTED], (aliases, commands))
