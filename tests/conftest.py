"""Shared helpers: tiny real image sets and running the real scripts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data"))


# The files that take longest, slowest first. With one worker per core and a file per worker (pytest-xdist,
# --dist loadfile without reordering, as pyproject.toml sets it), the demo's training then runs beside the
# rest of the suite instead of alone at its end.
SLOWEST_FILES = ("test_demo.py", "test_tagging.py", "test_resume.py", "test_embed_resume.py", "test_hardware.py",
                 "test_quiet.py", "test_inference.py", "test_kill.py")


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def run_script(script: str, *flags, cwd: Path = ROOT, env: dict | None = None, timeout: int = 600):
    """Runs one of the pipeline's scripts as a user would; returns the CompletedProcess."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, flags)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def run_tagger(*arguments, env: dict | None = None, timeout: int = 600):
    """The `tagger` console command (tagger.cli:console, installed by pip) as a user would run it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-c", "import sys; from tagger.cli import console; sys.exit(console())"]
    return subprocess.run([*command, *map(str, arguments)], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "absl::InitializeLog" not in line
             and "oneDNN custom operations" not in line]
    return lines[-1] if lines else ""


LEGACY_FIXTURE = ROOT / "tests" / "fixtures" / "run_v0_1"


def legacy_model_keras(target) -> None:
    """model.keras as tagger 0.1 wrote it: its config.json and metadata.json as saved then (they hold the old
    module names), with weights made anew from that config (9 MB of random weights stay out of git)."""
    import zipfile

    import keras

    import tagger.model.layers  # noqa: F401  (registers PixelScaling, which the old config names)

    config = (LEGACY_FIXTURE / "model_keras" / "config.json").read_text()
    model = keras.saving.deserialize_keras_object(json.loads(config))
    keras.utils.set_random_seed(0)
    weights = target.parent / "model.weights.h5"
    model.save_weights(weights)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("metadata.json", (LEGACY_FIXTURE / "model_keras" / "metadata.json").read_text())
        archive.writestr("config.json", config)
        archive.write(weights, "model.weights.h5")
    weights.unlink()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """60 real PNGs (32 px) with tags decided by their content, from the demo generator."""
    from make_demo import make_demo

    folder = tmp_path_factory.mktemp("tiny")
    make_demo(folder, images=60, size=32, seed=1)
    return folder


@pytest.fixture(scope="session")
def tiny_prepared(tiny_dataset, tmp_path_factory) -> Path:
    """tiny_dataset through prepare.py (min count 3); tests copy it before writing into it."""
    run_dir = tmp_path_factory.mktemp("prepared")
    result = run_script("prepare.py", "--paths.run_dir", run_dir, "--data.source", tiny_dataset / "tags.csv",
                        "--data.min_tag_occurrences", "3")
    assert result.returncode == 0, result.stderr
    return run_dir


# --- hooks in the scripts' own processes (tests/child_hooks/sitecustomize.py) --------------------

CHILD_HOOKS = ROOT / "tests" / "child_hooks"
PIPELINE_TRAIN_FLAGS = ["--model.backbone", "efficientnetv2-b0", "--model.weights", "none", "--model.image_size", "32",
                        "--train.head.epochs", "1", "--train.finetune.batch_size", "16"]


def child_hooks(**variables) -> dict:
    """Environment for run_script that loads tests/child_hooks/sitecustomize.py into the script's process, with
    its TEST_ variables: child_hooks(kill_at="before:3", rename_log=path, network_log=path)."""
    python_path = os.pathsep.join(filter(None, [str(CHILD_HOOKS), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": python_path, **{f"TEST_{name.upper()}": str(value) for name, value in variables.items()}}


def network_events(log: Path) -> list[list]:
    """The network audit events a script logged (tests/child_hooks), in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="session")
def pipeline_run(tiny_dataset, tmp_path_factory):
    """prepare → train → embed → cluster_tags on tiny_dataset, every step's network use logged and refused.

    Returns (run folder, {script: its network log}). Random EfficientNetV2-B0, not MobileNetV2: its features
    keep the images apart, so each image gets its own tags. Copy the folder before changing anything in it.
    """
    run_dir = tmp_path_factory.mktemp("pipeline") / "run"
    logs = {}
    for script, flags in [("prepare.py", ["--data.source", tiny_dataset / "tags.csv", "--data.min_tag_occurrences", "3"]),
                          ("train.py", PIPELINE_TRAIN_FLAGS), ("embed.py", []), ("cluster_tags.py", [])]:
        logs[script] = run_dir.parent / f"network.{script}.jsonl"
        # --quiet: the steps' logs still hold every line, and tests/test_quiet.py reads what reached the console.
        result = run_script(script, "--paths.run_dir", run_dir, "--quiet", *flags,
                            env=child_hooks(network_log=logs[script]))
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
        PIPELINE_CONSOLE[script] = result
    return run_dir, logs


PIPELINE_CONSOLE = {}  # script -> the CompletedProcess of pipeline_run's step (run with --quiet)
