"""embed.py in pieces: killed at a seeded point it resumes to the same bytes; shards merge to the same bytes."""

import hashlib
import shutil
import signal

import pytest
from conftest import child_hooks, last_line, run_script

# --train.unfreeze_layers and --train.finetune_epochs: the flags' old names, still read.
TRAIN_FLAGS = ["--model.backbone", "mobilenetv2", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "1", "--train.finetune.batch_size", "16", "--train.unfreeze_layers", "5",
               "--train.finetune_epochs", "1"]
# 60 images: pieces of 16, 16, 16, 12. float32, as the stage-1 cache was computed: bfloat16 (auto on CPUs with its
# units) would differ by itself from the model's own float32 outputs.
PIECES = ["--embed.chunk_size", "16", "--embed.batch_size", "8", "--embed.precision", "float32"]

def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finetuned_run(tiny_prepared, tmp_path_factory):
    """A run whose backbone was fine-tuned, so embed.py runs the network (no feature cache to copy)."""
    run_dir = tmp_path_factory.mktemp("finetuned") / "run"
    shutil.copytree(tiny_prepared, run_dir)
    result = run_script("train.py", "--paths.run_dir", run_dir, *TRAIN_FLAGS)
    assert result.returncode == 0, f"train.py failed:\n{result.stdout}\n{result.stderr}"
    return run_dir


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    """Where reference keeps the files of its embed.py run."""
    return tmp_path_factory.mktemp("reference")


@pytest.fixture(scope="module")
def reference(finetuned_run, reference_files):
    """Digests of an uninterrupted embed.py run; its files are moved to reference_files."""
    result = run_script("embed.py", "--paths.run_dir", finetuned_run, *PIECES)
    assert result.returncode == 0, result.stderr
    assert "embedding 60 images" in result.stdout
    assert not (finetuned_run / "embedding_pieces").exists(), "pieces are removed once joined"
    hashes = {name: digest(finetuned_run / name) for name in ("embeddings.npy", "image_ids.npy")}
    for name in hashes:
        shutil.move(finetuned_run / name, reference_files / name)
    return hashes


def test_the_finetuned_model_is_re_embedded(finetuned_run, reference, reference_files):
    import json

    import numpy as np

    from tagger import runfolder
    from tagger.images import load_image
    from tagger.model.network import embedding_model, load_tagger

    assert "stage 2: fine-tuning the last 5 backbone layers" in (finetuned_run / "logs" / "train.log").read_text()
    assert json.loads((finetuned_run / "training.json").read_text())["backbone_finetuned"] is True
    # The rows are the trained model's: its embedding part run here on the same images. (Not "unlike the stage-1
    # cache": stage 2 keeps stage 1's weights when no epoch beats them, which on 60 images of an untrained backbone
    # hangs on round-off.) Relative to their scale: an untrained backbone's embeddings are about 1e-12.
    paths = runfolder.read_manifest(finetuned_run).paths
    expected = embedding_model(load_tagger(finetuned_run / "model.keras")).predict(
        np.stack([load_image(path, 32) for path in paths]), verbose=0)
    embeddings = np.load(reference_files / "embeddings.npy")
    assert np.abs(embeddings - expected).max() <= 1e-4 * np.abs(expected).max()


def copy_run(source, target):
    """The run's files, and its engine cache where OpenVINO made one (the kill points count renames: the
    cache's first conversion would be one more)."""
    target.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    if (source / "engine_cache").is_dir():
        shutil.copytree(source / "engine_cache", target / "engine_cache")
    return target


@pytest.mark.parametrize("kill_after", [1, 3])
def test_embed_killed_after_a_piece_resumes_to_identical_files(finetuned_run, reference, tmp_path, kill_after):
    run_dir = copy_run(finetuned_run, tmp_path / "run")
    # SIGKILL right after the n-th piece is renamed into place (tests/child_hooks): an exact, repeatable point.
    killed = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES, env=child_hooks(kill_at=f"after:{kill_after}"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run_dir / "embeddings.npy").exists(), "no output may look complete after a kill"
    pieces = sorted(path.name for path in (run_dir / "embedding_pieces").glob("*/*"))
    assert pieces == [f"piece-{index:06d}.npy" for index in range(kill_after)]  # no temporary file left looking whole

    resumed = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {16 * kill_after} of 60 images already done" in resumed.stdout
    assert {name: digest(run_dir / name) for name in reference} == reference


def test_shards_merge_to_the_bytes_of_one_run(finetuned_run, reference, tmp_path):
    run_dir = copy_run(finetuned_run, tmp_path / "run")
    shard = ["--paths.run_dir", run_dir, *PIECES, "--embed.num_shards", "3"]
    outputs = []
    for index in (2, 0):  # any order; shard 1 comes after the refused merge
        result = run_script("embed.py", *shard, "--embed.shard_index", index)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "shard 3 of 3: embedding 28 of 60 images" in outputs[0]  # pieces 2 and 3 (16 + 12 images)
    assert "shard 1 of 3: embedding 16 of 60 images" in outputs[1]
    assert not (run_dir / "embeddings.npy").exists()

    early = run_script("embed.py", *shard, "--embed.merge_only", "true")
    assert early.returncode == 1
    assert last_line(early.stderr) == ("embed.py: error: cannot merge: 1 of 4 pieces are missing, from shard(s) 1 "
                                       "of 3 (--embed.shard_index); run those, then merge again")
    assert run_script("embed.py", *shard, "--embed.shard_index", 1).returncode == 0
    merged = run_script("embed.py", *shard, "--embed.merge_only", "true")
    assert merged.returncode == 0, merged.stderr
    assert {name: digest(run_dir / name) for name in reference} == reference
    assert not (run_dir / "embedding_pieces").exists()


def test_pieces_made_with_other_settings_are_never_mixed_in(finetuned_run, reference, tmp_path):
    run_dir = copy_run(finetuned_run, tmp_path / "run")
    other = run_script("embed.py", "--paths.run_dir", run_dir, "--embed.chunk_size", "16", "--embed.batch_size", "4",
                       "--embed.num_shards", "2", "--embed.shard_index", "0")
    assert other.returncode == 0, other.stderr
    refused = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES, "--embed.num_shards", "2",
                         "--embed.merge_only", "true")
    assert refused.returncode == 1
    assert "holds pieces made with other settings" in last_line(refused.stderr)
    whole = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert whole.returncode == 0 and "resuming" not in whole.stdout
    assert {name: digest(run_dir / name) for name in reference} == reference


def test_a_living_collection_computes_only_new_and_changed_images(finetuned_run, reference, tmp_path):
    """Rows are keyed by each image's content: added images are the only ones computed, a replaced file is
    computed again, a touched but unchanged one is not, and every reused row keeps its bytes."""
    import os

    import numpy as np
    import pandas as pd

    run_dir = copy_run(finetuned_run, tmp_path / "run")
    manifest = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)
    images = tmp_path / "images"  # copies: this test changes files, and the dataset is shared by other tests
    images.mkdir()
    copies = [images / f"{index:03d}{os.path.splitext(path)[1]}" for index, path in enumerate(manifest["path"])]
    for path, copy in zip(manifest["path"], copies):
        copy.write_bytes(open(path, "rb").read())
    manifest["path"] = [str(copy) for copy in copies]
    manifest.iloc[:50].to_csv(run_dir / "manifest.csv", index=False)  # the collection before 10 images were added
    first = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert first.returncode == 0, first.stderr
    assert "embedding 50 images with" in first.stdout
    before = np.load(run_dir / "embeddings.npy")

    manifest.to_csv(run_dir / "manifest.csv", index=False)  # 10 images added
    paths = manifest["path"].tolist()
    os.utime(paths[3], ns=(10**18, 10**18))  # touched, same bytes: its digest is checked, its row reused
    added = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert added.returncode == 0, added.stderr
    assert "embedding 10 images with" in added.stdout and "(50 unchanged images reused from embeddings.npy)" in added.stdout
    after = np.load(run_dir / "embeddings.npy")
    assert np.array_equal(after[:50], before)  # reused rows: the same bytes
    assert np.load(run_dir / "image_ids.npy").tolist() == manifest["image_id"].tolist()

    # A file replaced under the same name by a picture never seen: computed again, alone.
    from PIL import Image

    Image.open(paths[0]).transpose(Image.FLIP_TOP_BOTTOM).save(paths[7], format=Image.open(paths[7]).format)
    replaced = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert replaced.returncode == 0, replaced.stderr
    assert "embedding 1 images with" in replaced.stdout and "(59 unchanged images reused" in replaced.stdout
    final = np.load(run_dir / "embeddings.npy")
    assert not np.array_equal(final[7], after[7])
    assert np.array_equal(np.delete(final, 7, axis=0), np.delete(after, 7, axis=0))
    # Content is the key: a file holding bytes already embedded (image 0's) reuses that row, computing nothing.
    with open(paths[0], "rb") as source:
        replacement = source.read()
    with open(paths[9], "wb") as target:
        target.write(replacement)
    copied = run_script("embed.py", "--paths.run_dir", run_dir, *PIECES)
    assert copied.returncode == 0, copied.stderr
    assert "embedding 0 images with" in copied.stdout
    assert np.array_equal(np.load(run_dir / "embeddings.npy")[9], final[0])
    assert not (run_dir / "embedding_pieces").exists()
