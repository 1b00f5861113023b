"""The model carries the tags it was trained on, and thresholds are checked when read.

tag.py must never write one tag's name for another's column: not when vocabulary.csv's rows are swapped,
not when prepare.py ran again, not with an old run folder whose model predates the embedded list.
"""

import json
import shutil
import zipfile

import numpy as np
import pytest
from conftest import ROOT, last_line, legacy_model_keras, run_script

from tagger import runfolder
from tagger.cli import main

FIXTURE = ROOT / "tests" / "fixtures" / "run_v0_1"


@pytest.fixture(scope="module")
def run_copy(pipeline_run, tmp_path_factory):
    """A copy of the shared trained run, and the scores tag.py gives on the tiny dataset's first images."""
    run_dir = tmp_path_factory.mktemp("taglist") / "run"
    shutil.copytree(pipeline_run[0], run_dir)
    return run_dir


def tag_scores(run_dir, images, output):
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", images, "--tag.output", output,
                        "--tag.write_sidecars", "false", "--tag.threshold", "0")
    assert result.returncode == 0, result.stderr
    return json.loads(output.read_text(encoding="utf-8"))["images"]


def test_model_keras_carries_its_tags_and_loads_in_safe_mode(run_copy):
    import keras

    import tagger.model.layers  # noqa: F401 (registers the project's one custom layer, as the README says)

    assert runfolder.read_model_tags(run_copy / "model.keras") == runfolder.read_vocabulary(run_copy)
    model = keras.saving.load_model(run_copy / "model.keras", safe_mode=True, compile=False)
    assert model.output_shape[-1] == len(runfolder.read_vocabulary(run_copy))
    with __import__("numpy").load(run_copy / "head.npz", allow_pickle=False) as head:
        assert head["tags"].tolist() == runfolder.read_vocabulary(run_copy)


def test_tag_py_names_the_right_tags_after_vocabulary_csv_changes(run_copy, tiny_dataset, tmp_path):
    images = tiny_dataset / "images"
    run_copy = shutil.copytree(run_copy, tmp_path / "run")
    before = tag_scores(run_copy, images, tmp_path / "before.json")
    vocabulary, counts = runfolder.read_vocabulary_counts(run_copy)
    rows = list(zip(vocabulary, counts))
    rows[0], rows[1] = rows[1], rows[0]  # swapped rows
    runfolder.write_vocabulary(run_copy, rows[:-1])  # and one fewer, as a re-run of prepare.py on other data gives
    after = tag_scores(run_copy, images, tmp_path / "after.json")
    assert after == before
    assert {tag for scores in before.values() for tag in scores} == set(vocabulary)


def test_an_old_model_without_its_tag_list_is_checked_against_vocabulary_csv(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run_dir)
    legacy_model_keras(run_dir / "model.keras")
    with zipfile.ZipFile(run_dir / "model.keras") as archive:
        assert runfolder.MODEL_TAGS not in archive.namelist()  # the fixture predates the embedded list
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    rows = list(zip(vocabulary, counts))
    rows[0], rows[1] = rows[1], rows[0]
    runfolder.write_vocabulary(run_dir, rows)
    image = next((FIXTURE / "data").rglob("*.png"))
    refused = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", image, "--tag.write_sidecars", "false",
                         "--tag.output", tmp_path / "scores.json")
    assert refused.returncode == 1
    assert last_line(refused.stderr) == (
        f"tag.py: error: {run_dir / 'vocabulary.csv'} no longer lists the tags {run_dir / 'model.keras'} was trained "
        "on, in its order (prepare.py ran after train.py; this model predates models that carry their own tag "
        "list): run train.py again")
    assert not (tmp_path / "scores.json").exists()


@pytest.mark.parametrize("thresholds, message", [
    ({"default": 0.5, "tags": "NAN"}, "the threshold of tag '{tag}' is nan; it must be a number from 0 to 1"),
    ({"default": 0.5, "tags": -0.1}, "the threshold of tag '{tag}' is -0.1; it must be a number from 0 to 1"),
    ({"default": 0.5, "tags": None}, "no threshold for tag '{tag}': run train.py again, or give --tag.threshold"),
    ({"default": 0.5, "tags": "0.5"}, "the threshold of tag '{tag}' is '0.5'; it must be a number from 0 to 1"),
    ([0.5, 0.5], "expected {{\"tags\": {{tag: threshold, ...}}}}, got list '[0.5, 0.5]': run train.py again"),
])
def test_bad_thresholds_are_errors_naming_the_tag(run_copy, tiny_dataset, tmp_path, capsys, thresholds, message):
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    vocabulary = runfolder.read_vocabulary(run_dir)
    original = json.loads((run_dir / "thresholds.json").read_text(encoding="utf-8"))
    if isinstance(thresholds, dict):
        bad_value, tags = thresholds["tags"], dict(original["tags"])
        if bad_value is None:
            del tags[vocabulary[2]]
        else:
            tags[vocabulary[2]] = float(bad_value) if bad_value == "NAN" else bad_value
        thresholds = {**thresholds, "tags": tags}
    (run_dir / "thresholds.json").write_text(json.dumps(thresholds), encoding="utf-8")  # json writes NaN as NaN
    assert main("tag", ["--paths.run_dir", str(run_dir), "--tag.inputs", str(tiny_dataset / "images"),
                        "--tag.write_sidecars", "false", "--tag.output", str(tmp_path / "s.json")]) == 1
    remedy = "" if message.endswith(("again", "threshold")) else \
        ": run train.py again, or give --tag.threshold"
    assert capsys.readouterr().err == (f"tag.py: error: {run_dir / 'thresholds.json'}: "
                                       f"{message.format(tag=vocabulary[2])}{remedy}\n")
    assert not (tmp_path / "s.json").exists()


def test_thresholds_json_that_is_not_json_is_one_line(run_copy, tiny_dataset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    (run_dir / "thresholds.json").write_text('{"tags": {', encoding="utf-8")
    assert main("tag", ["--paths.run_dir", str(run_dir), "--tag.inputs", str(tiny_dataset / "images"),
                        "--tag.write_sidecars", "false", "--tag.output", str(tmp_path / "s.json")]) == 1
    assert capsys.readouterr().err == (f"tag.py: error: {run_dir / 'thresholds.json'} is not valid JSON (Expecting "
                                       "property name enclosed in double quotes: line 1 column 11 (char 10)): run "
                                       "train.py again\n")


def test_cluster_tags_leaves_out_a_head_trained_on_other_tags(run_copy, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    rows = list(zip(vocabulary, counts))
    rows[0] = ("renamed " + rows[0][0], rows[0][1])  # an alias merged since train.py ran
    runfolder.write_vocabulary(run_dir, rows)
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert ("warning: head.npz was trained on other tags than vocabulary.csv lists (prepare.py ran since train.py); "
            "comparing tags by embeddings alone") in capsys.readouterr().err


def test_a_head_whose_tags_prepare_py_only_reordered_is_read_column_by_tag(run_copy, tmp_path, capsys):
    """prepare.py run again on the same tags orders tied counts afresh: the head's columns follow their tags."""
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    kernel = runfolder.read_head_kernel(run_dir)
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    rows = list(zip(vocabulary, counts))
    rows[0], rows[1] = rows[1], rows[0]
    runfolder.write_vocabulary(run_dir, rows)
    assert np.array_equal(runfolder.read_head_kernel(run_dir), kernel[:, [1, 0, *range(2, len(vocabulary))]])
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert "head.npz" not in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]), "cannot be read"),
    (lambda path: __import__("numpy").save(path, __import__("numpy").array([{"a": 1}], dtype=object),
                                           allow_pickle=True), "Object arrays cannot be loaded"),
])
def test_a_damaged_npy_is_one_line_naming_the_file(run_copy, tmp_path, capsys, damage, message):
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    damage(run_dir / "image_ids.npy")
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"cluster_tags.py: error: {run_dir / 'image_ids.npy'} cannot be read (")
    assert message in error and error.endswith("run embed.py again\n") and error.count("\n") == 1


def test_a_plain_npy_saved_as_head_npz_is_one_line(run_copy, tmp_path, capsys):
    import numpy as np

    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    np.save(tmp_path / "kernel.npy", np.zeros((3, 3), np.float32))
    (tmp_path / "kernel.npy").replace(run_dir / "head.npz")
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 1
    assert capsys.readouterr().err == (f"cluster_tags.py: error: {run_dir / 'head.npz'} is not an .npz archive: "
                                       "run train.py again\n")


@pytest.mark.parametrize("crafted", [
    {"config.json": "[]", "metadata.json": "{}"},  # a list where Keras expects an object
    {"config.json": '{"class_name": "Functional", "config": {"layers": 5}}', "metadata.json": "{}"},
    {"metadata.json": "{}"},  # no config at all
])
def test_a_crafted_model_keras_is_one_line(run_copy, tiny_dataset, tmp_path, crafted):
    run_dir = tmp_path / "run"
    shutil.copytree(run_copy, run_dir)
    with zipfile.ZipFile(run_dir / "model.keras", "w") as archive:
        for name, text in crafted.items():
            archive.writestr(name, text)
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tiny_dataset / "images",
                        "--tag.write_sidecars", "false", "--tag.output", tmp_path / "s.json", "--tag.threshold", "0.5")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert last_line(result.stderr).startswith(f"tag.py: error: cannot load {run_dir / 'model.keras'}: it is damaged "
                                               "or did not come from train.py (")


def test_a_sidecar_for_a_250_byte_file_name_is_written(run_copy, tiny_dataset, tmp_path):
    long_name = "x" * 246 + ".png"  # its .txt is 250 bytes: the temporary name must be shortened, not fail
    shutil.copy(next((tiny_dataset / "images").glob("*.png")), tmp_path / long_name)
    result = run_script("tag.py", "--paths.run_dir", run_copy, "--tag.inputs", tmp_path / long_name,
                        "--tag.threshold", "0")
    assert result.returncode == 0, result.stderr
    sidecar = tmp_path / ("x" * 246 + ".txt")
    assert set(sidecar.read_text(encoding="utf-8").strip().split(", ")) == set(runfolder.read_vocabulary(run_copy))
    assert sorted(path.name for path in tmp_path.iterdir()) == [long_name, sidecar.name]
