"""The review app's API through FastAPI's test client, on a small real run folder (no model needed)."""

import csv
import os
import signal
import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT, run_tagger
from review_run import HOSTILE, REVIEW_ROWS, make_review_run, review_cells, write_review_csv
from tagger import runfolder
from tagger.settings import ReviewSettings, Settings
from tagger.review.server import MAX_BODY, PAGE_HEADER, TOKEN_HEADER, create_app
from tagger.variants.review import REVIEW_COLUMNS

RED_R3D, RED_ROT, CIRCLE_CIRCLES, HOSTILE_ROW, NEAR_MISS_ROW = range(5)


@pytest.fixture
def run_dir(tmp_path):
    return make_review_run(tmp_path / "run")


@pytest.fixture
def client(run_dir):
    app = create_app(Settings(paths={"run_dir": run_dir}, review=ReviewSettings()))
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        test_client.headers[TOKEN_HEADER] = app.state.token
        yield test_client


def version(client) -> str:
    return client.get("/api/state").json()["version"]


def decide(client, row, decision, at=None):
    return client.post("/api/decide", json={"version": at or version(client), "row": row, "decision": decision})


def test_state_lists_groups_most_confident_first_with_near_misses_apart(client):
    state = client.get("/api/state").json()
    assert [(group["canonical"], group["confidence"], group["near_miss"]) for group in state["groups"]] == [
        ("red", 0.8, False), ("circle", 0.75, False), ("hostile", 0.55, False), ("square", 0.455, True)]
    assert (state["decided"], state["total"], state["near_miss_decided"], state["near_miss_total"]) == (0, 4, 0, 1)
    assert state["flags"] == ["near miss", "spelling only: check"]
    assert state["probes"] == ["faint", "not asked", "one tag", "unsure"]  # to filter on, as on flags
    assert state["spellings"] == ["leetspeak", "plural", "typo of a word"]
    assert state["evidence"] == ["confidence", "score", "visual", "context", "spelling", "overlap", "probe", "spelled"]
    assert list(state["legend"]["evidence"]) == state["evidence"]
    red_r3d, red_rot = state["groups"][0]["rows"]
    assert red_rot["evidence"] == {"confidence": 0.8, "score": 0.82, "visual": 0.9, "context": None,
                                   "spelling": 0.3333, "overlap": 0.0, "probe": "one tag", "spelled": None}
    assert red_r3d["evidence"]["spelled"] == "leetspeak"


@pytest.mark.parametrize("columns", ["without the probe and spelled columns", "the probe and spelled columns blank"])
def test_a_review_csv_without_the_probes_answers_shows_no_probe(client, run_dir, columns):
    """review.csv from before the probe and spelled columns, or from a run that measures neither (DBSCAN): the page
    shows the evidence it showed before, and no empty probe or spelling link."""
    words = ("probe", "spelled")
    header = [name for name in REVIEW_COLUMNS if name not in words] if columns.startswith("without") else REVIEW_COLUMNS
    rows = [[("" if name in words else cell) for name, cell in zip(REVIEW_COLUMNS, row) if name in header]
            for row in REVIEW_ROWS]
    write_review_csv(run_dir, rows, header)
    client.post("/api/reload")
    state = client.get("/api/state").json()
    assert state["evidence"] == ["confidence", "score", "visual", "context", "spelling", "overlap"]
    assert list(state["legend"]["evidence"]) == state["evidence"] and state["probes"] == state["spellings"] == []
    assert state["groups"][0]["rows"][1]["evidence"] == {"confidence": 0.8, "score": 0.82, "visual": 0.9,
                                                         "context": None, "spelling": 0.3333, "overlap": 0.0}


def test_the_first_screen_can_be_asked_for_before_the_whole_list(client):
    first = client.get("/api/state", params={"first": 1}).json()
    assert [group["canonical"] for group in first["groups"]] == ["red", "square"]  # one of each section
    assert (first["complete"], first["total"], first["near_miss_total"]) == (False, 4, 1)
    assert client.get("/api/state").json()["complete"] is True


def test_each_decision_is_in_review_csv_at_once_in_the_same_columns(client, run_dir):
    header_before = (run_dir / "review.csv").read_text().splitlines()[0]
    answer = decide(client, RED_R3D, "accept").json()
    assert review_cells(run_dir)[:2] == [("1", "red", "r3d", "accept"), ("1", "red", "rot", "")]
    assert (run_dir / "review.csv").read_text().splitlines()[0] == header_before == ",".join(REVIEW_COLUMNS)
    assert (answer["decided"], answer["total"]) == (1, 4)
    assert [group["key"] for group in answer["groups"]] == ["1"]
    decide(client, RED_ROT, "reject", at=answer["version"])
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "reject", "", "", ""]


def test_undo_puts_back_each_change_in_turn(client, run_dir):
    decide(client, RED_R3D, "accept")
    decide(client, RED_ROT, "reject")
    assert client.post("/api/undo", json={"version": version(client)}).status_code == 200
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", ""]
    client.post("/api/undo", json={"version": version(client)})
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "", ""]
    refused = client.post("/api/undo", json={"version": version(client)})
    assert (refused.status_code, refused.json()["error"]) == (400, "nothing to undo")


def test_many_pairs_are_decided_in_one_change_that_one_undo_takes_back(client, run_dir):
    answer = client.post("/api/decide_many", json={"version": version(client), "rows": [RED_ROT, CIRCLE_CIRCLES],
                                                   "decision": "accept"})
    assert answer.status_code == 200 and (answer.json()["decided"], answer.json()["total"]) == (2, 4)
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "accept", "accept", "", ""]
    refused = client.post("/api/decide_many", json={"version": version(client), "rows": [RED_R3D, 99],
                                                    "decision": "reject"})
    assert (refused.status_code, refused.json()["error"]) == (400, "no row 99 in review.csv; reload the page")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "accept", "accept", "", ""]  # nothing set
    client.post("/api/undo", json={"version": version(client)})
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "", ""]


def test_review_csv_changed_on_disk_is_not_overwritten_and_reload_shows_it(client, run_dir):
    page_version = version(client)
    text = (run_dir / "review.csv").read_text()
    (run_dir / "review.csv").write_text(text.replace("near miss,\n", "near miss,accept\n"))  # a spreadsheet saved it
    refused = decide(client, RED_R3D, "accept", at=page_version)
    assert refused.status_code == 409
    assert refused.json()["reload"] is True
    assert "changed on disk since it was read" in refused.json()["error"]
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "", "accept"]
    reloaded = client.post("/api/reload").json()
    assert (reloaded["near_miss_decided"], reloaded["groups"][-1]["rows"][0]["decision"]) == (1, "accept")
    decide(client, RED_R3D, "accept", at=reloaded["version"])
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", "accept"]


def test_a_review_csv_saved_as_windows_1252_is_served_as_apply_review_reads_it(client, run_dir):
    review = run_dir / "review.csv"
    text = review.read_text(encoding="utf-8").replace("rot", "r\u00f6t")
    review.write_bytes(text.encode("cp1252"))  # as a Windows spreadsheet saves it
    reloaded = client.post("/api/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert "r\u00f6t" in reloaded.text and '"rot"' not in reloaded.text


def test_a_page_showing_an_older_version_is_refused(client, run_dir):
    old_version = version(client)
    decide(client, RED_R3D, "accept", at=old_version)  # another tab
    refused = decide(client, RED_ROT, "reject", at=old_version)
    assert (refused.status_code, refused.json()["reload"]) == (409, True)
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", ""]


def test_changes_need_the_session_token(client, run_dir):
    before = (run_dir / "review.csv").read_bytes()
    current = version(client)
    stranger = TestClient(client.app, base_url="http://127.0.0.1")  # a page that never saw the token
    for headers in ({}, {TOKEN_HEADER: "wrong"}):
        answer = stranger.post("/api/decide", json={"version": current, "row": 0, "decision": "accept"},
                               headers=headers)
        assert answer.status_code == 403
        assert answer.json()["error"] == "missing or wrong session token: open the page from review.py's URL"
        assert stranger.get("/api/state", headers=headers).status_code == 403
        assert stranger.post("/api/apply", json={"version": current}, headers=headers).status_code == 403
    assert (run_dir / "review.csv").read_bytes() == before
    assert not (run_dir / "aliases.txt").exists()


def test_a_page_reached_under_another_host_name_is_refused(client):
    # DNS rebinding: evil.example resolving to 127.0.0.1 must not reach the app.
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_images_are_served_by_manifest_id_only(client, run_dir):
    image = client.get("/api/image", params={"id": "images/3.png", "size": "thumb"})
    assert (image.status_code, image.headers["content-type"], image.content[:2]) == (200, "image/jpeg", b"\xff\xd8")
    for attempt in ("../../../../etc/passwd", "/etc/passwd", str(run_dir / "images" / "3.png"), "images/../review.csv"):
        answer = client.get("/api/image", params={"id": attempt})
        assert answer.status_code == 404, attempt
        assert answer.json()["error"].startswith("no image")
    assert client.get("/assets/..%2Fserver.py").status_code == 404
    assert client.get("/assets/../server.py").status_code == 404
    assert client.get("/api/image", params={"id": "images/3.png", "size": "huge"}).status_code == 404


def test_a_hostile_tag_is_data_in_json_and_never_markup_in_the_page(client):
    page = client.get("/")
    assert "<img src=x" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    state = client.get("/api/state")
    assert state.headers["content-type"] == "application/json"
    assert state.json()["groups"][2]["rows"][0]["variant"] == HOSTILE
    script = client.get("/assets/review.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_samples_mark_the_images_carrying_both_tags(client):
    tags = client.get("/api/samples", params={"group": "1"}).json()["tags"]
    assert tags["r3d"] == {"count": 3, "both": 1, "images": [
        {"id": "images/3.png", "both": True}, {"id": "images/4.png", "both": False},
        {"id": "images/5.png", "both": False}]}
    assert tags["red"]["both"] == 1 and {"id": "images/3.png", "both": True} in tags["red"]["images"]


def test_choosing_a_member_as_canonical_swaps_it_with_the_old_one(client, run_dir):
    decide(client, RED_R3D, "accept")
    answer = client.post("/api/canonical", json={"version": version(client), "group": "1", "canonical": "r3d"})
    assert [row["canonical"] for row in answer.json()["groups"][0]["rows"]] == ["r3d", "r3d"]
    assert review_cells(run_dir)[:2] == [("1", "r3d", "red", "accept"), ("1", "r3d", "rot", "")]


def test_a_typed_canonical_takes_the_old_one_along_and_can_be_changed_back(client, run_dir):
    client.post("/api/canonical", json={"version": version(client), "group": "1", "canonical": "  red  colour "})
    assert review_cells(run_dir)[:3] == [("1", "red colour", "r3d", ""), ("1", "red colour", "rot", ""),
                                         ("1", "red colour", "red", "accept")]
    client.post("/api/canonical", json={"version": version(client), "group": "1", "canonical": "red"})
    assert review_cells(run_dir)[:3] == [("1", "red", "r3d", ""), ("1", "red", "rot", ""),
                                         ("2", "circle", "circles", "")]
    refused = client.post("/api/canonical", json={"version": version(client), "group": "1", "canonical": "a, b"})
    assert (refused.status_code, refused.json()["error"]) == (400, "a tag has at most 200 characters and no comma")


def test_splitting_a_member_out_rejects_it_in_a_group_of_its_own(client, run_dir):
    answer = client.post("/api/split", json={"version": version(client), "row": RED_ROT}).json()
    assert [(group["key"], [row["variant"] for row in group["rows"]]) for group in answer["groups"]] == [
        ("1", ["r3d"]), ("5", ["rot"])]
    assert review_cells(run_dir)[1] == ("5", "red", "rot", "reject")
    assert "split out of group 1" in (run_dir / "review.csv").read_text()


def test_apply_writes_the_same_aliases_as_apply_review(client, run_dir):
    decide(client, RED_R3D, "accept")
    decide(client, RED_ROT, "reject")
    decide(client, NEAR_MISS_ROW, "accept")
    answer = client.post("/api/apply", json={"version": version(client)})
    assert answer.json()["aliases"] == [["r3d", "red"], ["sqaure", "square"]]
    # The commands that train again, as apply_review.py prints them: prepare.py reads the aliases.
    assert [command.split()[1] for command in answer.json()["next"]] == \
        ["prepare.py", "train.py", "embed.py", "cluster_tags.py"]
    assert answer.json()["next"][0].endswith(f"--data.aliases {run_dir / 'aliases.txt'}")
    aliases = [line for line in (run_dir / "aliases.txt").read_text().splitlines() if not line.startswith("#")]
    assert aliases == ["alias r3d -> red", "alias sqaure -> square"]
    assert "red,rot" in (run_dir / "rejected.csv").read_text()


def test_apply_refuses_a_conflict_with_the_message_naming_the_row(client, run_dir):
    decide(client, RED_R3D, "accept")
    with (run_dir / "review.csv").open("a") as file:  # a spreadsheet user also accepted r3d into circle
        file.write("2,circle,r3d,,,,,,,,,,,,accept\n")
    answer = client.post("/api/apply", json={"version": client.post("/api/reload").json()["version"]})
    assert answer.status_code == 400
    # One line per refused row, naming its pair: the page shows no line numbers.
    assert answer.json() == {
        "error": f"{run_dir / 'review.csv'}: 1 accepted row cannot be applied, nothing was written",
        "problems": ["r3d → circle (line 7): 'r3d' is accepted as a variant of both 'red' (line 2) and 'circle'; "
                     "reject one of them"]}
    assert not (run_dir / "aliases.txt").exists()


def csv_rows(run_dir) -> list[dict]:
    with (run_dir / "review.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def set_canonical(client, canonical, group="1", page=""):
    return client.post("/api/canonical", json={"version": version(client), "group": group, "canonical": canonical},
                       headers={PAGE_HEADER: page})


def test_a_group_names_its_least_confident_pair_and_by_score_only_without_confidences(client, run_dir):
    near_miss = client.get("/api/state").json()["groups"][3]
    assert (near_miss["confidence"], near_miss["score"]) == (0.455, 0.45)  # the page labels each by its name
    write_review_csv(run_dir, [row[:3] + ("",) + row[4:] for row in REVIEW_ROWS])  # a review.csv without confidence
    groups = client.post("/api/reload").json()["groups"]
    assert [(group["canonical"], group["confidence"], group["score"]) for group in groups] == [
        ("red", None, 0.82), ("circle", None, 0.7), ("hostile", None, 0.6), ("square", None, 0.45)]


def test_a_typed_canonical_that_is_already_a_tag_says_so_with_its_count(client, run_dir):
    group = set_canonical(client, "circles").json()["groups"][0]
    assert group["notice"] == ("circles is already a tag of its own with 1 image, also in the group of circle: "
                               "this group merges into it")
    assert [(row["canonical"], row["variant"], row["canonical_count"]) for row in csv_rows(run_dir)[:3]] == [
        ("circles", "r3d", "1"), ("circles", "rot", "1"), ("circles", "red", "1")]
    assert set_canonical(client, "square").json()["groups"][0]["notice"] == (
        "square is already a tag of its own with 1 image, also in the group of square: this group merges into it")
    group = set_canonical(client, "red colour").json()["groups"][0]  # a new spelling: no image carries it yet
    assert group["notice"] == "" and [row["canonical_count"] for row in csv_rows(run_dir)[:3]] == ["0", "0", "0"]


def test_a_typed_canonical_that_is_a_rare_tag_says_so_with_its_count(run_dir):
    """A tag under min_tag_occurrences (rare_tags.csv) is a tag of its own too: typed as a canonical, it is named so."""
    runfolder.write_rare_tags(run_dir, [("reddd", "images/a.png"), ("reddd", "images/b.png")])
    app = create_app(Settings(paths={"run_dir": run_dir}, review=ReviewSettings()))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.headers[TOKEN_HEADER] = app.state.token
        group = set_canonical(client, "reddd").json()["groups"][0]
    assert group["notice"] == "reddd is already a tag of its own with 2 images: this group merges into it"
    assert [row["canonical_count"] for row in csv_rows(run_dir)[:3]] == ["2", "2", "2"]


def test_evidence_measured_against_an_old_canonical_is_marked_so(client, run_dir):
    rows = set_canonical(client, "red colour").json()["groups"][0]["rows"]
    assert [(row["variant"], row["measured"], row["typed"]) for row in rows] == [
        ("r3d", ["r3d", "red"], False), ("rot", ["rot", "red"], False), ("red", None, True)]
    client.post("/api/reload")  # read again: the typed row still says what the others were measured against
    assert [row["measured"] for row in client.get("/api/state").json()["groups"][0]["rows"]] == [
        ["r3d", "red"], ["rot", "red"], None]
    set_canonical(client, "red")  # back to the pairs measured: the measured cells are blank, the columns stay
    assert [(row["measured_variant"], row["measured_canonical"]) for row in csv_rows(run_dir)[:2]] == [("", "")] * 2
    rows = set_canonical(client, "r3d").json()["groups"][0]["rows"]  # a member: it swaps with red
    assert [(row["variant"], row["measured"], row["typed"]) for row in rows] == [
        ("red", None, False), ("rot", ["rot", "red"], False)]  # red / r3d is the pair measured; rot was vs red
    rows = set_canonical(client, "rot").json()["groups"][0]["rows"]  # and again: r3d's row now shows red
    assert [(row["variant"], row["measured"]) for row in rows] == [("red", ["r3d", "red"]), ("r3d", ["rot", "red"])]
    # review.csv says so in two columns before `decision`, so a restarted review.py still does.
    with open(run_dir / "review.csv", newline="", encoding="utf-8") as file:
        header = next(csv.reader(file))
    assert header[-3:] == ["measured_variant", "measured_canonical", "decision"]
    assert [(row["variant"], row["canonical"], row["measured_variant"], row["measured_canonical"])
            for row in csv_rows(run_dir)[:2]] == [("red", "rot", "r3d", "red"), ("r3d", "rot", "rot", "red")]
    app = create_app(Settings(paths={"run_dir": run_dir}, review=ReviewSettings()))
    with TestClient(app, base_url="http://127.0.0.1") as restarted:
        restarted.headers[TOKEN_HEADER] = app.state.token
        rows = restarted.get("/api/state").json()["groups"][0]["rows"]
    assert [(row["variant"], row["measured"]) for row in rows] == [("red", ["r3d", "red"]), ("r3d", ["rot", "red"])]
    set_canonical(client, "red")  # red again, but each row's evidence stays with its pair: rot / red is r3d's now
    assert [(row["variant"], row["measured_variant"], row["measured_canonical"]) for row in csv_rows(run_dir)[:2]] == [
        ("rot", "r3d", "red"), ("r3d", "rot", "red")]
    assert client.post("/api/apply", json={"version": version(client)}).status_code == 200  # apply reads it as before


def test_each_page_undoes_only_its_own_changes(client, run_dir):
    def undo(page):
        return client.post("/api/undo", json={"version": version(client)}, headers={PAGE_HEADER: page})

    client.post("/api/decide", json={"version": version(client), "row": RED_R3D, "decision": "accept"},
                headers={PAGE_HEADER: "first"})
    client.post("/api/decide", json={"version": version(client), "row": CIRCLE_CIRCLES, "decision": "reject"},
                headers={PAGE_HEADER: "second"})
    client.post("/api/reload", headers={PAGE_HEADER: "second"})  # review.csv unchanged: no history is lost
    assert undo("second").json()["undone"] == [CIRCLE_CIRCLES]
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", ""]
    for page in ("second", "a fresh page"):
        refused = undo(page)
        assert (refused.status_code, refused.json()["error"]) == (400, "nothing to undo")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", ""]
    assert undo("first").status_code == 200
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "", ""]


def test_undo_leaves_a_pair_another_page_changed_since(client, run_dir):
    client.post("/api/decide", json={"version": version(client), "row": RED_ROT, "decision": "accept"},
                headers={PAGE_HEADER: "first"})
    client.post("/api/decide", json={"version": version(client), "row": RED_ROT, "decision": "reject"},
                headers={PAGE_HEADER: "second"})
    refused = client.post("/api/undo", json={"version": version(client)}, headers={PAGE_HEADER: "first"})
    assert (refused.status_code, refused.json()["error"]) == (
        400, "another page changed these pairs since this page's last change: not undone")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "reject", "", "", ""]


def test_undo_puts_back_a_row_a_typed_canonical_removed_in_its_place(client, run_dir):
    set_canonical(client, "red colour", page="first")
    set_canonical(client, "red", page="first")
    client.post("/api/undo", json={"version": version(client)}, headers={PAGE_HEADER: "first"})
    assert review_cells(run_dir)[:4] == [("1", "red colour", "r3d", ""), ("1", "red colour", "rot", ""),
                                         ("1", "red colour", "red", "accept"), ("2", "circle", "circles", "")]


def test_split_out_is_refused_where_it_would_only_reject(client, run_dir):
    before = (run_dir / "review.csv").read_bytes()
    for row, message in [
            (CIRCLE_CIRCLES, "circles is the only pair of its group: splitting it out would only reject it; reject "
                             "it instead (r)"),
            (NEAR_MISS_ROW, "sqaure is the only pair of its group: splitting it out would only reject it; reject it "
                            "instead (r)")]:
        refused = client.post("/api/split", json={"version": version(client), "row": row})
        assert (refused.status_code, refused.json()["error"]) == (400, message)
    assert (run_dir / "review.csv").read_bytes() == before
    set_canonical(client, "red colour")
    refused = client.post("/api/split", json={"version": version(client), "row": 5})  # the typed canonical's row
    assert refused.json()["error"] == ("red is in this group because a canonical was typed: set the canonical back "
                                       "instead of splitting it out")


def test_a_typed_canonical_with_invisible_characters_is_refused(client, run_dir):
    before = (run_dir / "review.csv").read_bytes()
    refused = set_canonical(client, "ring\u202egnp.exe")
    assert (refused.status_code, refused.json()["error"]) == (
        400, "the canonical 'ring<U+202E>gnp.exe' holds invisible or direction-changing characters (shown as "
             "<U+...>): type it without them")
    assert (run_dir / "review.csv").read_bytes() == before


def test_malformed_requests_are_answered_in_the_apps_own_shape(client):
    answer = client.get("/api/state", params={"first": -1})
    assert (answer.status_code, answer.json()) == (
        422, {"error": "invalid request: first: Input should be greater than or equal to 0"})
    answer = client.post("/api/decide", json={"version": version(client), "decision": "accept"})
    assert (answer.status_code, answer.json()) == (422, {"error": "invalid request: row: Field required"})
    answer = client.post("/api/decide", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()) == (422, {"error": "invalid request: JSON decode error"})
    assert client.get("/api/nowhere").json() == {"error": "Not Found"}


def test_a_body_over_a_megabyte_is_refused_before_the_token_is_looked_at(client, run_dir):
    stranger = TestClient(client.app, base_url="http://127.0.0.1")  # no token
    for body in (b"x" * (MAX_BODY + 1), iter([b"x" * MAX_BODY, b"x"])):  # with a Content-Length, and chunked
        answer = stranger.post("/api/decide", content=body, headers={"Content-Type": "application/json"})
        assert (answer.status_code, answer.json()) == (413, {"error": "request body over 1048576 bytes: refused"})
    assert decide(client, RED_R3D, "accept").status_code == 200  # a body sent in chunks under the limit passes
    chunked = client.post("/api/undo", content=iter([b'{"version": "', version(client).encode(), b'"}']),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 200, chunked.text


# --- the command ---------------------------------------------------------------------------------------------

def start_review(run_dir, *flags):
    return subprocess.Popen([sys.executable, str(ROOT / "review.py"), "--paths.run_dir", str(run_dir),
                             "--review.open", "false", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_review_command_prints_its_url_serves_and_stops_cleanly_on_ctrl_c(run_dir):
    import httpx

    server = start_review(run_dir)
    try:
        line = server.stdout.readline()
        assert line.startswith("review: http://127.0.0.1:"), line + server.stderr.read()
        url = line.split()[1]
        assert httpx.get(url).status_code == 200
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert "review: stopped; every decision made is in review.csv" in out


def test_review_command_under_quiet_prints_only_its_address(run_dir):
    import httpx

    server = start_review(run_dir, "--quiet")
    try:
        line = server.stdout.readline()  # the address is what review.py is run for: kept under --quiet
        assert line.startswith("review: http://127.0.0.1:"), line + server.stderr.read()
        assert httpx.get(line.split()[1]).status_code == 200  # serving: Ctrl-C now ends it as a user would
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert out == "" and err == ""  # no "review: stopped" line


def test_a_killed_server_keeps_every_decision_it_answered(run_dir):
    import re

    import httpx

    server = start_review(run_dir)
    try:
        url = server.stdout.readline().split()[1]
        token = re.search(r'name="review-token" content="([^"]+)"', httpx.get(url).text).group(1)
        with httpx.Client(base_url=url, headers={TOKEN_HEADER: token}) as client:
            current = client.get("/api/state").json()["version"]
            for row, decision in [(RED_R3D, "accept"), (RED_ROT, "reject"), (NEAR_MISS_ROW, "accept")]:
                current = client.post("/api/decide", json={"version": current, "row": row,
                                                           "decision": decision}).json()["version"]
        server.kill()  # SIGKILL: no shutdown, nothing flushed on the way out
        server.wait(timeout=30)
    finally:
        server.kill()
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "reject", "", "", "accept"]
    # No temporary left beside review.csv (logs/ holds the step's log file).
    assert sorted(path.name for path in run_dir.iterdir()) == ["images", "logs", "manifest.csv", "review.csv",
                                                               "vocabulary.csv"]


def test_review_command_warns_when_serving_beyond_this_machine(run_dir):
    server = start_review(run_dir, "--review.host", "0.0.0.0")
    try:
        assert server.stdout.readline().startswith("review: http://127.0.0.1:")
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert "warning: serving on 0.0.0.0, not only this machine" in err


def test_tagger_review_is_the_same_step_with_only_its_settings():
    listed = run_tagger("review", "--help")
    assert listed.returncode == 0
    assert all(flag in listed.stdout for flag in ("--review.host", "--review.port", "--review.open",
                                                  "--review.thumbnails", "--paths.run_dir"))
    assert "--train." not in listed.stdout and "--cluster." not in listed.stdout


def test_review_before_cluster_tags_is_one_line(tmp_path):
    server = start_review(tmp_path)
    out, err = server.communicate(timeout=60)
    assert server.returncode == 1
    assert err.strip().splitlines() == [f"review.py: error: {tmp_path / 'review.csv'} is missing: run cluster_tags.py "
                                        "first (with the same --paths.run_dir)."]


def test_review_command_refuses_a_huge_body_by_its_length_without_waiting_for_it(run_dir):
    server = start_review(run_dir)
    try:
        host, port = server.stdout.readline().split()[1].removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            # 200 MB announced, none sent: reading it first would wait here until the timeout
            connection.sendall(b"POST /api/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 200000000\r\n\r\n")
            answer = b"".join(iter(lambda: connection.recv(4096), b"")).decode()  # until it closes the connection
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    finally:
        server.kill()
    assert answer.startswith("HTTP/1.1 413 ")
    assert answer.endswith('{"error":"request body over 1048576 bytes: refused"}')


def test_a_decision_neither_accept_nor_reject_is_named_when_the_page_opens(client, run_dir):
    """A spreadsheet user's `acept` shows as undecided; the page names it at once, not only when Apply refuses it."""
    assert client.get("/api/state").json()["unreadable"] == []
    rows = [list(row) for row in REVIEW_ROWS]
    rows[1][-1], rows[2][-1] = "acept", "YES"  # a typo, and a word the review loop reads as accept
    write_review_csv(run_dir, rows)
    state = client.post("/api/reload").json()
    assert state["unreadable"] == ["rot → red: 'acept'"]
    assert state["decided"] == 1  # circles, accepted as YES; rot is undecided
    decide(client, 1, "reject")
    assert client.get("/api/state").json()["unreadable"] == []


def test_the_icon_browsers_ask_for_is_no_content_not_an_error(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 204 and answer.content == b""
