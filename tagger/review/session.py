"""The decisions of one review session: review.csv in memory, every change written back at once, undo.

Rows keep the ids they got when review.csv was read, so a page can name them while rows are added
(a typed canonical) or moved (a split). Every change is checked against the page's version (the
fingerprint of the review.csv it saw) and against the file on disk, then written whole and atomically
before it is answered: a killed server loses at most the change in flight.
"""

import threading
from pathlib import Path

from tagger.errors import TaggerError
from tagger.logs import counted
from tagger.tagtext import visible
from tagger.variants.legend import EVIDENCE_NAMES, TEXT_LEGEND, WORDS_LEGEND
from tagger.variants.review import (
    ACCEPT,
    REJECT,
    read_review_table,
    review_fingerprint,
    review_line,
    save_review_table,
)

NEAR_MISS = "near miss"  # cluster_tags flags pairs below the cut-off worth a look so; they get their own section
NEW_CANONICAL = "new canonical typed in review"  # the row that renames a group's canonical to a typed spelling
SPLIT_FROM = "split out of group"
# The pair a row's evidence was measured between, where a changed canonical no longer shows it: written into
# review.csv (before `decision`) once a canonical is changed, so a restarted review.py still says so.
MEASURED_COLUMNS = ("measured_variant", "measured_canonical")
DECISIONS = {"accept", "reject", ""}
MAX_TAG_LENGTH = 200  # prepare.py's default data.max_tag_length
UNDO_DEPTH = 500


class StalePage(TaggerError):
    """The page decided on an older review.csv than the one the server holds (another tab wrote since)."""

    def __init__(self):
        super().__init__("this page shows an older review.csv than the one on disk (another tab saved since); "
                         "reload to see it before deciding again")


def number(text: str) -> float | None:
    """A CSV cell as a number; None when blank or not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None


def is_near_miss(row: dict) -> bool:
    return row.get("flag", "").strip().casefold().startswith(NEAR_MISS)


def written_measured(row: dict) -> tuple[str, str] | None:
    """The pair the row's measured columns name, where they are filled."""
    cells = tuple(row.get(name, "").strip() for name in MEASURED_COLUMNS)
    return cells if all(cells) else None


def edit(rows: dict, row_id: int) -> dict:
    """rows[row_id] replaced by a copy, to change: rows are copied on write, so the undo history keeps the old ones."""
    rows[row_id] = dict(rows[row_id])
    return rows[row_id]


def is_typed(row: dict) -> bool:
    return row.get("flag", "") == NEW_CANONICAL


def decision_word(row: dict) -> str:
    """accept, reject or '' whatever spelling a spreadsheet user typed (an unknown word counts as undecided)."""
    value = row.get("decision", "").strip().casefold()
    return "accept" if value in ACCEPT else "reject" if value in REJECT else ""


def rank(group: dict) -> tuple[bool, float]:
    """Most confident first; then, by score, those review.csv gives no confidence (all of an older file's; the rare
    spellings, tagger.variants.rare, whose score is the spelling's alone), and groups with neither last."""
    value = group["confidence"] if group["confidence"] is not None else group["score"]
    return group["confidence"] is None, -value if value is not None else 1.0


class ReviewSession:
    """review.csv of one run folder, as the review page sees and changes it; thread-safe."""

    def __init__(self, path: Path, tag_counts: dict[str, int] | None = None):
        """tag_counts: how many images carry each tag (vocabulary.csv), for a canonical typed in review."""
        self.path = path
        self.tag_counts = tag_counts or {}
        self.lock = threading.Lock()
        self.version = None
        self.reload()

    # --- reading ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read review.csv again when it changed on disk; the undo histories refer to the old rows, so they are
        dropped then. Unchanged, the rows and every page's history stay (another tab's Reload must not wipe them)."""
        with self.lock:
            if self.version == review_fingerprint(self.path):
                return
            table = read_review_table(self.path)
            self.header, self.version = table.header, table.fingerprint
            self.rows = {row_id: row for row_id, row in enumerate(table.rows)}
            self.order = list(self.rows)
            self._grouped = None
            # page id -> its changes, each {row id: (row before, row after, the row id before it in the order)}
            self.history: dict[str, list[dict]] = {}
            self.views: dict[int, tuple[dict, dict]] = {}  # row id -> (row, what the page gets of it)
            # The two tags each row's evidence was measured between: a changed canonical does not change them.
            # Read from the row's measured columns where an earlier session wrote them, else a typed canonical's
            # row names the old canonical, else the row shows the pair measured.
            typed = {self.group_key(row_id): row.get("variant", "")
                     for row_id, row in self.rows.items() if is_typed(row)}
            self.measured = {
                row_id: written_measured(row) or (row.get("variant", ""),
                                                  typed.get(self.group_key(row_id), row.get("canonical", "")))
                for row_id, row in self.rows.items() if not is_typed(row)}
            self.lines = {row_id: review_line(self.header, row) for row_id, row in self.rows.items()}  # CSV lines
            # The probe's answers and the spelling links are shown where review.csv has them: not from runs without the
            # probe (the column blank in every row) nor from review.csv files written before the column.
            self.evidence_names = EVIDENCE_NAMES + tuple(name for name in TEXT_LEGEND if name in self.header) + tuple(
                name for name in WORDS_LEGEND if name in self.header and any(row.get(name) for row in table.rows))

    def group_key(self, row_id: int, rows: dict | None = None) -> str:
        row = (self.rows if rows is None else rows)[row_id]
        return row.get("group", "").strip() or f"row {row_id}"

    def groups(self, rows=None, order=None) -> dict[str, list[int]]:
        """Group key -> its row ids, in file order (of the session's rows, kept until they change)."""
        if rows is None and order is None:
            if self._grouped is None:
                self._grouped = self.groups(self.rows, self.order)
            return self._grouped
        grouped: dict[str, list[int]] = {}
        for row_id in order:
            grouped.setdefault(self.group_key(row_id, rows), []).append(row_id)
        return grouped

    def row_view(self, row_id: int) -> dict:
        """The row as the page gets it; made once per row version (rows are copied on write, see edit)."""
        row = self.rows[row_id]
        cached = self.views.get(row_id)
        if cached is not None and cached[0] is row:
            return cached[1]
        measured = self.measured.get(row_id)
        shown = {row.get("variant", ""), row.get("canonical", "")}
        view = {
            "id": row_id, "canonical": row.get("canonical", ""), "variant": row.get("variant", ""),
            "decision": decision_word(row), "flag": row.get("flag", ""), "near_miss": is_near_miss(row),
            "typed": is_typed(row),  # a canonical typed in review: no evidence was measured for it
            "measured": list(measured) if measured and set(measured) != shown else None,  # evidence of another pair
            "canonical_count": number(row.get("canonical_count", "")),
            "variant_count": number(row.get("variant_count", "")),
            "evidence": {name: (row.get(name) or None) if name in WORDS_LEGEND else number(row.get(name, ""))
                         for name in self.evidence_names},
            "confidence": number(row.get("confidence", "")),
        }
        self.views[row_id] = (row, view)
        return view

    def group_view(self, key: str, row_ids: list[int]) -> dict:
        rows = [self.row_view(row_id) for row_id in row_ids]
        measured = [row for row in rows if not row["typed"]]
        confidences = [row["confidence"] for row in measured if row["confidence"] is not None]
        scores = [row["evidence"]["score"] for row in measured if row["evidence"]["score"] is not None]
        split = len(rows) == 1 and SPLIT_FROM in rows[0]["flag"]
        return {
            "key": key, "canonical": rows[0]["canonical"],
            "title": rows[0]["variant"] if split else rows[0]["canonical"],  # a split group is its member's
            "confidence": min(confidences) if confidences else None,  # the group's least confident pair
            "score": min(scores) if scores else None,
            "near_miss": all(row["near_miss"] for row in rows),
            "notice": self._typed_notice(key, rows) if len(measured) < len(rows) else "",
            "rows": rows,
        }

    def _typed_notice(self, key: str, rows: list[dict]) -> str:
        """One line when a typed canonical is already a tag: the merge then joins what carries it (and its group)."""
        canonical = rows[0]["canonical"]
        if canonical not in self.tag_counts:
            return ""
        others = sorted({self.rows[ids[0]].get("canonical", "") for other, ids in self.groups().items() if other != key
                         and any(canonical in (self.rows[row_id].get("canonical"), self.rows[row_id].get("variant"))
                                 for row_id in ids)})
        where = f", also in the group of {', '.join(map(visible, others))}" if others else ""
        return (f"{visible(canonical)} is already a tag of its own with {counted(self.tag_counts[canonical], 'image')}"
                f"{where}: this group merges into it")

    def counts(self) -> dict:
        """n of m decided, for the proposals and for the near misses apart."""
        views = [self.row_view(row_id) for row_id in self.order]
        near = [view for view in views if view["near_miss"]]
        decided = sum(bool(view["decision"]) for view in views)
        near_decided = sum(bool(view["decision"]) for view in near)
        return {"decided": decided - near_decided, "total": len(views) - len(near),
                "near_miss_decided": near_decided, "near_miss_total": len(near)}

    def state(self, first: int | None = None) -> dict:
        """Everything the page shows: groups most confident first (file order among equals), counts, flags.

        first: only the first groups of each section (proposals, near misses), so a page can show its first
        screen before the whole list (5,000 pairs: over a megabyte) has arrived; complete is False then.
        """
        with self.lock:
            views = [self.group_view(key, ids) for key, ids in self.groups().items()]
            views.sort(key=rank)
            if first is not None:
                views = ([view for view in views if not view["near_miss"]][:first] +
                         [view for view in views if view["near_miss"]][:first])
            flags = sorted({row.get("flag", "") for row in self.rows.values()} - {""})
            # What the probe found and the spelling links, to filter on as on flags (over every row, also when only the
            # first screen is sent).
            answers = {name: sorted({row.get(name, "") for row in self.rows.values()} - {""})
                       if name in self.evidence_names else [] for name in WORDS_LEGEND}
            return {"version": self.version, "evidence": list(self.evidence_names), "flags": flags,
                    "probes": answers["probe"], "spellings": answers["spelled"], "groups": views,
                    "complete": first is None, "unreadable": self.unreadable_decisions(), **self.counts()}

    def unreadable_decisions(self) -> list[str]:
        """The pairs whose decision cell a spreadsheet user filled with a word that is neither accept nor reject
        (`acept`): shown as undecided, and apply refuses them; the page says so when it opens, not at Apply."""
        return [f"{visible(row.get('variant', ''))} → {visible(row.get('canonical', ''))}: {row['decision']!r}"
                for row in self.rows.values() if row.get("decision", "").strip() and not decision_word(row)]

    def tags_of_group(self, key: str) -> tuple[str, list[str]]:
        """A group's canonical and its variants (rows decided either way included)."""
        with self.lock:
            ids = self.groups().get(key)
            if not ids:
                raise TaggerError(f"no group {key!r} in {self.path.name}; reload the page")
            canonical = self.rows[ids[0]].get("canonical", "")
            return canonical, [self.rows[row_id].get("variant", "") for row_id in ids]

    # --- changing --------------------------------------------------------------------------------------

    def decide(self, version: str, row_id: int, decision: str, page: str = "") -> dict:
        """Set one pair's decision: accept, reject, or '' (undecided). page: the page that asks, for its undo."""
        return self.decide_many(version, [row_id], decision, page)

    def decide_many(self, version: str, row_ids: list[int], decision: str, page: str = "") -> dict:
        """Set these pairs' decision at once (the pairs a page shows, filtered: every `spelled: plural` pair): one
        change, which one undo takes back whole. Nothing is set where one row is unknown."""
        if decision not in DECISIONS:
            raise TaggerError(f"decision must be accept, reject or empty, got {decision!r}")
        if not row_ids:
            raise TaggerError("no pairs to decide")

        def change(rows, order):
            for row_id in row_ids:
                self._known(row_id, rows)
            for row_id in row_ids:
                edit(rows, row_id)["decision"] = decision
        return self._change(version, page, change)

    def split(self, version: str, row_id: int, page: str = "") -> dict:
        """Take a member out of its group: its pair with the canonical is rejected and moves to a group of its own.

        Refused where it would only be a rejection (a near miss, a group's only pair) and for a typed canonical's
        row (Set canonical changes that)."""
        def change(rows, order):
            row = rows[self._known(row_id, rows)]
            key = self.group_key(row_id, rows)
            pairs = sum(1 for other in order if self.group_key(other, rows) == key and not is_typed(rows[other]))
            if is_typed(row):
                raise TaggerError(f"{visible(row.get('variant', ''))} is in this group because a canonical was typed: "
                                  "set the canonical back instead of splitting it out")
            if is_near_miss(row) or pairs < 2:
                raise TaggerError(f"{visible(row.get('variant', ''))} is the only pair of its group: splitting it out "
                                  "would only reject it; reject it instead (r)")
            numbers = [number(other.get("group", "")) for other in rows.values()]
            row = edit(rows, row_id)
            row["group"] = str(int(max((n for n in numbers if n is not None), default=0)) + 1)
            row["decision"] = "reject"
            row["flag"] = "; ".join(part for part in (row.get("flag", ""), f"{SPLIT_FROM} {key}") if part)
        return self._change(version, page, change)

    def set_canonical(self, version: str, key: str, canonical: str, page: str = "") -> dict:
        """Make canonical the group's canonical: a member swaps places with the old one; a typed spelling
        becomes a new canonical the old one is accepted into (one added row, flagged)."""
        canonical = " ".join(canonical.split())
        if not canonical:
            raise TaggerError("the canonical tag cannot be empty")
        if len(canonical) > MAX_TAG_LENGTH or "," in canonical:
            raise TaggerError(f"a tag has at most {MAX_TAG_LENGTH} characters and no comma")

        def change(rows, order):
            ids = self.groups(rows, order).get(key)
            if not ids:
                raise TaggerError(f"no group {key!r} in {self.path.name}; reload the page")
            renamed = [row_id for row_id in ids if is_typed(rows[row_id])]
            base = rows[renamed[0]]["variant"] if renamed else rows[ids[0]].get("canonical", "")
            base_count = rows[renamed[0]].get("variant_count", "") if renamed else rows[ids[0]].get("canonical_count", "")
            for row_id in renamed:  # undo an earlier typed name first
                del rows[row_id]
                order.remove(row_id)
            ids = [row_id for row_id in ids if row_id not in renamed]
            for row_id in ids:
                edit(rows, row_id).update(canonical=base, canonical_count=base_count)
            if canonical == base:
                return
            swapped = next((row_id for row_id in ids if rows[row_id].get("variant") == canonical), None)
            if swapped is None and visible(canonical) != canonical:  # aliases.txt would carry them, unseen
                raise TaggerError(f"the canonical {visible(canonical)!r} holds invisible or direction-changing "
                                  "characters (shown as <U+...>): type it without them")
            new_count = rows[swapped].get("variant_count", "") if swapped is not None else self._count(canonical)
            for row_id in ids:
                row = rows[row_id]
                row["canonical"], row["canonical_count"] = canonical, new_count
                if row_id == swapped:
                    row["variant"], row["variant_count"] = base, base_count
            if swapped is None:
                new_id = max(rows, default=-1) + 1
                rows[new_id] = {"group": rows[ids[0]].get("group", "") if ids else key, "canonical": canonical,
                                "canonical_count": new_count, "variant": base, "variant_count": base_count,
                                "flag": NEW_CANONICAL, "decision": "accept"}
                order.insert(order.index(ids[-1]) + 1 if ids else len(order), new_id)
        return self._change(version, page, change)

    def undo(self, version: str, page: str = "") -> dict:
        """Put back the rows of this page's last change, unless another page changed them since."""
        with self.lock:
            history = self.history.get(page)
            if not history:
                raise TaggerError("nothing to undo")
            changed = history[-1]
            if any(self.rows.get(row_id) is not after for row_id, (_, after, _) in changed.items()):
                history.pop()  # it can never be undone now; the page's earlier changes still can
                raise TaggerError("another page changed these pairs since this page's last change: not undone")
            rows, order = dict(self.rows), list(self.order)
            for row_id, (before, after, previous) in changed.items():  # in their old order: a neighbour comes first
                if before is None:
                    del rows[row_id]
                    order.remove(row_id)
                    continue
                rows[row_id] = before
                if after is None:  # removed by the change: back after the row it followed
                    order.insert(order.index(previous) + 1 if previous in order else 0, row_id)
            touched = self._save(version, rows, order)
            history.pop()
            return {**self._answer(touched), "undone": list(changed)}  # the page puts its cursor back on them

    # --- internals -------------------------------------------------------------------------------------

    def _known(self, row_id: int, rows: dict) -> int:
        if row_id not in rows:
            raise TaggerError(f"no row {row_id} in {self.path.name}; reload the page")
        return row_id

    def _count(self, tag: str) -> str:
        """How many images carry tag, as review.csv's count cells hold it (blank without vocabulary.csv)."""
        return str(self.tag_counts.get(tag, 0)) if self.tag_counts else ""

    def _before(self, row_id: int) -> int | None:
        index = self.order.index(row_id)
        return self.order[index - 1] if index else None

    def _change(self, version: str, page: str, change) -> dict:
        with self.lock:
            rows, order = dict(self.rows), list(self.order)  # the rows themselves are copied on write (edit)
            change(rows, order)
            # Each changed row before and after, so undo puts back only this change's rows (other pages keep theirs).
            changed = {
                row_id: (self.rows.get(row_id), rows.get(row_id), None if row_id in rows else self._before(row_id))
                for row_id in [*self.order, *(row_id for row_id in order if row_id not in self.rows)]
                if rows.get(row_id) is not self.rows.get(row_id)}
            touched = self._save(version, rows, order)
            history = self.history.setdefault(page, [])
            history.append(changed)
            del history[:-UNDO_DEPTH]
            return self._answer(touched)

    def _save(self, version: str, rows: dict, order: list) -> set:
        """Write rows in order as review.csv and hold them; returns the keys of the groups they changed."""
        if version != self.version:
            raise StalePage()
        changed = [row_id for row_id in order if rows[row_id] is not self.rows.get(row_id)]
        removed = [row_id for row_id in self.order if row_id not in rows]
        header = self._with_measured(rows, changed)
        touched = {self.group_key(row_id, rows) for row_id in changed}
        touched |= {self.group_key(row_id) for row_id in [*changed, *removed] if row_id in self.rows}
        # Only changed rows are encoded again (a decision costs one line, not 5,000), unless columns were added.
        same_columns = header == self.header
        lines = {row_id: line for row_id, line in self.lines.items() if row_id in rows} if same_columns else {}
        for row_id in changed if same_columns else order:
            lines[row_id] = review_line(header, rows[row_id])
        self.version = save_review_table(self.path, header, [rows[row_id] for row_id in order], self.version,
                                         [lines[row_id] for row_id in order])
        self.header = header
        regrouped = removed or order != self.order or any(
            self.group_key(row_id, rows) != self.group_key(row_id) for row_id in changed if row_id in self.rows)
        self.rows, self.order, self.lines = rows, order, lines
        if regrouped:
            self._grouped = None
        return touched

    def _with_measured(self, rows: dict, changed: list[int]) -> list[str]:
        """The header to write: with the measured columns once a changed row shows another pair than the one its
        evidence was measured between, whose tags they then hold (blank where the row shows it again). Sets the
        cells of the changed rows: this change's copies (edit), or the rows an undo puts back, whose cells come
        out as they were (the same measured pair, the same shown pair)."""
        def away(row_id):
            measured = self.measured.get(row_id)
            row = rows[row_id]
            return measured is not None and set(measured) != {row.get("variant", ""), row.get("canonical", "")}

        header = self.header
        if MEASURED_COLUMNS[0] not in header:
            if not any(away(row_id) for row_id in changed):
                return header
            at = header.index("decision") if "decision" in header else len(header)
            header = [*header[:at], *MEASURED_COLUMNS, *header[at:]]
        for row_id in changed:
            cells = self.measured[row_id] if away(row_id) else ("", "")
            rows[row_id].update(zip(MEASURED_COLUMNS, cells))
        return header

    def _answer(self, touched: set) -> dict:
        """The new version, the counts, and the touched groups as they are now (absent ones were emptied)."""
        grouped = self.groups()
        return {"version": self.version, **self.counts(),
                "groups": [self.group_view(key, grouped[key]) for key in sorted(touched) if key in grouped],
                "removed": sorted(key for key in touched if key not in grouped),
                "unreadable": self.unreadable_decisions()}
