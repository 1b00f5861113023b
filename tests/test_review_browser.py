"""The review page end to end: review.py serving a small run folder, driven in headless Chromium by Playwright.

Uses the system's Chromium (Debian's `chromium`; .ci/run installs it), or the one CHROMIUM_PATH names.
"""

import os
import shutil
import signal

import pytest

from review_run import HOSTILE, make_review_run, review_cells
from test_review_app import start_review

playwright_api = pytest.importorskip("playwright.sync_api")  # in the test extra

CHROMIUM = os.environ.get("CHROMIUM_PATH") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
if CHROMIUM is None and os.environ.get("REQUIRE_BROWSER_TEST"):
    raise RuntimeError("REQUIRE_BROWSER_TEST is set but no Chromium was found (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")


@pytest.fixture
def served(tmp_path):
    run_dir = make_review_run(tmp_path / "run")
    server = start_review(run_dir)
    line = server.stdout.readline()
    assert line.startswith("review: http://"), line + server.stderr.read()
    yield run_dir, line.split()[1]
    server.send_signal(signal.SIGINT)
    server.communicate(timeout=30)


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        yield page
        browser.close()


def pair(page, row: int):
    return page.locator(f'.pair[data-row="{row}"]')


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
    aliases = (run_dir / "aliases.txt").read_text().splitlines()
    assert [line for line in aliases if not line.startswith("#")] == ["alias r3d -> red", "alias rot -> red"]


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
    (run_dir / "review.csv").write_text(text.replace("0.6100,,0.1000,0.0000,faint,1,1,spelling only: check,\n",
                                                     "0.6100,,0.1000,0.0000,faint,1,1,spelling only: check,reject\n"))
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
    pair(page, 1).locator("button.split").click()  # rot out of red's group
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "red", "circle", "hostile"])
    expect(page.locator("#groups .group .position")).to_have_text(["1.", "2.", "3.", "4."])
    expect(pair(page, 1)).to_have_class("member pair reject current")
    assert review_cells(run_dir)[1] == ("5", "red", "rot", "reject")
    page.keyboard.press("u")
    expect(page.locator("#groups .group .canonical-name")).to_have_text(["red", "circle", "hostile"])
    expect(pair(page, 1)).to_have_class("member pair undecided current")
    assert review_cells(run_dir)[1] == ("1", "red", "rot", "")


def test_choosing_the_canonical_on_the_page(served, page):
    run_dir, url = served
    page.goto(url)
    chooser = page.locator('[data-group="1"] .chooser input')
    chooser.fill("r3d")
    chooser.press("Enter")
    expect(page.locator('[data-group="1"] .canonical-name')).to_have_text("r3d")
    expect(page.locator('[data-group="1"] .pair .tag')).to_have_text(["red", "rot"])
    assert review_cells(run_dir)[:2] == [("1", "r3d", "red", ""), ("1", "r3d", "rot", "")]


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
