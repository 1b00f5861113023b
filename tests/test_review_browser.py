"""The review page end to end: review.py serving a small run folder, driven in headless Chromium by Playwright.

Uses the system's Chromium (Debian's `chromium`; .ci/run installs it), or the one CHROMIUM_PATH names.
"""

import contextlib
import os
import re
import shutil
import signal
import socket

import pytest

from review_run import HOSTILE, REVIEW_ROWS, make_review_run, many_rows, review_cells, write_review_csv
from test_review_app import start_review

playwright_api = pytest.importorskip("playwright.sync_api")  # in the test extra
# Waits, not assertions: under a full parallel suite an Apply (files written, run lock) can take past Playwright's
# default 5 s to show; what is expected is unchanged.
playwright_api.expect.set_options(timeout=20_000)

CHROMIUM = os.environ.get("CHROMIUM_PATH") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
if CHROMIUM is None and os.environ.get("REQUIRE_BROWSER_TEST"):
    raise RuntimeError("REQUIRE_BROWSER_TEST is set but no Chromium was found (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")


@contextlib.contextmanager
def serving(run_dir, *flags):
    """review.py serving run_dir; yields its address, and stops it as Ctrl-C does."""
    server = start_review(run_dir, *flags)
    try:
        line = server.stdout.readline()
        assert line.startswith("review: http://"), line + server.stderr.read()
        yield line.split()[1]
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    finally:
        server.kill()


@pytest.fixture
def served(tmp_path):
    run_dir = make_review_run(tmp_path / "run")
    with serving(run_dir) as url:
        yield run_dir, url


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.dialogs, page.accept_dialogs = [], False  # dialogs are dismissed unless a test says otherwise
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message),
                                          dialog.accept() if page.accept_dialogs else dialog.dismiss()))
        yield page
        browser.close()


def pair(page, row: int):
    return page.locator(f'.pair[data-row="{row}"]')


def burst(page, key: str, times: int) -> None:
    """key pressed times within one frame: faster than scrolling draws the next cards (Playwright's presses are
    slower, and leave the page time to draw them)."""
    page.evaluate("""([key, times]) => { for (let i = 0; i < times; i += 1)
        document.body.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true})); }""", [key, times])


def expect(locator):
    return playwright_api.expect(locator)


def test_deciding_with_clicks_and_keys_survives_a_reload_and_apply_writes_aliases(served, page, tmp_path):
    run_dir, url = served
    page.goto(url)
    expect(page.locator("#progress")).to_have_text("0 of 4 decided")

    pair(page, 0).locator("button.accept").click()  # red <- r3d, by click
    expect(pair(page, 0)).to_have_class("member pair accept current")
    page.keyboard.press("j")
    page.keyboard.press("a")  # red <- rot, by key; moves on to circle <- circles
    expect(pair(page, 1)).to_have_class("member pair accept")
    page.keyboard.press("r")  # circle <- circles rejected; moves on to the hostile pair
    expect(pair(page, 2)).to_have_class("member pair reject")
    page.keyboard.press("a")
    expect(pair(page, 3)).to_have_class("member pair accept")
    expect(pair(page, 4)).to_have_class("member pair undecided current")
    page.keyboard.press("u")  # that last acceptance undone, and the cursor back on its pair
    expect(pair(page, 3)).to_have_class("member pair undecided current")
    expect(page.locator("#progress")).to_have_text("3 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "accept", "reject", "", ""]

    page.reload()
    expect(page.locator("#progress")).to_have_text("3 of 4 decided")
    for row, state in [(0, "accept"), (1, "accept"), (2, "reject"), (3, "undecided"), (4, "undecided")]:
        expect(pair(page, row)).to_have_class(f"member pair {state}" + (" current" if row == 0 else ""))

    page.screenshot(path=str(tmp_path / "review_page.png"), full_page=True)
    page.locator("#apply").click()
    expect(page.locator("#aliases li")).to_have_text(["r3d → red", "rot → red"])
    expect(page.locator("#next-commands")).to_contain_text(f"--data.aliases {run_dir / 'aliases.txt'}")
    aliases = (run_dir / "aliases.txt").read_text().splitlines()
    assert [line for line in aliases if not line.startswith("#")] == ["alias r3d -> red", "alias rot -> red"]


def test_a_page_opened_after_review_csv_changed_on_disk_shows_it(served, page):
    """cluster_tags.py run again, or a spreadsheet saved, while review.py serves: a page opened (or refreshed) then
    shows the file as it is, not the rows review.py read when it started."""
    run_dir, url = served
    page.goto(url)
    expect(page.locator("#progress")).to_have_text("0 of 4 decided")
    text = (run_dir / "review.csv").read_text(encoding="utf-8")
    (run_dir / "review.csv").write_text(text.replace("near miss,\n", "near miss,accept\n"), encoding="utf-8")
    page.reload()
    expect(page.locator("#near-progress")).to_have_text(" · near misses: 1 of 1")
    expect(page.locator("#banner")).to_be_hidden()


def test_keys_pressed_faster_than_the_server_answers_each_count(served, page):
    run_dir, url = served
    page.goto(url)
    expect(pair(page, 0)).to_have_class("member pair undecided current")
    for key in "arar":  # no waiting between keys: each change must wait for the version the one before made
        page.keyboard.press(key)
    expect(page.locator("#progress")).to_have_text("4 of 4 decided")
    expect(page.locator("#banner")).to_be_hidden()
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "reject", "accept", "reject", ""]


def test_a_hostile_tag_shows_as_text_and_runs_nothing(served, page):
    _, url = served
    page.goto(url)
    expect(pair(page, 3).locator(".tag")).to_have_text(HOSTILE)
    expect(pair(page, 3).locator(".thumbs img")).to_have_count(1)  # its thumbnail has loaded by now
    assert page.locator('img[src="x"]').count() == 0
    assert page.dialogs == []


def test_a_review_csv_saved_elsewhere_is_not_overwritten_and_the_page_offers_to_reload(served, page):
    run_dir, url = served
    page.goto(url)
    expect(page.locator("#progress")).to_have_text("0 of 4 decided")
    text = (run_dir / "review.csv").read_text()
    (run_dir / "review.csv").write_text(text.replace("0.6100,,0.1000,0.0000,faint,,1,1,spelling only: check,\n",
                                                     "0.6100,,0.1000,0.0000,faint,,1,1,spelling only: check,reject\n"))
    pair(page, 0).locator("button.accept").click()
    expect(page.locator("#banner-text")).to_contain_text("changed on disk since it was read")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "reject", ""]
    page.locator("#banner-reload").click()
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text("1 of 4 decided")
    pair(page, 0).locator("button.accept").click()
    expect(page.locator("#progress")).to_have_text("2 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "reject", ""]


def test_a_split_member_gets_a_card_of_its_own_and_undo_takes_it_back(served, page):
    run_dir, url = served
    page.goto(url)
    pair(page, 1).locator("button.split").click()  # rot out of red's group: its card is named for it
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "rot", "circle", "hostile"])
    expect(page.locator("#groups .group .position")).to_have_text(["1.", "2.", "3.", "4."])
    expect(pair(page, 1)).to_have_class("member pair reject current")
    assert review_cells(run_dir)[1] == ("5", "red", "rot", "reject")
    page.keyboard.press("u")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "circle", "hostile"])
    expect(page.locator("#groups .group .position")).to_have_text(["1.", "2.", "3."])  # no gap where it was
    expect(pair(page, 1)).to_have_class("member pair undecided current")
    assert review_cells(run_dir)[1] == ("1", "red", "rot", "")


def test_keys_step_through_every_proposal_before_the_near_misses(tmp_path, page):
    """45 proposals (drawn 12 at a time) and 15 near misses (their first 12 drawn below the first 12 proposals):
    j and a go from proposal 12 to proposal 13, never into the near misses."""
    run_dir = make_review_run(tmp_path / "run")
    write_review_csv(run_dir, many_rows(45, 15))
    with serving(run_dir) as url:
        page.goto(url)
        page.wait_for_selector("body.ready")  # the whole list is in
        expect(page.locator("#groups .group")).to_have_count(12)
        expect(page.locator("#near-groups .group")).to_have_count(12)
        burst(page, "j", 13)
        expect(page.locator(".pair.current .tag")).to_have_text("tag13s")
        burst(page, "a", 20)  # a must decide each pair it steps through, and only those
        expect(page.locator("#progress")).to_have_text("20 of 45 decided")
        expect(page.locator(".pair.current .tag")).to_have_text("tag33s")
    assert [cells[3] for cells in review_cells(run_dir)] == [""] * 13 + ["accept"] * 20 + [""] * (12 + 15)


def test_setting_the_canonical_says_what_the_numbers_are(served, page):
    _, url = served
    page.goto(url)
    # The group's head names its least confident pair's measure (it read "score ≥" beside a score of 0.82), cut to two
    # decimals so that "≥" holds (0.455 read "≥ 0.46")
    expect(page.locator(".group-head .confidence")).to_have_text(
        ["confidence ≥ 0.80", "confidence ≥ 0.75", "confidence ≥ 0.55", "confidence ≥ 0.45"])
    chooser = page.locator('[data-group="1"] .chooser input')
    chooser.fill("circles")  # already a tag, and a member of circle's group
    chooser.press("Enter")
    red = page.locator('[data-group="1"]')
    expect(red.locator(".notice")).to_have_text("circles is already a tag of its own with 1 image, also in the "
                                                "group of circle: this group merges into it")
    expect(red.locator(".canonical-row .count")).to_have_text("1 image")
    expect(red.locator(".pair .measured")).to_have_text(["measured vs red, not circles"] * 2)
    expect(pair(page, 5).locator(".evidence")).to_have_text("typed in review: no evidence measured")
    chooser = page.locator('[data-group="1"] .chooser input')
    chooser.fill("r3d")  # a member: red / r3d is the pair measured, rot was measured against red
    chooser.press("Enter")
    expect(red.locator(".pair .tag")).to_have_text(["red", "rot"])
    expect(red.locator(".pair .measured")).to_have_text(["measured vs red, not r3d"])
    expect(red.locator(".notice")).to_have_count(0)


def test_each_tab_undoes_only_its_own_changes(served, page):
    run_dir, url = served
    other = page.context.browser.new_page()
    page.goto(url)
    other.goto(url)
    pair(page, 0).locator("button.accept").click()
    expect(pair(page, 0)).to_have_class("member pair accept current")
    other.locator("#reload").click()  # this tab's Reload keeps the first tab's undo
    expect(pair(other, 0)).to_have_class("member pair accept current")
    pair(other, 2).locator("button.reject").click()
    expect(other.locator("#progress")).to_have_text("2 of 4 decided")
    other.keyboard.press("u")
    expect(pair(other, 2)).to_have_class("member pair undecided current")
    other.keyboard.press("u")
    expect(other.locator("#banner-text")).to_have_text("nothing to undo")
    pair(other, 3).locator("button.reject").click()
    expect(other.locator("#progress")).to_have_text("2 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "reject", ""]

    page.keyboard.press("u")  # the first tab shows an older review.csv: it reloads, then undoes its own
    expect(page.locator("#banner-text")).to_have_text("this page shows an older review.csv than the one on disk "
                                                      "(another tab saved since); reload to see it before deciding again")
    page.locator("#banner-reload").click()
    expect(page.locator("#banner")).to_be_hidden()
    page.keyboard.press("u")
    expect(pair(page, 0)).to_have_class("member pair undecided current")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "reject", ""]
    fresh = page.context.browser.new_page()  # a page opened later never undoes what an earlier one did
    fresh.goto(url)
    expect(fresh.locator("#progress")).to_have_text("1 of 4 decided")
    fresh.keyboard.press("u")
    expect(fresh.locator("#banner-text")).to_have_text("nothing to undo")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "reject", ""]


def test_a_page_left_open_while_review_py_restarts_says_to_reload_it(tmp_path, page):
    run_dir = make_review_run(tmp_path / "run")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    with serving(run_dir, "--review.port", port) as url:
        page.goto(url)
        expect(page.locator("#progress")).to_have_text("0 of 4 decided")
    with serving(run_dir, "--review.port", port):
        pair(page, 0).locator("button.accept").click()
        expect(page.locator("#banner-text")).to_have_text(
            "The review server was restarted since this page was opened: reload the page (F5) to go on. "
            "Every decision it answered is in review.csv.")
        page.locator("#reload").click()  # the Reload button says the same: the page, not review.csv, is stale
        expect(page.locator("#banner-reload")).to_have_text("Reload the page")
        page.locator("#banner-reload").click()
        expect(page.locator("#progress")).to_have_text("0 of 4 decided")
        expect(page.locator("#banner")).to_be_hidden()
        pair(page, 0).locator("button.accept").click()
        expect(page.locator("#progress")).to_have_text("1 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "", "", ""]


def test_the_applied_list_goes_stale_and_a_refused_apply_names_each_pair(served, page):
    run_dir, url = served
    page.goto(url)
    pair(page, 0).locator("button.accept").click()
    page.locator("#apply").click()
    expect(page.locator("#aliases li")).to_have_text(["r3d → red"])
    expect(page.locator("#apply-stale")).to_be_hidden()
    pair(page, 1).locator("button.accept").click()
    # Shown once the decision is answered (written to review.csv): the note's text is in the page from the start,
    # so to_have_text alone passes on the hidden note, and the append below could beat the decision to the file.
    expect(page.locator("#progress")).to_have_text("2 of 4 decided")
    expect(page.locator("#apply-stale")).to_be_visible()
    expect(page.locator("#apply-stale")).to_have_text(
        "Decided since: aliases.txt holds only the list below. Apply again to write the decisions made since.")
    with (run_dir / "review.csv").open("a") as file:  # a spreadsheet user accepted r3d and rot into circle too
        file.write("2,circle,r3d,,,,,,,,,,,,accept\n2,circle,rot,,,,,,,,,,,,accept\n")
    page.locator("#reload").click()
    expect(page.locator("#progress")).to_have_text("4 of 6 decided")
    page.locator("#apply").click()
    expect(page.locator("#banner-text")).to_have_text(
        f"{run_dir / 'review.csv'}: 2 accepted rows cannot be applied, nothing was written")
    expect(page.locator("#banner-lines li")).to_have_text([
        "r3d → circle (line 7): 'r3d' was merged into 'red' in an earlier round; to undo an earlier merge, delete its "
        "line from aliases.txt first, then apply again",
        "rot → circle (line 8): 'rot' is accepted as a variant of both 'red' (line 3) and 'circle'; reject one of them"])


def test_invisible_characters_in_a_tag_show_as_code_points(served, page):
    run_dir, url = served
    write_review_csv(run_dir, [*REVIEW_ROWS, (2, "circle", "ring\u202egnp.exe", "0.7", "", "", "", "", "", "", "", 1,
                                              0, "", "")])
    page.goto(url)
    page.locator("#reload").click()
    expect(page.locator('[data-group="2"] .pair .tag')).to_have_text(["circles", "ring<U+202E>gnp.exe"])
    chooser = page.locator('[data-group="1"] .chooser input')
    chooser.fill("ring\u202egnp.exe")
    chooser.press("Enter")
    expect(page.locator("#banner-text")).to_have_text(
        "the canonical 'ring<U+202E>gnp.exe' holds invisible or direction-changing characters (shown as <U+...>): "
        "type it without them")


def test_the_page_fits_a_phone(served, page):
    _, url = served
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(url)
    expect(pair(page, 0)).to_have_class("member pair undecided current")
    expect(page.locator('[data-group="1"] .canonical-row .thumbs img')).to_have_count(4)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing widens the page
    for button in ("#undo", "#reload", "#apply"):
        box = page.locator(button).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, button
    rows = {round(page.locator('[data-group="1"] .canonical-row .thumbs img').nth(index).bounding_box()["y"])
            for index in range(4)}
    assert len(rows) == 1  # red's four thumbnails flow in one row, not one a row

    page.keyboard.press("u")  # a banner: below the toolbar, which wraps to more lines here, also scrolled
    expect(page.locator("#banner-text")).to_have_text("nothing to undo")
    page.mouse.wheel(0, 400)
    page.wait_for_function("() => window.scrollY > 0")
    bar, banner = page.locator("#bar").bounding_box(), page.locator("#banner").bounding_box()
    assert bar["y"] == 0 and banner["y"] >= bar["y"] + bar["height"] - 1
    for _ in range(3):
        page.keyboard.press("j")
    expect(pair(page, 3)).to_have_class("member pair undecided current")
    top = page.locator("#top").bounding_box()
    assert pair(page, 3).bounding_box()["y"] >= top["y"] + top["height"]  # the current pair is not under them

    page.locator('[data-group="1"] .canonical-row .thumbs button').first.click()
    expect(page.locator("#lightbox")).to_be_visible()
    box = page.locator("#lightbox-image").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0 and box["y"] + box["height"] <= 844


def test_choosing_the_canonical_on_the_page(served, page):
    run_dir, url = served
    page.goto(url)
    chooser = page.locator('[data-group="1"] .chooser input')
    chooser.fill("r3d")
    chooser.press("Enter")
    expect(page.locator('[data-group="1"] .canonical-name')).to_have_text("r3d")
    expect(page.locator('[data-group="1"] .pair .tag')).to_have_text(["red", "rot"])
    assert review_cells(run_dir)[:2] == [("1", "r3d", "red", ""), ("1", "r3d", "rot", "")]


def test_split_out_is_offered_only_where_it_is_more_than_reject(served, page):
    run_dir, url = served
    page.goto(url)
    # red's two pairs; not circle's or hostile's only pair, not the near miss: there it would only reject
    expect(page.locator(".pair:has(button.split)")).to_have_count(2)
    expect(pair(page, 2).locator("button.split")).to_have_count(0)
    expect(pair(page, 4).locator("button.split")).to_have_count(0)
    pair(page, 2).click()
    page.keyboard.press("s")
    expect(page.locator("#banner-text")).to_have_text("circles is the only pair of its group: splitting it out "
                                                      "would only reject it; reject it instead (r)")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "", "", ""]


def test_search_and_flag_filter_and_the_near_miss_section(served, page):
    _, url = served
    page.goto(url)
    expect(page.locator("#near-groups .group .canonical-name")).to_have_text(["square"])
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "circle", "hostile"])
    page.locator("#search").fill("circ")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["circle"])
    page.locator("#search").fill("")
    page.locator("#flag-filter").select_option("spelling only: check")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["hostile"])
    # What the probe found, in the same list: the merge the images could not see, then those they vouched for.
    page.locator("#flag-filter").select_option(label="probe: faint")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["hostile"])
    expect(page.locator("#near-groups .group")).to_have_count(0)
    page.locator("#flag-filter").select_option(label="probe: one tag")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red"])
    page.locator("#flag-filter").select_option(label="probe: not asked")
    expect(page.locator("#near-groups .group .canonical-name")).to_have_text(["square"])
    # And the spelling links: one kind of spelling at a time.
    page.locator("#flag-filter").select_option(label="spelled: plural")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["circle"])
    expect(page.locator("#near-groups .group")).to_have_count(0)
    page.locator("#flag-filter").select_option(label="spelled: typo of a word")
    expect(page.locator("#groups .group")).to_have_count(0)
    expect(page.locator("#near-groups .group .canonical-name")).to_have_text(["square"])


def test_the_pairs_a_filter_shows_are_decided_at_once_and_undone_at_once(served, page):
    """A person trusts one kind of merge (every plural, every pair the probe found one tag): the filter shows them,
    Accept shown / Reject shown decides the undecided proposed pairs it shows, after asking, and one undo takes them
    back. Near misses and pairs decided already, one by one or at once, are left as they are."""
    run_dir, url = served
    page.goto(url)
    expect(page.locator("#progress")).to_have_text("0 of 4 decided")
    page.locator("#flag-filter").select_option(label="spelled: plural")
    with page.expect_event("dialog"):
        page.locator("#accept-shown").click()  # asked, and dismissed: nothing changes
    expect(page.locator("#progress")).to_have_text("0 of 4 decided")
    assert page.dialogs == ["Accept the 1 undecided proposed pair shown (spelled: plural)? Undo takes them all back."]
    page.accept_dialogs = True
    page.locator("#accept-shown").click()
    expect(page.locator("#progress")).to_have_text("1 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["", "", "accept", "", ""]
    page.locator("#reject-shown").click()  # circles is decided now: nothing undecided is shown
    expect(page.locator("#banner-text")).to_have_text("no undecided proposed pair is shown: change the search or "
                                                      "the filter")
    page.locator("#flag-filter").select_option(label="every flag")
    pair(page, 0).locator("button.accept").click()  # red <- r3d, decided one by one
    expect(page.locator("#progress")).to_have_text("2 of 4 decided")
    page.locator("#reject-shown").click()
    expect(page.locator("#progress")).to_have_text("4 of 4 decided")
    assert page.dialogs[-1] == "Reject the 2 undecided proposed pairs shown (every flag)? Undo takes them all back."
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "reject", "accept", "reject", ""]
    page.locator("#undo").click()
    expect(page.locator("#progress")).to_have_text("2 of 4 decided")
    assert [cells[3] for cells in review_cells(run_dir)] == ["accept", "", "accept", "", ""]
    page.locator("#search").fill("host")  # the groups a search shows, whole
    page.locator("#accept-shown").click()
    expect(page.locator("#progress")).to_have_text("3 of 4 decided")
    assert page.dialogs[-1] == ('Accept the 1 undecided proposed pair shown (every flag, search "host")? Undo takes '
                                'them all back.')
    # A typed canonical makes the near miss's group a proposal (its added row is one); its near miss stays undecided.
    page.locator("#search").fill("")
    chooser = page.locator('#near-groups .chooser input')
    chooser.fill("squares")
    chooser.press("Enter")
    page.locator("#reload").click()
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "circle", "hostile", "squares"])
    page.locator("#accept-shown").click()  # red <- rot only
    expect(page.locator("#progress")).to_have_text("5 of 5 decided")
    assert page.dialogs[-1] == "Accept the 1 undecided proposed pair shown (every flag)? Undo takes them all back."
    assert [cells[1:] for cells in review_cells(run_dir)] == [
        ("red", "r3d", "accept"), ("red", "rot", "accept"), ("circle", "circles", "accept"),
        ("hostile", HOSTILE, "accept"), ("squares", "sqaure", ""), ("squares", "square", "accept")]


def test_the_exported_report_fits_a_laptop_screen(tmp_path, page):
    """synonyms.html at 1280 px: every group's table stays inside its box and nothing scrolls sideways; the
    thumbnails wrap (six a tag in one row, beside the evidence columns and a flag, ran past the box and the page)."""
    import numpy as np
    from PIL import Image

    from tagger import runfolder
    from tagger.variants.synonyms_page import write_synonyms_page
    from test_variant_evidence import DIMENSIONS, fit

    random = np.random.default_rng(2)
    image_tags = [[["ring", "rings", "square"][random.integers(3)]] for _ in range(300)]
    model = fit(random.normal(size=(300, DIMENSIONS)).astype(np.float32), image_tags)  # flagged: spelling only
    paths = [str(tmp_path / f"{index}.png") for index in range(len(image_tags))]
    for index, path in enumerate(paths):
        Image.new("RGB", (32, 32), (index % 256, 80, 160)).save(path)
    write_synonyms_page(tmp_path, model.groups_, runfolder.Manifest(paths, paths, image_tags, ["train"] * len(paths)),
                        "combined", near_misses=model.near_misses_)
    page.goto((tmp_path / "synonyms.html").as_uri())
    assert page.locator(".group .thumbs img").count() == 12  # six of each tag: the layout is tested with them
    fits = page.evaluate("""() => [...document.querySelectorAll('.group')].map(box =>
        box.querySelector('table').getBoundingClientRect().right <= box.getBoundingClientRect().right)""")
    assert fits and all(fits)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 900, "height": 900})  # narrower than a table can be: its box scrolls, the page not
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_decision_neither_accept_nor_reject_is_named_in_a_banner_until_it_is_decided(tmp_path, page):
    run_dir = make_review_run(tmp_path / "run")
    rows = [list(row) for row in REVIEW_ROWS]
    rows[1][-1], rows[2][-1] = "acept", "yess"  # typed in a spreadsheet
    write_review_csv(run_dir, rows)
    with serving(run_dir) as url:
        page.goto(url)
        expect(page.locator("#banner-text")).to_contain_text("2 decisions in review.csv are neither accept nor reject")
        expect(page.locator("#banner-lines li")).to_have_text(["rot → red: 'acept'", "circles → circle: 'yess'"])
        expect(pair(page, 1)).to_have_class("member pair undecided")
        page.locator("#banner-reload").click()  # read review.csv again: the cells are as they were, still named
        expect(page.locator("#banner-lines li")).to_have_text(["rot → red: 'acept'", "circles → circle: 'yess'"])
        pair(page, 1).click()
        page.keyboard.press("r")
        expect(pair(page, 1)).to_have_class(re.compile(r"\bpair reject\b"))
        # Deciding one leaves the other named: Apply would still refuse it.
        expect(page.locator("#banner-text")).to_contain_text("1 decision in review.csv is neither accept nor reject")
        expect(page.locator("#banner-lines li")).to_have_text(["circles → circle: 'yess'"])
        pair(page, 2).click()
        page.keyboard.press("a")
        expect(pair(page, 2)).to_have_class(re.compile(r"\bpair accept\b"))
        expect(page.locator("#banner")).to_be_hidden()
        page.reload()
        expect(pair(page, 1)).to_have_class(re.compile(r"\bpair reject\b"))
        expect(page.locator("#banner")).to_be_hidden()
