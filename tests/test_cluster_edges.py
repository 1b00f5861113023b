"""cluster_tags.py at the edges: one image carrying 5,000 tags, and a vocabulary of one tag."""

import csv

import numpy as np
from test_review_loop import planted_collection

from tagger import runfolder
from tagger.cli import main


def run_folder(tmp_path, image_tags: list[list[str]], embeddings: np.ndarray):
    with (tmp_path / "tags.csv").open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([("image", "tags"), *((f"img{i}.png", ", ".join(tags))
                                                         for i, tags in enumerate(image_tags))])
    run_dir = tmp_path / "run"
    assert main("prepare", ["--paths.run_dir", str(run_dir), "--data.source", str(tmp_path / "tags.csv"),
                            "--data.check_images", "false", "--data.min_tag_occurrences", "1"]) == 0
    manifest = runfolder.read_manifest(run_dir)
    order = [int(image_id[3:-4]) for image_id in manifest.image_ids]
    np.save(run_dir / runfolder.EMBEDDINGS, embeddings[order])
    runfolder.write_image_ids(run_dir, manifest.image_ids)
    return run_dir


def test_5000_tags_on_one_image_propose_no_merges_among_them(tmp_path, capsys):
    embeddings, image_tags = planted_collection()
    crowd = [f"label{index:04d}" for index in range(5000)]  # spellings one edit apart, all on one image
    image_tags[0] = image_tags[0] + crowd
    run_dir = run_folder(tmp_path, image_tags, embeddings)
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    review = runfolder.read_csv(run_dir / "review.csv")
    proposed = set(review["variant"]) | set(review["canonical"])
    assert len(proposed & set(crowd)) <= 1  # at most their one representative, never merges among them
    assert {("dog", "dogs"), ("d0g", "dogs"), ("car", "auto")} <= set(zip(review["variant"], review["canonical"]))


def test_a_vocabulary_of_one_tag_proposes_nothing(tmp_path, capsys):
    embeddings = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    run_dir = run_folder(tmp_path, [["cat"]] * 20, embeddings)
    for method in ("combined", "dbscan"):
        assert main("cluster_tags", ["--paths.run_dir", str(run_dir), "--cluster.method", method]) == 0
        assert "no variant groups found" in capsys.readouterr().out
        assert (run_dir / "review.csv").read_text(encoding="utf-8").count("\n") == 1  # the header alone
