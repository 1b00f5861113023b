"""A run folder written by tagger 0.1, before the package redesign, still carries through today's steps.

The run-folder files and formats are the contract between steps and between versions: a person's run folder
made by an older version must keep working with embed, cluster_tags and tag.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, legacy_model_keras, run_script

FIXTURE = ROOT / "tests" / "fixtures" / "run_v0_1"
WRITTEN_UNDER = "/tmp/fxsrc/images"  # where the fixture's images were when the run folder was made


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory):
    """The fixture copied, its model.keras rebuilt from the saved config, its manifest pointed at the images."""
    root = tmp_path_factory.mktemp("legacy")
    shutil.copytree(FIXTURE / "data", root / "data")
    shutil.copytree(FIXTURE / "run", root / "run")
    legacy_model_keras(root / "run" / "model.keras")
    manifest = root / "run" / "manifest.csv"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(WRITTEN_UNDER, str(root / "data")),
                        encoding="utf-8")
    return root


def test_legacy_run_carries_through_embed_cluster_and_tag(legacy_run):
    run_dir = legacy_run / "run"
    old_synonyms = json.loads((FIXTURE / "run" / "synonyms.json").read_text(encoding="utf-8"))

    embedded = run_script("embed.py", "--paths.run_dir", run_dir)
    assert embedded.returncode == 0, embedded.stderr
    embeddings = np.load(run_dir / "embeddings.npy", allow_pickle=False)
    # The manifest now names other paths, so the feature cache is not reused: the old-format model.keras ran
    # (its weights are made anew, so the old embeddings.npy is not the reference; the shape and order are).
    assert embeddings.shape == np.load(FIXTURE / "run" / "embeddings.npy").shape
    ids = np.load(run_dir / "image_ids.npy", allow_pickle=False).tolist()
    assert ids == pd.read_csv(run_dir / "manifest.csv", dtype=str)["image_id"].tolist()

    clustered = run_script("cluster_tags.py", "--paths.run_dir", run_dir)
    assert clustered.returncode == 0, clustered.stderr
    synonyms = json.loads((run_dir / "synonyms.json").read_text(encoding="utf-8"))
    groups = {group["canonical"]: {member["tag"] for member in group["members"]} for group in synonyms["groups"]}
    # Fresh random weights propose other groups than the old run did; the format and the tags are the same.
    tags = set(pd.read_csv(run_dir / "vocabulary.csv", dtype=str)["tag"])
    assert all(canonical in members and members <= tags for canonical, members in groups.items())
    assert set(old_synonyms) <= set(synonyms)
    review = pd.read_csv(run_dir / "review.csv", dtype=str, keep_default_na=False)
    assert {"canonical", "variant", "decision"} <= set(review.columns)

    scores = legacy_run / "scores.json"
    tagged = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", legacy_run / "data" / "images",
                        "--tag.output", scores, "--tag.write_sidecars", "false")
    assert tagged.returncode == 0, tagged.stderr
    tagged_images = json.loads(scores.read_text(encoding="utf-8"))["images"]
    assert len(tagged_images) == 48
    vocabulary = set(pd.read_csv(run_dir / "vocabulary.csv", dtype=str)["tag"])
    assert all(set(tags) <= vocabulary for tags in tagged_images.values())
    assert sum(len(tags) for tags in tagged_images.values()) > 0


def test_readme_line_loads_an_old_model_keras_in_a_fresh_process(tmp_path):
    """README: `import keras, tagger.model.layers; keras.saving.load_model(path)`, safe mode on (the default)."""
    old_model = tmp_path / "model.keras"
    legacy_model_keras(old_model)
    code = ("import keras, tagger.model.layers; "
            f"print(keras.saving.load_model({str(old_model)!r}).output_shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(None, 12)"
