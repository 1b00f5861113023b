"""--quiet through every real script: stdout keeps only the answers a command was asked for (README, Logs)."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import PIPELINE_CONSOLE, ROOT, child_hooks, run_script

ONNX_SKIPPED = ("warning: ONNX export skipped: tf2onnx and onnxruntime are not installed "
                "(pip install tf2onnx onnxruntime, or pip install -e '.[export]')")
QUIET_RUNS = {}  # script -> its CompletedProcess under --quiet, in pipeline order


@pytest.fixture(scope="module")
def quiet_run(pipeline_run, tmp_path_factory):
    """The whole pipeline, each step with --quiet: the shared run's four steps ran so; apply_review and export
    run here on a copy of it, export without the ONNX tools (its whole run under --quiet, ONNX included, is
    tests/test_tagging.py's exported)."""
    run_dir = shutil.copytree(pipeline_run[0], tmp_path_factory.mktemp("quiet") / "run")
    QUIET_RUNS.update(PIPELINE_CONSOLE)
    for script, env in (("apply_review.py", None), ("export.py", child_hooks(missing_packages="tf2onnx"))):
        result = run_script(script, "--paths.run_dir", run_dir, "--quiet", env=env)
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
        QUIET_RUNS[script] = result
    return run_dir


@pytest.mark.parametrize("script", ["prepare.py", "train.py", "embed.py", "cluster_tags.py", "apply_review.py",
                                    "export.py"])
def test_steps_whose_products_are_files_print_nothing_under_quiet_and_still_log_everything(quiet_run, script):
    result = QUIET_RUNS[script]
    assert result.stdout == ""
    # Only warnings reach the console; this tiny run has none to give but the missing ONNX tools'.
    warnings = [ONNX_SKIPPED] if script == "export.py" else []
    assert [line for line in result.stderr.splitlines() if line.strip()] == warnings
    step = script.removesuffix(".py")
    log = (quiet_run / "logs" / f"{step}.log").read_text(encoding="utf-8")
    assert re.search(r" INFO    tagger\.\S+: (wrote|\d+ accepted merges|SavedModel: largest difference)", log), log


def test_cluster_tags_logs_its_groups_and_next_step_to_the_file_not_the_console(quiet_run):
    log = (quiet_run / "logs" / "cluster_tags.log").read_text(encoding="utf-8")
    # The shared run's log, copied: it names the folder cluster_tags.py ran in.
    assert re.search(r"wrote \S+/run/synonyms\.html, synonyms\.json, synonyms\.csv and review\.csv", log), log
    assert re.search(r"next: decide in the browser with review\.py --paths\.run_dir \S+/run \(its Apply writes the "
                     r"aliases\), or fill the decision column of \S+/run/review\.csv", log), log
    assert "no variant groups found" in log or " <- " in log  # the groups, one line each


def test_similar_prints_only_its_ranked_rows_under_quiet(quiet_run):
    query = str(np.load(quiet_run / "image_ids.npy")[0])
    flags = ["--paths.run_dir", quiet_run, "--similar.query", query, "--similar.k", "3"]
    normal, quiet = run_script("similar.py", *flags), run_script("similar.py", *flags, "--quiet")
    assert normal.returncode == quiet.returncode == 0, normal.stderr + quiet.stderr
    heading, *rows = normal.stdout.splitlines()
    assert heading == f"3 images most similar to {query}:" and len(rows) == 3
    assert rows[0].split()[:3] == ["1", "1.0000", query]
    assert quiet.stdout.splitlines() == rows and quiet.stderr == ""


def test_tag_prints_the_tag_lists_asked_for_under_quiet_and_nothing_else(quiet_run, tiny_dataset, tmp_path):
    images = sorted((tiny_dataset / "images").iterdir())[:3]
    scores_file = tmp_path / "scores.json"
    flags = ["--paths.run_dir", quiet_run, "--tag.write_sidecars", "false", "--tag.output", scores_file, *images]
    asked = run_script("tag.py", *flags, "--quiet", "--tag.print")
    assert asked.returncode == 0, asked.stderr
    scores = json.loads(scores_file.read_text(encoding="utf-8"))["images"]
    assert asked.stdout.splitlines() == [
        f"{image}: " + (", ".join(f"{tag} {score:.2f}" for tag, score in scores[str(image)].items()) or "(no tag)")
        for image in images]
    # Shown by default for a handful of images, the lists are news of the run: --quiet leaves them out.
    default = run_script("tag.py", *flags, "--quiet")
    assert default.returncode == 0 and default.stdout == "", default.stdout + default.stderr


def test_export_without_the_onnx_tools_warns_under_quiet(quiet_run):
    result = QUIET_RUNS["export.py"]
    assert result.stdout == "" and result.stderr == ONNX_SKIPPED + "\n"
    assert (quiet_run / "export" / "saved_model").is_dir() and not (quiet_run / "export" / "model.onnx").exists()


def test_no_module_of_the_package_prints_past_logging():
    # print() bypasses --quiet and the log file; the command line's usage errors and the settings-table tool
    # print before (or instead of) a step's logging.
    allowed = {"tagger/cli.py", "tagger/settings_table.py"}
    printing = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tagger").rglob("*.py")
                      if re.search(r"(?<![\w.])print\(", path.read_text(encoding="utf-8"))
                      and str(path.relative_to(ROOT)) not in allowed)
    assert printing == []


def test_a_reader_that_stops_reading_stops_only_the_console(quiet_run):
    """`similar.py ... | head -1`: the pipe closes before the step's lines are written. Each line used to print a
    logging traceback (BrokenPipeError) on stderr."""
    query = str(np.load(quiet_run / "image_ids.npy")[0])
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        result = subprocess.run([sys.executable, str(ROOT / "similar.py"), "--paths.run_dir", str(quiet_run),
                                 "--similar.query", query, "--similar.k", "3"], cwd=ROOT, stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")
    log = (quiet_run / "logs" / "similar.log").read_text(encoding="utf-8")
    assert f"3 images most similar to {query}:" in log  # the file still has what the console lost
