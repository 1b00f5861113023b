"""Hostile text in tags and file names: no CSV the project writes runs a formula in a spreadsheet, and what a
person reads (terminal, HTML) shows invisible and reordering characters, while data files keep them exact."""

import csv

import numpy as np
import pytest
from test_review_loop import prepare_and_cluster

from tagger import runfolder
from tagger.cli import main
from tagger.files import read_csv, write_csv

RLO, ZWSP = "\u202e", "\u200b"
HOSTILE = ["=hyperlink(\"http://x\")", "+1", "-2", "@sum(a1)", "'quoted", f"ab{RLO}cd", f"zero{ZWSP}width", "plain"]


def test_every_cell_round_trips_and_plain_cells_stay_byte_identical(tmp_path):
    cells = [*HOSTILE, "\tlead tab", "\rlead cr", "mid=dle", "a,b", 'say "hi"']
    write_csv(tmp_path / "t.csv", ["name", "n"], [(cell, index) for index, cell in enumerate(cells)])
    raw = (tmp_path / "t.csv").read_bytes().decode("utf-8")
    assert raw.startswith("name,n\n\"'=hyperlink(\"\"http://x\"\")\",0\n'+1,1\n'-2,2\n'@sum(a1),3\n''quoted,4\n")
    assert f"\nab{RLO}cd,5\nzero{ZWSP}width,6\nplain,7\n" in raw  # byte for byte
    assert "\n'\tlead tab,8\n\"'\rlead cr\",\"9\"\nmid=dle,10\n\"a,b\",11\n\"say \"\"hi\"\"\",12\n" in raw
    table = read_csv(tmp_path / "t.csv")
    assert table["name"].tolist() == cells and table["n"].tolist() == [str(i) for i in range(len(cells))]


@pytest.fixture
def hostile_source(tmp_path):
    rows = [(f"img{index}.png", ", ".join(HOSTILE)) for index in range(6)]
    rows.append(("=cmd|' /C calc'!A0.png", ""))  # no tags: skipped, and its name lands in skipped.csv
    with (tmp_path / "tags.csv").open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([("image", "tags"), *rows])
    return tmp_path


def test_prepare_outputs_are_spreadsheet_safe_and_read_back_exactly(hostile_source, capsys):
    run_dir = hostile_source / "run"
    assert main("prepare", ["--paths.run_dir", str(run_dir), "--data.source", str(hostile_source / "tags.csv"),
                            "--data.check_images", "false", "--data.min_tag_occurrences", "1",
                            "--data.casefold", "false"]) == 0
    out = capsys.readouterr().out
    assert "ab<U+202E>cd (6)" in out and "zero<U+200B>width (6)" in out and RLO not in out and ZWSP not in out
    expected_tags = ["'quoted", "+1", "-2", "=hyperlink(\"http://x\")", "@sum(a1)", f"ab{RLO}cd", "plain",
                     f"zero{ZWSP}width"]
    assert (run_dir / "vocabulary.csv").read_text(encoding="utf-8") == (
        "tag,count\n''quoted,6\n'+1,6\n'-2,6\n\"'=hyperlink(\"\"http://x\"\")\",6\n'@sum(a1),6\n"
        f"ab{RLO}cd,6\nplain,6\nzero{ZWSP}width,6\n")
    assert runfolder.read_vocabulary(run_dir) == expected_tags
    manifest_text = (run_dir / "manifest.csv").read_text(encoding="utf-8")
    assert ".png,\"'=hyperlink(\"\"http://x\"\"), +1, -2," in manifest_text
    assert runfolder.read_manifest(run_dir).tags[0] == HOSTILE
    assert "\n'=cmd|' /C calc'!A0.png,no tags\n" in (run_dir / "skipped.csv").read_text(encoding="utf-8")


def test_cluster_tags_shows_invisible_characters_in_the_terminal_and_page_but_keeps_them_in_data(tmp_path, capsys):
    from test_review_loop import planted_collection

    embeddings, image_tags = planted_collection()
    renamed = {"dogs": f"do{RLO}gs", "auto": f"au{ZWSP}to"}
    lines = ["image,tags"] + [f'img{i}.png,"{", ".join(renamed.get(t, t) for t in tags)}"'
                              for i, tags in enumerate(image_tags)]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = prepare_and_cluster(tmp_path, {f"img{i}.png": row for i, row in enumerate(embeddings)})
    out = capsys.readouterr().out
    # A spelling with an invisible character in it is no word: the group is named car, not au<U+200B>to.
    assert "do<U+202E>gs (79 images" in out and "au<U+200B>to (126 images" in out and RLO not in out
    page = (run_dir / "synonyms.html").read_text(encoding="utf-8")
    assert "do&lt;U+202E&gt;gs" in page and RLO not in page and ZWSP not in page
    review = runfolder.read_csv(run_dir / "review.csv")
    assert set(review["variant"]) | set(review["canonical"]) >= {f"do{RLO}gs", f"au{ZWSP}to"}
    assert np.isin([f"do{RLO}gs"], runfolder.read_vocabulary(run_dir)).all()
