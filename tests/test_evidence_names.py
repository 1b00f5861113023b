"""One name per piece of evidence, and the same number under it, in the terminal, synonyms.json/.csv,
review.csv and synonyms.html; thumbnails sampled over a tag's images, not its first files."""

import csv
import html
import json

import numpy as np

from tagger import runfolder
from tagger.logs import step_logging
from tagger.variants.legend import EVIDENCE_LEGEND, EVIDENCE_NAMES, PROBE_LEGEND, SPELLED_LEGEND, cut
from tagger.variants.review import read_review, write_review
from tagger.variants.samples import pair_sample, sample_images
from tagger.variants.step import log_groups, write_groups
from tagger.variants.synonyms_page import write_synonyms_page
from test_variants import fit_combined


def test_every_output_names_the_evidence_alike_with_the_same_numbers(tmp_path, capsys):
    model, *_ = fit_combined()
    groups = model.groups_
    write_groups(tmp_path, groups)
    write_review(tmp_path, groups, {})
    with step_logging("cluster_tags", None):  # the console as cluster_tags.py sets it up
        log_groups(groups)
    terminal = capsys.readouterr().out
    group = next(group for group in groups if "d0g" in group.members)
    d0g = group.members.index("d0g")

    member = next(m for g in json.loads((tmp_path / "synonyms.json").read_text())["groups"]
                  for m in g["members"] if m["tag"] == "d0g")
    review_row = next(row for row in read_review(tmp_path / "review.csv") if row["variant"] == "d0g")
    with (tmp_path / "synonyms.csv").open() as file:
        csv_row = next(row for row in csv.DictReader(file) if row["tag"] == "d0g")
    for name in EVIDENCE_NAMES:
        value = {"score": group.scores[d0g], "visual": group.similarities[d0g],
                 "confidence": group.confidences[d0g]}.get(name)
        value = float(getattr(group.evidence, name)[d0g]) if value is None else value
        assert cut(member[name], 4) == review_row[name] == cut(float(csv_row[name]), 4) == cut(value, 4)
    assert member["similarity"] == member["visual"] and csv_row["similarity"] == csv_row["visual"]  # the old key
    assert (f"d0g ({group.counts[d0g]} images, confidence {cut(group.confidences[d0g])}, "
            f"score {cut(group.scores[d0g])}, visual {cut(group.similarities[d0g])}, "
            f"spelled: {group.spelling_links()[d0g]})") in terminal
    assert (group.canonical, group.spelling_links()[d0g]) == ("dogs", "leetspeak + plural")


def test_a_number_under_a_cut_off_is_never_shown_at_it():
    """Evidence is cut to its decimals, not rounded: a near miss at 0.49996 under min_score 0.5 read "0.50" in
    review.csv, the page and the review app, and a group's "confidence >= 0.46" was false of its 0.455."""
    assert [cut(value) for value in (0.49996, 0.455, 0.57, 0.29, 1.0, -0.123, float(np.float32(0.7)))] == \
        ["0.49", "0.45", "0.57", "0.29", "1.00", "-0.13", "0.70"]
    assert [cut(value, 4) for value in (0.49996, 0.455, 0.6, float(np.float32(0.7)))] == \
        ["0.4999", "0.4550", "0.6000", "0.7000"]
    assert cut(float("nan")) == "nan"  # as the f-string showed it; review.py writes '' for evidence not measured


def test_a_near_miss_a_hair_under_the_cut_off_reads_under_it_in_every_file(tmp_path):
    miss = {"canonical": "skirt", "variant": "shirt", "canonical_count": 4, "variant_count": 3, "score": 0.49996,
            "confidence": 0.455, "visual": 0.8, "context": None, "spelling": 0.9, "overlap": 0.0, "flag": "near miss"}
    write_review(tmp_path, [], {}, near_misses=[miss])
    (row,) = read_review(tmp_path / "review.csv")
    assert (row["score"], row["confidence"]) == ("0.4999", "0.4550")
    manifest = runfolder.Manifest([], [], [], [])
    write_synonyms_page(tmp_path, [], manifest, "combined", near_misses=[miss])
    page = (tmp_path / "synonyms.html").read_text().split("Near misses (1 pair")[1]
    assert "<td>0.49</td>" in page and "<td>0.45</td>" in page and "0.50" not in page


def test_what_the_probe_found_and_the_spelling_link_are_said_alike_in_every_output(tmp_path, capsys):
    """The separability probe decides most merges; each output says what it found in the same words: `cars` merged
    (probe: one tag), `skirt lift` beside `shirt lift` listed as a near miss (probe: two tags). So is the spelling
    link: `cars` is car's plural; `shirt lift` / `skirt lift` are two words, which spelling alone never proposes."""
    from test_variant_evidence import collection, fit, look_alike_centres

    centres = look_alike_centres(["shirt lift", "skirt lift*", "car", "tree"], apart=1.2)
    spellings = {"shirt lift": ["shirt lift"], "skirt lift": ["skirt lift"], "car": ["car", "cars"], "tree": ["tree"]}
    embeddings, image_tags = collection(spellings, centres)
    model = fit(embeddings, image_tags)
    (group,) = model.groups_
    variant = group.members[1]
    write_groups(tmp_path, model.groups_, model.near_misses_)
    write_review(tmp_path, model.groups_, {}, model.near_misses_)
    with step_logging("cluster_tags", None):
        log_groups(model.groups_)
    terminal = capsys.readouterr().out
    synonyms = json.loads((tmp_path / "synonyms.json").read_text())
    review = {frozenset((row["canonical"], row["variant"])): row["probe"]
              for row in read_review(tmp_path / "review.csv")}
    spelled = {frozenset((row["canonical"], row["variant"])): row["spelled"]
               for row in read_review(tmp_path / "review.csv")}
    with (tmp_path / "synonyms.csv").open() as file:
        rows = list(csv.DictReader(file))
    listed = {row["tag"]: row["probe"] for row in rows}
    assert synonyms["groups"][0]["members"][1]["probe"] == review[frozenset(("car", "cars"))] == listed[variant] == \
        "one tag"
    assert synonyms["groups"][0]["members"][0]["probe"] is None and listed[group.canonical] == ""  # not a pair
    (miss,) = [miss for miss in synonyms["near_misses"] if {miss["canonical"], miss["variant"]} ==
               {"shirt lift", "skirt lift"}]
    assert miss["probe"] == review[frozenset(("shirt lift", "skirt lift"))] == "two tags"
    assert f"visual {cut(group.similarities[1])}, probe: one tag, spelled: plural)" in terminal
    assert synonyms["groups"][0]["members"][1]["spelled"] == spelled[frozenset(("car", "cars"))] == \
        {row["tag"]: row["spelled"] for row in rows}[variant] == group.spelling_links()[1] == "plural"
    assert synonyms["groups"][0]["members"][0]["spelled"] is None  # the canonical: no pair
    assert miss["spelled"] == spelled[frozenset(("shirt lift", "skirt lift"))] == "two words"
    paths = [str(tmp_path / f"gone{index}.png") for index in range(len(image_tags))]  # no thumbnails: not read
    write_synonyms_page(tmp_path, model.groups_, runfolder.Manifest(paths, paths, image_tags, ["train"] * len(paths)),
                        "combined", near_misses=model.near_misses_)
    page = (tmp_path / "synonyms.html").read_text()
    assert f"<dt>probe</dt><dd>{html.escape(PROBE_LEGEND['probe'])}</dd>" in page
    assert f"<dt>spelled</dt><dd>{html.escape(SPELLED_LEGEND['spelled'])}</dd>" in page
    assert "<td>plural</td>" in page
    assert f"<td>{variant}</td><td>{group.counts[1]}</td>" in page and "<td>one tag</td>" in page
    # The near misses follow the groups, with the same evidence columns and their flag.
    near = page.split("Near misses (")[1]
    assert (f"<td>{miss['canonical']}</td><td>{miss['variant']}</td><td>{miss['canonical_count']} / "
            f"{miss['variant_count']}</td><td>{cut(miss['confidence'])}</td><td>{cut(miss['score'])}</td>") in near
    assert f"<td>two tags</td><td>two words</td><td>{html.escape(miss['flag'])}</td></tr>" in near


def test_the_report_shows_the_legend_and_marks_images_carrying_both_tags(tmp_path):
    from PIL import Image

    model, *_ = fit_combined()
    group = model.groups_[0]
    canonical, variant = group.members[:2]
    paths, tags = [], []
    for index, image_tags in enumerate([[canonical], [canonical, variant], [variant]]):
        paths.append(str(tmp_path / f"{index}.png"))
        Image.new("RGB", (8, 8), (index * 80, 0, 0)).save(paths[-1])
        tags.append(image_tags)
    manifest = runfolder.Manifest(["a", "both", "c"], paths, tags, ["train"] * 3)
    write_synonyms_page(tmp_path, [group], manifest, "combined")
    page = (tmp_path / "synonyms.html").read_text()
    for name, text in EVIDENCE_LEGEND.items():
        assert f"<dt>{name}</dt><dd>{html.escape(text)}</dd>" in page
    assert page.count("class='thumb both'") == 2  # the shared image, under each tag of the pair
    assert page.count("alt='both (carries both tags)'") == 2
    # Each tag's examples on a row of their own under its evidence (one line of thumbnails at any width), a page
    # that fits a phone's width, and counts in words.
    assert page.count("<tr class='examples'>") == 2 and "<th>examples</th>" not in page
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "<h1>Proposed tag variants (1 group, method combined)</h1>" in page


def test_each_near_miss_shows_both_tags_examples_under_its_row(tmp_path):
    """Recall is reviewed from the report too: a near miss gets the pictures a group's member gets, fewer."""
    from PIL import Image

    paths, tags = [], []
    for index, image_tags in enumerate([["shirt"], ["shirt"], ["shirt", "skirt"], ["skirt"], ["skirt"], ["skirt"]]):
        paths.append(str(tmp_path / f"{index}.png"))
        Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(paths[-1])
        tags.append(image_tags)
    manifest = runfolder.Manifest([f"image{index}" for index in range(6)], paths, tags, ["train"] * 6)
    miss = {"canonical": "skirt", "variant": "shirt", "canonical_count": 4, "variant_count": 3, "score": 0.41,
            "flag": "near miss"}
    write_synonyms_page(tmp_path, [], manifest, "combined", per_tag=4, near_misses=[miss])
    near = (tmp_path / "synonyms.html").read_text().split("Near misses (1 pair")[1]
    row = near.split("<tr class='examples'>")[1].split("</tr>")[0]
    skirt, shirt = row.split("<span class='who'>")[1:]
    assert skirt.startswith("skirt</span>") and shirt.startswith("shirt</span>")
    # Half a member's four, each side spread over its own images, the one carrying both shown and marked on both.
    assert [part.split("'")[0] for part in skirt.split("alt='")[1:]] == ["image2 (carries both tags)", "image5"]
    assert [part.split("'")[0] for part in shirt.split("alt='")[1:]] == ["image0", "image2 (carries both tags)"]
    assert near.count("<tr class='examples'>") == 1


def test_thumbnails_are_spread_over_a_tags_images_not_its_first_files():
    images = list(range(100, 200))
    assert sample_images(images, 5) == [100, 125, 150, 174, 199]  # no embeddings: evenly over the manifest
    embeddings = np.zeros((200, 2), np.float32)
    embeddings[:, 0] = 1.0
    embeddings[[150, 151], :] = [[0.0, 1.0], [-1.0, 0.0]]  # two unusual pictures among alike ones
    chosen = sample_images(images, 3, embeddings)
    assert set(chosen[1:]) == {150, 151}  # after the typical image, the ones least like it
    assert embeddings[chosen[0]].tolist() == [1.0, 0.0]
    assert pair_sample(images, {160}, 3) == [(160, True), (100, False), (150, False)]  # a shared one is always shown


def test_the_report_shows_why_to_look_twice(tmp_path):
    """A plural the images cannot see is merged on spelling alone: the page says so beside it, as review.csv does."""
    from test_variant_evidence import DIMENSIONS, fit

    random = np.random.default_rng(2)
    image_tags = [[["ring", "rings", "square"][random.integers(3)]] for _ in range(300)]
    model = fit(random.normal(size=(300, DIMENSIONS)).astype(np.float32), image_tags)  # images that say nothing
    (group,) = model.groups_
    paths = [str(tmp_path / f"gone{index}.png") for index in range(len(image_tags))]
    write_synonyms_page(tmp_path, model.groups_, runfolder.Manifest(paths, paths, image_tags, ["train"] * len(paths)),
                        "combined")
    page = (tmp_path / "synonyms.html").read_text()
    assert f"<td>faint</td><td>plural</td><td>{html.escape(group.flags[1])}</td>" in page
    assert group.flags[1] == "spelling only: check"
