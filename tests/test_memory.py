"""Memory bounded by design: tag.py with the largest keras.applications backbone stays within a bound.

Peak resident memory of the tag.py process itself, read by a parent made for it alone (resource's RUSAGE_CHILDREN
of a fresh process counts only its own children), over more images than one batch.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

SIZE = 32
IMAGES = 40  # more than one batch of --tag.batch_size 16
# EfficientNetV2-L's weights are 0.47 GB in float32; TensorFlow, the model loaded and its compiled function and
# the engine's copy come to about 2 GB here. Calling the model eagerly per batch grew to 23 GB at 384 px.
PEAK_LIMIT_GB = 3.0


@pytest.fixture(scope="module")
def largest_model_run(tmp_path_factory):
    """A run folder with an untrained efficientnetv2-l tagger at 32 px (train.py's files, written directly)."""
    import keras

    from tagger.model.network import build_tagger
    from tagger.settings import ModelSettings, Settings

    run_dir = tmp_path_factory.mktemp("largest")
    vocabulary = ["red", "green", "blue"]
    model_settings = ModelSettings(backbone="efficientnetv2-l", image_size=SIZE, weights="none")
    keras.utils.set_random_seed(0)
    build_tagger(model_settings, len(vocabulary)).save(run_dir / "model.keras")
    (run_dir / "vocabulary.csv").write_text("tag,count\n" + "".join(f"{tag},5\n" for tag in vocabulary))
    (run_dir / "thresholds.json").write_text(json.dumps({"default": 0.5, "tags": {tag: 0.5 for tag in vocabulary}}))
    settings = Settings(model=model_settings)
    (run_dir / "settings.train.json").write_text(json.dumps(settings.model_dump(mode="json")))
    images = run_dir.parent / "images"
    images.mkdir()
    random = np.random.default_rng(0)
    for index in range(IMAGES):
        Image.fromarray(random.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(images / f"{index:02d}.png")
    return run_dir, images


def test_tag_py_peak_memory_stays_within_the_bound_with_the_largest_backbone(largest_model_run):
    run_dir, images = largest_model_run
    command = [sys.executable, str(ROOT / "tag.py"), "--paths.run_dir", str(run_dir), "--tag.inputs", str(images),
               "--tag.write_sidecars", "false", "--tag.output", str(run_dir.parent / "scores.json"),
               "--tag.batch_size", "16"]
    measure = ("import resource, subprocess, sys; result = subprocess.run(sys.argv[1:]); "
               "print(result.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", measure, *command], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    returncode, peak_kb = map(int, result.stdout.split()[-2:])
    assert returncode == 0, result.stderr
    scores = json.loads((run_dir.parent / "scores.json").read_text())["images"]
    assert len(scores) == IMAGES
    assert peak_kb / 2**20 < PEAK_LIMIT_GB, f"tag.py peaked at {peak_kb / 2**20:.2f} GB"
