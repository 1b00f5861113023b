"""The README's demo: planted variants come out grouped, distinct concepts stay apart."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_script

PLANTED_GROUPS = [["r3d", "red", "rot"], ["ring", "rings"], ["sqaure", "square"]]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    result = subprocess.run(["bash", str(ROOT / "data" / "run_demo.sh"), sys.executable, str(work / "run"),
                             str(work / "data")], capture_output=True, text=True, timeout=900)
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


def test_demo_baseline_dbscan_finds_the_same_groups(demo_run, tmp_path):
    """The baseline method at its defaults (eps 0.3, min_samples 2) on the same embeddings."""
    run = shutil.copytree(demo_run, tmp_path / "run")
    result = run_script("cluster_tags.py", "--paths.run_dir", run, "--cluster.method", "dbscan")
    assert result.returncode == 0, result.stderr
    assert groups_found(run) == PLANTED_GROUPS
