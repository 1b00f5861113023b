"""The decisions of one review session: review.csv in memory, every change written back at once, undo.

Rows keep the ids they got when review.csv was read, so a page can name them while rows are added
(a typed canonical) or moved (a split). Every change is checked against the page's version (the
fingerprint of the review.csv it saw) and against the file on disk, then written whole and atomically
before it is answered: a killed server loses at most the change in flight.
"""

import threading
from pathlib import Path

from tagger.errors import TaggerError
from tagger.variants.legend import EVIDENCE_NAMES, PROBE_LEGEND, TEXT_LEGEND
from tagger.variants.review import ACCEPT, REJECT, read_review_table, review_line, save_review_table

NEAR_MISS = "near miss"  # cluster_tags flags pairs below the cut-off worth a look so; they get their own section
NEW_CANONICAL = "new canonical typed in review"  # the row that renames a group's canonical to a typed spelling
SPLIT_FROM = "split out of group"
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


def edit(rows: dict, row_id: int) -> dict:
    """rows[row_id] replaced by a copy, to change: rows are copied on write, so the undo history keeps the old ones."""
    rows[row_id] = dict(rows[row_id])
    return rows[row_id]


def decision_word(row: dict) -> str:
    """accept, reject or '' whatever spelling a spreadsheet user typed (an unknown word counts as undecided)."""
    value = row.get("decision", "").strip().casefold()
    return "accept" if value in ACCEPT else "reject" if value in REJECT else ""


class ReviewSession:
    """review.csv of one run folder, as the review page sees and changes it; thread-safe."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.reload()

    # --- reading ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read review.csv again; the undo history refers to the old rows, so it is dropped."""
        with self.lock:
            table = read_review_table(self.path)
            self.header, self.version = table.header, table.fingerprint
            self.rows = {row_id: row for row_id, row in enumerate(table.rows)}
            self.order = list(self.rows)
            self._grouped = None
            self.history: list[tuple[dict, list, set]] = []
            self.views: dict[int, tuple[dict, dict]] = {}  # row id -> (row, what the page gets of it)
            self.lines = {row_id: review_line(self.header, row) for row_id, row in self.rows.items()}  # CSV lines
            # The probe's answers are shown where review.csv has them: not from runs without the probe (the column
            # blank in every row) nor from review.csv files written before the column.
            self.evidence_names = EVIDENCE_NAMES + tuple(name for name in TEXT_LEGEND if name in self.header) + tuple(
                name for name in PROBE_LEGEND if name in self.header and any(row.get(name) for row in table.rows))

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
        view = {
            "id": row_id, "canonical": row.get("canonical", ""), "variant": row.get("variant", ""),
            "decision": decision_word(row), "flag": row.get("flag", ""), "near_miss": is_near_miss(row),
            "canonical_count": number(row.get("canonical_count", "")),
            "variant_count": number(row.get("variant_count", "")),
            "evidence": {name: (row.get(name) or None) if name in PROBE_LEGEND else number(row.get(name, ""))
                         for name in self.evidence_names},
            "confidence": number(row.get("confidence", "")),
        }
        self.views[row_id] = (row, view)
        return view

    def group_view(self, key: str, row_ids: list[int]) -> dict:
        rows = [self.row_view(row_id) for row_id in row_ids]
        confidences = [row["confidence"] if row["confidence"] is not None else row["evidence"]["score"]
                       for row in rows if row["flag"] != NEW_CANONICAL]
        confidences = [value for value in confidences if value is not None]
        return {
            "key": key, "canonical": rows[0]["canonical"],
            "confidence": min(confidences) if confidences else None,
            "near_miss": all(row["near_miss"] for row in rows),
            "rows": rows,
        }

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
            views.sort(key=lambda view: -view["confidence"] if view["confidence"] is not None else 1.0)
            if first is not None:
                views = ([view for view in views if not view["near_miss"]][:first] +
                         [view for view in views if view["near_miss"]][:first])
            flags = sorted({row.get("flag", "") for row in self.rows.values()} - {""})
            # What the probe found, to filter on as on flags (over every row, also when only the first screen is sent).
            probes = sorted({row.get("probe", "") for row in self.rows.values()} - {""}) \
                if "probe" in self.evidence_names else []
            return {"version": self.version, "evidence": list(self.evidence_names), "flags": flags, "probes": probes,
                    "groups": views, "complete": first is None, **self.counts()}

    def tags_of_group(self, key: str) -> tuple[str, list[str]]:
        """A group's canonical and its variants (rows decided either way included)."""
        with self.lock:
            ids = self.groups().get(key)
            if not ids:
                raise TaggerError(f"no group {key!r} in {self.path.name}; reload the page")
            canonical = self.rows[ids[0]].get("canonical", "")
            return canonical, [self.rows[row_id].get("variant", "") for row_id in ids]

    # --- changing --------------------------------------------------------------------------------------

    def decide(self, version: str, row_id: int, decision: str) -> dict:
        """Set one pair's decision: accept, reject, or '' (undecided)."""
        if decision not in DECISIONS:
            raise TaggerError(f"decision must be accept, reject or empty, got {decision!r}")

        def change(rows, order):
            edit(rows, self._known(row_id, rows))["decision"] = decision
        return self._change(version, change)

    def split(self, version: str, row_id: int) -> dict:
        """Take a member out of its group: its pair with the canonical is rejected and moves to a group of its own."""
        def change(rows, order):
            numbers = [number(row.get("group", "")) for row in rows.values()]
            row = edit(rows, self._known(row_id, rows))
            old_group = row.get("group", "").strip() or "?"
            row["group"] = str(int(max((n for n in numbers if n is not None), default=0)) + 1)
            row["decision"] = "reject"
            row["flag"] = "; ".join(part for part in (row.get("flag", ""), f"{SPLIT_FROM} {old_group}") if part)
        return self._change(version, change)

    def set_canonical(self, version: str, key: str, canonical: str) -> dict:
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
            renamed = [row_id for row_id in ids if rows[row_id].get("flag", "") == NEW_CANONICAL]
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
            new_count = rows[swapped].get("variant_count", "") if swapped is not None else ""
            for row_id in ids:
                row = rows[row_id]
                row["canonical"], row["canonical_count"] = canonical, new_count
                if row_id == swapped:
                    row["variant"], row["variant_count"] = base, base_count
            if swapped is None:
                new_id = max(rows, default=-1) + 1
                rows[new_id] = {"group": rows[ids[0]].get("group", "") if ids else key, "canonical": canonical,
                                "variant": base, "variant_count": base_count, "flag": NEW_CANONICAL,
                                "decision": "accept"}
                order.insert(order.index(ids[-1]) + 1 if ids else len(order), new_id)
        return self._change(version, change)

    def undo(self, version: str) -> dict:
        """Put back the rows as they were before the last change of this session."""
        with self.lock:
            if not self.history:
                raise TaggerError("nothing to undo")
            rows, order, touched = self.history[-1]
            touched = touched | self._save(version, rows, order)
            self.history.pop()
            return self._answer(touched)

    # --- internals -------------------------------------------------------------------------------------

    def _known(self, row_id: int, rows: dict) -> int:
        if row_id not in rows:
            raise TaggerError(f"no row {row_id} in {self.path.name}; reload the page")
        return row_id

    def _change(self, version: str, change) -> dict:
        with self.lock:
            rows, order = dict(self.rows), list(self.order)  # the rows themselves are copied on write (edit)
            change(rows, order)
            previous = (self.rows, self.order)
            touched = self._save(version, rows, order)
            self.history = (self.history + [(*previous, touched)])[-UNDO_DEPTH:]
            return self._answer(touched)

    def _save(self, version: str, rows: dict, order: list) -> set:
        """Write rows in order as review.csv and hold them; returns the keys of the groups they changed."""
        if version != self.version:
            raise StalePage()
        changed = [row_id for row_id in order if rows[row_id] is not self.rows.get(row_id)]
        removed = [row_id for row_id in self.order if row_id not in rows]
        touched = {self.group_key(row_id, rows) for row_id in changed}
        touched |= {self.group_key(row_id) for row_id in [*changed, *removed] if row_id in self.rows}
        lines = dict(self.lines)  # only changed rows are encoded again: a decision costs one line, not 5,000
        for row_id in removed:
            del lines[row_id]
        for row_id in changed:
            lines[row_id] = review_line(self.header, rows[row_id])
        self.version = save_review_table(self.path, self.header, [rows[row_id] for row_id in order], self.version,
                                         [lines[row_id] for row_id in order])
        regrouped = removed or order != self.order or any(
            self.group_key(row_id, rows) != self.group_key(row_id) for row_id in changed if row_id in self.rows)
        self.rows, self.order, self.lines = rows, order, lines
        if regrouped:
            self._grouped = None
        return touched

    def _answer(self, touched: set) -> dict:
        """The new version, the counts, and the touched groups as they are now (absent ones were emptied)."""
        grouped = self.groups()
        return {"version": self.version, **self.counts(),
                "groups": [self.group_view(key, grouped[key]) for key in sorted(touched) if key in grouped],
                "removed": sorted(key for key in touched if key not in grouped)}
