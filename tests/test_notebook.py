"""The Colab notebook, run top to bottom in a kernel of this Python on the demo data, shrunk by environment variables."""

import json
import shutil
import sys

import nbclient
import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "colab_t4.ipynb"

# What a test machine can run in seconds; the notebook's T4 values stay for every setting not named here.
TINY_SETTINGS = {
    "MODEL__BACKBONE": "mobilenetv2",
    "MODEL__IMAGE_SIZE": "32",
    "MODEL__WEIGHTS": "none",
    "TRAIN__FINETUNE__BATCH_SIZE": "16",
    "TRAIN__HEAD__EPOCHS": "1",
    "TRAIN__FINETUNE__UNFREEZE_LAYERS": "2",
    "TRAIN__FINETUNE__EPOCHS": "1",
    "DATA__MIN_TAG_OCCURRENCES": "3",  # not among the notebook's settings: reaches the steps as a variable
}


def cell_text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from make_demo import make_demo

    work = tmp_path_factory.mktemp("notebook")
    make_demo(work / "data", images=60, size=32, seed=1)
    # A kernel spec of its own names this very Python, so no other "python3" kernel on the machine is picked up.
    kernel_dir = work / "jupyter" / "kernels" / "tagger-test"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tagger test", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(work / "jupyter"))
        patch.setenv("IPYTHONDIR", str(work / "ipython"))
        patch.setenv("TAGGER_DATA__SOURCE", str(work / "data" / "tags.csv"))
        patch.setenv("TAGGER_PATHS__RUN_DIR", str(work / "run"))
        for name, value in TINY_SETTINGS.items():
            patch.setenv(f"TAGGER_{name}", value)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(notebook, kernel_name="tagger-test", timeout=300,
                                         resources={"metadata": {"path": str(ROOT / "notebooks")}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    return notebook, work / "run"


def outputs_by_cell(notebook) -> dict[str, str]:
    return {cell.id: cell_text(cell) for cell in notebook.cells if cell.cell_type == "code"}


def test_every_cell_ran_without_error_in_this_python(executed):
    notebook, _ = executed
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells)
    assert not [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    printed = outputs_by_cell(notebook)
    assert f"python: {sys.executable}\n" in printed["checkout"]
    assert f"skipped clone: already in a checkout ({ROOT})" in printed["checkout"]
    assert "skipped install: tagger is installed from this checkout" in printed["checkout"]
    assert printed["drive"] == "skipped: not on Colab, no Drive to mount\n"
    if shutil.which("nvidia-smi") is None:
        assert printed["gpu"].startswith("skipped: no GPU")


def test_environment_shrinks_the_run_and_the_t4_values_fill_the_rest(executed):
    notebook, run_dir = executed
    assert "model.backbone = mobilenetv2" in outputs_by_cell(notebook)["settings"]
    recorded = json.loads((run_dir / "settings.train.json").read_text())
    assert recorded["model"] == {"backbone": "mobilenetv2", "image_size": 32, "weights": "none", "dropout": 0.3,
                                 "tag_layer": "dense"}
    assert recorded["train"]["finetune"]["unfreeze_layers"] == 2 and recorded["data"]["min_tag_occurrences"] == 3
    assert json.loads((run_dir / "settings.embed.json").read_text())["embed"]["batch_size"] == 64  # T4 value


def test_the_four_steps_left_a_complete_run_folder(executed):
    from tagger.model.network import load_tagger

    notebook, run_dir = executed
    manifest = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)
    vocabulary = pd.read_csv(run_dir / "vocabulary.csv", keep_default_na=False)
    assert len(manifest) == 60
    embeddings = np.load(run_dir / "embeddings.npy", allow_pickle=False)
    assert embeddings.dtype == np.float32 and embeddings.shape == (60, 1280)
    assert json.loads((run_dir / "training.json").read_text())["backbone_finetuned"] is True
    model = load_tagger(run_dir / "model.keras")
    assert model.output_shape == (None, len(vocabulary))
    for name in ("report.html", "synonyms.html", "synonyms.csv", "review.csv"):
        assert (run_dir / name).stat().st_size > 0, name
    groups = json.loads((run_dir / "synonyms.json").read_text())["groups"]
    report = outputs_by_cell(notebook)["report"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report.startswith(f"validation mAP {metrics['mAP']:.3f}, ")
    assert f"{len(groups)} variant group(s) proposed:" in report
    assert f"synonyms.html: {run_dir.resolve() / 'synonyms.html'}" in report
    assert f"report.html: {run_dir.resolve() / 'report.html'}" in report
