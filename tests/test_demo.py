"""The README's demo: planted variants come out grouped, distinct concepts stay apart."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, run_script

PLANTED_GROUPS = [["r3d", "red", "rot"], ["ring", "rings"], ["sqaure", "square"]]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    result = subprocess.run(["bash", str(ROOT / "data" / "run_demo.sh"), sys.executable, str(work / "run"),
                             str(work / "data")], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "run"


def groups_found(run_dir) -> list[list[str]]:
    groups = json.loads((run_dir / "synonyms.json").read_text())["groups"]
    return sorted(sorted(member["tag"] for member in group["members"]) for group in groups)


def test_demo_groups_planted_variants_and_nothing_else(demo_run):
    # "Dark_Background" is folded into "dark background" by prepare.py before clustering.
    assert groups_found(demo_run) == PLANTED_GROUPS
    review = (demo_run / "review.csv").read_text().splitlines()
    assert sorted(tuple(line.split(",")[1:3]) for line in review[1:]) == [
        ("red", "r3d"), ("red", "rot"), ("ring", "rings"), ("square", "sqaure")]


def dbscan_groups(run_dir, eps: float = 0.3) -> list[list[str]]:
    """What DBSCAN at cluster_tags.py's defaults (cosine, eps 0.3, min_samples 2) makes of the run's tags, computed
    here from embeddings.npy and manifest.csv: each tag's mean image embedding less the mean of all images."""
    from sklearn.cluster import DBSCAN

    from tagger import runfolder

    manifest = runfolder.read_manifest(run_dir)
    embeddings = np.asarray(runfolder.read_embeddings(run_dir, manifest), np.float64)
    vocabulary = runfolder.read_vocabulary(run_dir)
    means = np.array([embeddings[[i for i, tags in enumerate(manifest.tags) if tag in tags]].mean(axis=0)
                      for tag in vocabulary]) - embeddings.mean(axis=0)
    vectors = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)  # as the step compares them
    labels = DBSCAN(eps=eps, min_samples=2, metric="cosine").fit(vectors).labels_
    return sorted(sorted(vocabulary[i] for i in np.flatnonzero(labels == label)) for label in set(labels) - {-1})


def test_demo_baseline_dbscan_runs_on_the_same_embeddings(demo_run, tmp_path):
    """The baseline method at its defaults (eps 0.3, min_samples 2) on the same embeddings.

    DBSCAN sees the mean embeddings alone, so what it groups hangs on how a from-scratch model trained on this
    machine's CPU kernels separates the demo's colours and shapes (square / sqaure at mean cosine 0.9 on one machine,
    0.3 on another; red chained into ring on some): the baseline's weakness the combined method answers (the test
    above). So its groups are checked against DBSCAN over the run's own mean embeddings, computed here; and at a
    wide eps, where it surely groups something, the same (a check that cannot pass on two empty lists)."""
    run = shutil.copytree(demo_run, tmp_path / "run")
    result = run_script("cluster_tags.py", "--paths.run_dir", run, "--cluster.method", "dbscan")
    assert result.returncode == 0, result.stderr
    assert groups_found(run) == dbscan_groups(run)
    assert "method dbscan" in (run / "synonyms.html").read_text()
    result = run_script("cluster_tags.py", "--paths.run_dir", run, "--cluster.method", "dbscan", "--cluster.eps", "0.9")
    assert result.returncode == 0, result.stderr
    assert groups_found(run) == dbscan_groups(run, eps=0.9) != []


def test_decisions_survive_a_rerun_and_rejected_pairs_are_not_proposed_again(demo_run, tmp_path):
    run = shutil.copytree(demo_run, tmp_path / "run")
    review = (run / "review.csv").read_text().splitlines()
    decided = [review[0]] + [line + ("reject" if ",red,rot," in line else "accept") for line in review[1:]]
    (run / "review.csv").write_text("\n".join(decided) + "\n")
    result = run_script("cluster_tags.py", "--paths.run_dir", run)
    assert result.returncode == 0, result.stderr
    assert ["r3d", "red"] in groups_found(run) and ["r3d", "red", "rot"] not in groups_found(run)
    rows = (run / "review.csv").read_text().splitlines()
    assert not any(",red,rot," in row for row in rows)
    assert all(row.endswith(",accept") for row in rows[1:])
    assert (run / "rejected.csv").read_text() == "tag,other_tag\nred,rot\n"
    applied = run_script("apply_review.py", "--paths.run_dir", run)
    assert applied.returncode == 0, applied.stderr
    aliases = (run / "aliases.txt").read_text().splitlines()
    assert all(line.startswith("# ") for line in aliases[:2])  # the file says how to undo a merge
    assert aliases[2:] == ["alias r3d -> red", "alias rings -> ring", "alias sqaure -> square"]
