"""Tags used on too few images to be kept (rare_tags.csv) are listed beside the kept tag they spell, and merge
like any accepted row.

Run folders are real (prepare.py, cluster_tags.py and apply_review.py in-process through tagger.cli.main); the
embeddings are planted, so no TensorFlow runs.
"""

import numpy as np

from test_review_loop import decide, planted_collection, prepare_and_cluster, review_rows, write_review_file

from tagger import runfolder
from tagger.cli import main
from tagger.variants.rule import RARE_SPELLING

CONCEPTS = ["dog", "cat", "car", "tree", "sky"]
# Typed on two images of their concept each, under min_tag_occurrences 3: a doubled letter and leetspeak (one spelling
# key with the kept tag), a slip of a word; then a word one letter from a kept word, and another word altogether.
RARE = {"catt": "cat", "tre3": "tree", "skyy": "sky", "cap": "car", "puppy": "dog"}
LISTED = {("cat", "catt"), ("tree", "tre3"), ("sky", "skyy")}


def collection(root):
    """tags.csv of 300 images of two concepts each, each rare spelling on two images of its concept (beside a kept tag,
    so the images stay in the manifest); and each image's planted embedding."""
    random = np.random.default_rng(0)
    centres = {name: random.normal(size=32) for name in CONCEPTS}
    lines, embedding_of, typed = ["image,tags"], {}, dict.fromkeys(RARE, 0)
    for index in range(300):
        concepts = [str(name) for name in random.choice(CONCEPTS, size=2, replace=False)]
        tags = list(concepts)
        rare = next((rare for rare, of in RARE.items() if of == concepts[0] and typed[rare] < 2), None)
        if rare is not None:
            tags[0] = rare
            typed[rare] += 1
        lines.append(f'img{index}.png,"{", ".join(tags)}"')
        embedding_of[f"img{index}.png"] = sum(centres[name] for name in concepts) + random.normal(scale=0.8, size=32)
    (root / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return embedding_of


def test_rare_spellings_are_listed_beside_their_tag_and_merge_once_accepted(tmp_path):
    embedding_of = collection(tmp_path)
    run_dir = prepare_and_cluster(tmp_path, embedding_of)
    uses = runfolder.read_rare_tags(run_dir)
    assert {tag: len(images) for tag, images in uses.items()} == {tag: 2 for tag in RARE}
    counts = dict(zip(*runfolder.read_vocabulary_counts(run_dir)))

    rows = [row for row in review_rows(run_dir) if row["flag"] == RARE_SPELLING]
    assert {(row["canonical"], row["variant"]) for row in rows} == LISTED
    assert {row["variant"]: (row["spelled"], row["variant_count"], row["score"], row["confidence"]) for row in rows} == {
        "catt": ("doubled letters", "2", "0.6000", ""), "skyy": ("doubled letters", "2", "0.6000", ""),
        "tre3": ("leetspeak", "2", "0.6000", "")}
    listed = runfolder.read_json(run_dir / runfolder.SYNONYMS_JSON)["near_misses"]
    assert {miss["variant"] for miss in listed if miss["flag"] == RARE_SPELLING} == {"catt", "skyy", "tre3"}

    decide(run_dir, {"catt": "accept", "tre3": "accept", "skyy": "reject"})
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert "catt" in (run_dir / runfolder.ALIASES).read_text(encoding="utf-8")
    prepare_and_cluster(tmp_path, embedding_of, "--data.aliases", str(run_dir / runfolder.ALIASES))
    merged = dict(zip(*runfolder.read_vocabulary_counts(run_dir)))
    # Each merged spelling's two images now count for its tag; the rejected one is not listed again.
    assert merged["cat"] == counts["cat"] + 2 and merged["tree"] == counts["tree"] + 2
    assert set(runfolder.read_rare_tags(run_dir)) == set(RARE) - {"catt", "tre3"}
    assert not [row for row in review_rows(run_dir) if row["flag"] == RARE_SPELLING]


def test_a_run_folder_prepared_before_rare_tags_csv_lists_none(tmp_path):
    run_dir = prepare_and_cluster(tmp_path, collection(tmp_path))
    (run_dir / runfolder.RARE_TAGS).unlink()
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert not [row for row in review_rows(run_dir) if row["flag"] == RARE_SPELLING]


def test_a_rare_spelling_of_a_groups_member_is_listed_beside_the_groups_canonical_and_keeps_its_name(tmp_path):
    """`d0gs` spells `d0g` best, a member of the group `dogs` names: listed beside `dogs`, so accepting it chooses no
    other name for the group (into `d0g`, the typo would name the group from the next round on)."""
    embeddings, image_tags = planted_collection()
    typed = 0
    for tags in image_tags:
        if "d0g" in tags and typed < 2:
            tags[tags.index("d0g")] = "d0gs"
            typed += 1
    lines = ["image,tags"] + [f'img{index}.png,"{", ".join(tags)}"' for index, tags in enumerate(image_tags)]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    embedding_of = {f"img{index}.png": row for index, row in enumerate(embeddings)}
    run_dir = prepare_and_cluster(tmp_path, embedding_of)
    groups = runfolder.read_json(run_dir / runfolder.SYNONYMS_JSON)["groups"]
    assert [(group["canonical"], sorted(row["tag"] for row in group["members"])) for group in groups] == [
        ("auto", ["auto", "car"]), ("dogs", ["d0g", "dog", "dogs"])]
    rows = [row for row in review_rows(run_dir) if row["flag"] == RARE_SPELLING]
    assert [(row["canonical"], row["variant"], row["spelled"]) for row in rows] == [("dogs", "d0gs", "leetspeak")]

    decide(run_dir, {"d0gs": "accept"})
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    prepare_and_cluster(tmp_path, embedding_of, "--data.aliases", str(run_dir / runfolder.ALIASES))
    groups = runfolder.read_json(run_dir / runfolder.SYNONYMS_JSON)["groups"]
    assert [group["canonical"] for group in groups] == ["auto", "dogs"]


def test_a_rare_spelling_accepted_under_a_canonical_the_person_typed_keeps_it_on_the_next_run(tmp_path):
    """As a proposal's: one row, the person's canonical and decision, not the listed pair again undecided beside a
    row kept as not proposed."""
    embedding_of = collection(tmp_path)
    run_dir = prepare_and_cluster(tmp_path, embedding_of)
    rows = review_rows(run_dir)
    for row in rows:
        if row["variant"] == "tre3":
            row["canonical"], row["decision"] = "trees", "accept"
    write_review_file(run_dir / runfolder.REVIEW, rows, list(rows[0]))
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert [(row["canonical"], row["decision"], row["flag"]) for row in review_rows(run_dir)
            if row["variant"] == "tre3"] == [("trees", "accept", RARE_SPELLING)]

