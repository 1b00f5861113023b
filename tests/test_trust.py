"""What a run may touch and load: no network but the ImageNet weights download, no pickle, no code from a model file.

Network use is seen from inside the scripts' processes by a Python audit hook (tests/child_hooks), which logs
every socket connect, name lookup and urllib request, and refuses it as an unreachable network would, so the
tests behave the same on a machine with a network. Native code that opens sockets without Python (none of
our dependencies does on these paths) would not be seen.
"""

import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import child_hooks, last_line, network_events, run_script

# urllib3 binds a socket to the IPv6 loopback at import, to learn whether IPv6 works; nothing is sent.
IPV6_SUPPORT_PROBE = ["socket.bind", "('::1', 0)"]
PICKLE_PROTOCOL_MARKS = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}  # protocol 2+ pickles start so


def traffic(events: list[list]) -> list[list]:
    return [event for event in events if event != IPV6_SUPPORT_PROBE]


def test_the_pipeline_and_tag_py_use_no_network(pipeline_run, tiny_dataset, tmp_path):
    run_dir, logs = pipeline_run
    logs = {**logs, "tag.py": tmp_path / "network.tag.py.jsonl"}
    tagged = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tiny_dataset / "images" / "0000.png",
                        "--tag.output", tmp_path / "scores.json", "--tag.write_sidecars", "false",
                        env=child_hooks(network_log=logs["tag.py"]))
    assert tagged.returncode == 0, tagged.stderr

    assert {script: traffic(network_events(log)) for script, log in logs.items()} == {
        "prepare.py": [], "train.py": [], "embed.py": [], "cluster_tags.py": [], "tag.py": []}


def test_imagenet_weights_download_is_the_only_network_use(pipeline_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ["manifest.csv", "vocabulary.csv"]:
        shutil.copyfile(pipeline_run[0] / name, run_dir / name)
    log = tmp_path / "network.jsonl"
    # An empty Keras cache, so the weights must be downloaded.
    environment = {**child_hooks(network_log=log), "KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path)}

    result = run_script("train.py", "--paths.run_dir", run_dir, "--model.backbone", "mobilenetv2",
                        "--model.image_size", "32", env=environment)

    events = traffic(network_events(log))
    requested = [event[1] for event in events if event[0] == "urllib.Request"]
    assert len(requested) == 1, events
    assert requested[0].startswith("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/")
    assert requested[0].endswith("_no_top.h5")
    # Every other event is the connection for that URL: http.client.connect (Python 3.11+), socket lookups.
    assert {tuple(event[1:3]) for event in events if event[0] != "urllib.Request"} == {("storage.googleapis.com", 443)}
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith(f"train.py: error: could not get the ImageNet weights for mobilenetv2 (Exception: "
                           f"URL fetch failure on {requested[0]}: ")
    assert line.endswith("; without a network, use --model.weights none or --model.weights "
                         "/path/to/backbone.weights.h5")
    assert "Traceback" not in result.stderr
    assert not (run_dir / "model.keras").exists()


def test_no_file_of_a_run_is_a_pickle(pipeline_run):
    run_dir = pipeline_run[0]
    files = sorted(path for path in run_dir.rglob("*") if path.is_file())
    assert [path.name for path in files if path.suffix in {".pkl", ".pickle", ".joblib"}] == []
    assert [path.name for path in files if path.read_bytes()[:2] in PICKLE_PROTOCOL_MARKS] == []
    arrays = [path for path in files if path.suffix == ".npy"]
    assert {"embeddings.npy", "image_ids.npy"} <= {path.name for path in arrays}
    for path in arrays:
        np.load(path, allow_pickle=False)  # an object array (pickled) raises here
    archives = [path for path in files if path.suffix == ".npz"]
    assert "head.npz" in {path.name for path in archives}
    for path in archives:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                archive[name]
    with zipfile.ZipFile(run_dir / "model.keras") as model:
        members = {name: model.read(name) for name in model.namelist()}
    assert sorted(members) == ["config.json", "metadata.json", "model.weights.h5", "tagger_tags.json"]
    assert json.loads(members["tagger_tags.json"]) == pd.read_csv(run_dir / "vocabulary.csv", dtype=str,
                                                                  keep_default_na=False)["tag"].tolist()
    assert [name for name, data in members.items() if data[:2] in PICKLE_PROTOCOL_MARKS] == []
    assert '"class_name": "Lambda"' not in members["config.json"].decode()


@pytest.fixture
def run_with_code_in_its_model(tmp_path):
    """A run folder whose model.keras holds a Lambda layer: Python code that writes code_ran when it runs."""
    import keras

    marker = tmp_path / "code_ran"
    marker_name = str(marker)
    pixels = keras.Input((32, 32, 3), name="pixels")
    touched = keras.layers.Lambda(lambda x: (open(marker_name, "w").close(), x)[1], output_shape=(32, 32, 3))(pixels)
    pooled = keras.layers.GlobalAveragePooling2D(name="embedding")(touched)
    tags = keras.layers.Dense(2, activation="sigmoid", name="tags")(pooled)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keras.Model(pixels, tags).save(run_dir / "model.keras")
    marker.unlink(missing_ok=True)  # saving traced the layer
    (run_dir / "vocabulary.csv").write_text("tag,count\ncat,3\ndog,3\n")
    (run_dir / "thresholds.json").write_text('{"default": 0.5, "tags": {"cat": 0.5, "dog": 0.5}}')  # swapped into a run
    return run_dir, marker


def test_a_model_file_holding_code_is_refused_without_running_it(run_with_code_in_its_model, tiny_dataset):
    import keras

    run_dir, marker = run_with_code_in_its_model

    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tiny_dataset / "images" / "0000.png")

    assert result.returncode == 1
    assert last_line(result.stderr) == (
        f"tag.py: error: cannot load {run_dir / 'model.keras'}: it holds Python code (a Lambda layer), which is never "
        "run; train.py's models hold none, so this file did not come from train.py")
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    # The control: the same file loaded outside safe mode does run its code.
    keras.saving.load_model(run_dir / "model.keras", safe_mode=False).predict(np.zeros((1, 32, 32, 3)), verbose=0)
    assert marker.exists()
