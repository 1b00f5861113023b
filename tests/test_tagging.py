"""tag.py, similar.py and export.py as subprocesses, on a tiny run trained by the real scripts."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import run_tagger, last_line, run_script

# Not MobileNetV2 as in test_pipeline: with random weights its pooled features collapse to ~1e-12, so every
# image gets the same probabilities and a tag written beside the wrong image could not be told apart.
# Random EfficientNetV2-B0 keeps the images apart at the same 32 px.
TRAIN_FLAGS = ["--model.backbone", "efficientnetv2-b0", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "1", "--train.finetune.batch_size", "16"]
SIZE = 32


@pytest.fixture(scope="module")
def run_dir(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tag_run")
    prepare_flags = ["--data.source", tiny_dataset / "tags.csv", "--data.min_tag_occurrences", "3"]
    for script, flags in [("prepare.py", prepare_flags), ("train.py", TRAIN_FLAGS), ("embed.py", [])]:
        result = run_script(script, "--paths.run_dir", run_dir, *flags)
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return run_dir


@pytest.fixture(scope="module")
def model(run_dir):
    from tagger.model.network import load_tagger

    return load_tagger(run_dir / "model.keras")


@pytest.fixture(scope="module")
def vocabulary(run_dir):
    return pd.read_csv(run_dir / "vocabulary.csv", keep_default_na=False)["tag"].tolist()


@pytest.fixture(scope="module")
def thresholds(run_dir, model, vocabulary, tiny_dataset):
    """Per-tag thresholds in the widest gap between the middle scores of the dataset's images.

    train.py's thresholds are validation scores themselves, so an image can sit exactly on one, where the
    last bits of a batch-size-dependent sum decide the tag; here every image is clear of every threshold.
    The last tag is left out of "tags", so it takes the default.
    """
    scores = probabilities(model, sorted((tiny_dataset / "images").iterdir()))
    per_tag = {}
    for column, name in enumerate(vocabulary):
        middle = np.sort(scores[:, column])[15:45]
        widest = int(np.argmax(np.diff(middle)))
        assert middle[widest + 1] - middle[widest] > 1e-6, "test data: no clear gap for a threshold"
        per_tag[name] = float((middle[widest] + middle[widest + 1]) / 2)
    default = per_tag.pop(vocabulary[-1])
    (run_dir / "thresholds.json").write_text(json.dumps({"default": default, "tags": per_tag}))
    return np.array([per_tag.get(name, default) for name in vocabulary])


def probabilities(model, images) -> np.ndarray:
    from tagger.images import load_image

    return model.predict(np.stack([load_image(path, SIZE) for path in images]), verbose=0)


def copy_images(tiny_dataset, folder, count: int, start: int = 0) -> list:
    """count real images of the dataset into folder, the last third in a subfolder (the walk must recurse)."""
    sources = sorted((tiny_dataset / "images").iterdir())[start:start + count]
    copies = []
    for index, source in enumerate(sources):
        target = folder / "sub" / source.name if index >= count - count // 3 else folder / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def ranked_tags(scores: np.ndarray, vocabulary: list, keep) -> list:
    """The tags of one image's scores that keep accepts, most confident first."""
    return [vocabulary[i] for i in sorted(range(len(vocabulary)), key=lambda i: -scores[i]) if keep(i)]


def sidecar(image):
    return image.with_suffix(".txt").read_text(encoding="utf-8")


def test_sidecars_hold_exactly_the_tags_at_or_above_their_thresholds_most_confident_first(
        run_dir, model, vocabulary, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path / "photos", 10)
    # Batches of 4 over 10 images: a partial last batch, and positions must line up across batches.
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tmp_path / "photos",
                        "--tag.batch_size", "4")
    assert result.returncode == 0, result.stderr
    assert "tagging 10 images" in result.stdout and ".txt files: 10 written" in result.stdout
    written = []
    for image, scores in zip(images, probabilities(model, images)):
        expected = ranked_tags(scores, vocabulary, lambda i: scores[i] >= thresholds[i])
        assert sidecar(image) == ", ".join(expected) + "\n"
        written.append(sidecar(image))
    assert len(set(written)) > 1  # images differ, so a tag list beside the wrong image would be caught


def test_append_keeps_existing_tags_first_and_adds_no_duplicates(run_dir, model, vocabulary, thresholds,
                                                                tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 2, start=20)
    # An existing tag spelled differently from the vocabulary is still the same tag, so not added again.
    already = vocabulary[0]
    images[0].with_suffix(".txt").write_text(f"my own tag, {already.upper().replace(' ', '_')}\n", encoding="utf-8")
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tmp_path, "--tag.mode", "append",
                        "--tag.threshold", "0")
    assert result.returncode == 0, result.stderr
    scores = probabilities(model, images)
    existing = ["my own tag", already.upper().replace(" ", "_")]
    assert sidecar(images[0]) == ", ".join(existing + ranked_tags(scores[0], vocabulary, lambda i: i != 0)) + "\n"
    assert sidecar(images[1]) == ", ".join(ranked_tags(scores[1], vocabulary, lambda i: True)) + "\n"


def test_skip_mode_leaves_existing_sidecars_untouched(run_dir, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 3)
    kept = images[0].with_suffix(".txt")
    kept.write_text("hand, written\n", encoding="utf-8")
    os.utime(kept, ns=(1_000_000_000, 1_000_000_000))
    # The folder as a bare argument of the `tagger tag` subcommand, as other taggers take it.
    result = run_tagger("tag", tmp_path, "--paths.run_dir", run_dir, "--tag.mode", "skip")
    assert result.returncode == 0, result.stderr
    assert "tagging 2 images" in result.stdout and ".txt files: 1 kept (skip mode), 2 written" in result.stdout
    assert kept.read_text(encoding="utf-8") == "hand, written\n" and kept.stat().st_mtime_ns == 1_000_000_000
    assert all(image.with_suffix(".txt").is_file() for image in images[1:])


def test_exclude_and_max_tags(run_dir, model, vocabulary, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 3)
    # Excluded tags are matched as prepare.py normalizes them: case and separators do not matter.
    excluded = vocabulary[0].title().replace(" ", "_")
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", tmp_path, "--tag.threshold", "0",
                        "--tag.exclude", f"{excluded},{vocabulary[3]}", "--tag.exclude", "no such tag",
                        "--tag.max_tags", "4")
    assert result.returncode == 0, result.stderr
    assert "warning: tag.exclude: not tags of this model, ignored: no such tag" in result.stderr
    for image, scores in zip(images, probabilities(model, images)):
        assert sidecar(image) == ", ".join(ranked_tags(scores, vocabulary, lambda i: i not in (0, 3))[:4]) + "\n"


def test_unreadable_images_are_skipped_and_reported_and_the_json_has_every_image(
        run_dir, model, vocabulary, thresholds, tiny_dataset, tmp_path):
    photos = tmp_path / "photos"
    images = copy_images(tiny_dataset, photos, 3)
    (photos / "garbage.png").write_bytes(b"not a picture at all")
    (photos / "truncated.png").write_bytes(images[0].read_bytes()[:200])
    scores_file = tmp_path / "scores.json"
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", photos, "--tag.output", scores_file)
    assert result.returncode == 0, result.stderr
    assert "2 files could not be read:" in result.stderr
    assert f"  {photos / 'garbage.png'}: not an image PIL can read" in result.stderr
    assert f"  {photos / 'truncated.png'}: " in result.stderr
    assert not (photos / "garbage.txt").exists() and not (photos / "truncated.txt").exists()
    report = json.loads(scores_file.read_text(encoding="utf-8"))
    assert sorted(report["images"]) == sorted(map(str, images))
    assert sorted(report["unreadable"]) == [str(photos / "garbage.png"), str(photos / "truncated.png")]
    for image, scores in zip(images, probabilities(model, images)):
        listed = report["images"][str(image)]
        assert list(listed) == ranked_tags(scores, vocabulary, lambda i: scores[i] >= thresholds[i])
        assert all(abs(listed[name] - scores[vocabulary.index(name)]) < 1e-6 for name in listed)
        assert sidecar(image) == ", ".join(listed) + "\n"


def test_csv_output_without_sidecars(run_dir, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path / "photos", 3)
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", f"{images[0]},{tmp_path / 'photos'}",
                        "--tag.output", tmp_path / "scores.csv", "--tag.write_sidecars", "false")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "scores.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["image", "tags", "scores", "error"]
    assert table["image"].tolist() == [str(images[0]), str(images[1]), str(images[2])]  # named twice, tagged once
    assert [len(row.split(", ")) for row in table["scores"]] == [len(row.split(", ")) for row in table["tags"]]
    assert not list((tmp_path / "photos").rglob("*.txt"))


def test_tags_are_written_only_into_the_images_own_folder(run_dir, thresholds, tiny_dataset, tmp_path):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    images = copy_images(tiny_dataset, photos, 3)
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me\n")
    images[0].with_suffix(".txt").symlink_to(elsewhere / "precious.txt")
    shutil.copyfile(images[1], images[1].with_suffix(".jpg"))  # a.png and a.jpg would share a.txt
    (photos / "sub" / "loop").symlink_to(photos)  # a folder link loop: not followed, so the walk ends
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", photos, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "precious.txt").read_text() == "keep me\n" and images[0].with_suffix(".txt").is_symlink()
    assert f"  {images[0].with_suffix('.txt')}: is a symbolic link: not followed, not replaced" in result.stderr
    assert (f"  {images[1].with_suffix('.txt')}: shared by {images[1].with_suffix('.jpg').name} and "
            f"{images[1].name}: not written") in result.stderr
    assert not images[1].with_suffix(".txt").exists()
    assert ".txt files: 1 written" in result.stdout and images[2].with_suffix(".txt").is_file()


@pytest.mark.parametrize("flags, code, message", [
    ([], 1, "tag.py: error: tag.inputs: name the images or folders to tag, e.g. --tag.inputs photos "
            "(repeat the flag or separate with commas for more)"),
    (["--tag.inputs", "no/such/folder"], 1, "tag.py: error: tag.inputs: no/such/folder does not exist"),
    (["--tag.inputs", ".", "--tag.output", "scores.txt"], 2,
     "tag.py: setting tag.output: must end in .json or .csv, not '.txt' (received 'scores.txt')"),
])
def test_tag_mistakes_are_one_clear_line(run_dir, flags, code, message):
    result = run_script("tag.py", "--paths.run_dir", run_dir, *flags)
    assert result.returncode == code
    assert last_line(result.stderr) == message


def similar_results(run_dir, query, k, output):
    return similar_results_with(run_dir, query, k, output, "exact")


def test_similar_lists_the_query_itself_first_then_by_cosine_similarity(run_dir, tmp_path):
    image_ids = np.load(run_dir / "image_ids.npy").tolist()
    embeddings = np.load(run_dir / "embeddings.npy")
    query = image_ids[7]
    result, results = similar_results(run_dir, query, 5, tmp_path / "similar.json")
    assert results[0]["image_id"] == query and abs(results[0]["similarity"] - 1.0) <= 1e-5
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    cosine = unit @ unit[7]
    assert [entry["image_id"] for entry in results] == [image_ids[i] for i in np.argsort(-cosine)[:5]]
    assert [entry["rank"] for entry in results] == [1, 2, 3, 4, 5]
    similarities = [entry["similarity"] for entry in results]
    assert similarities == sorted(similarities, reverse=True)
    np.testing.assert_allclose(similarities, np.sort(cosine)[::-1][:5], atol=1e-5)
    assert result.stdout.splitlines()[1].split() == ["1", "1.0000", query, results[0]["path"]]


def test_similar_through_the_faiss_index_gives_the_exact_ranking_and_is_built_once(run_dir, tmp_path):
    pytest.importorskip("faiss")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    image_ids = np.load(copy / "image_ids.npy").tolist()
    _, exact = similar_results(copy, image_ids[7], 5, tmp_path / "exact.json")
    built, indexed = similar_results_with(copy, image_ids[7], 5, tmp_path / "indexed.json", "faiss")
    assert "building the similarity index of 60 images once (similar_index.faiss)" in built.stdout
    assert [entry["image_id"] for entry in indexed] == [entry["image_id"] for entry in exact]
    np.testing.assert_allclose([e["similarity"] for e in indexed], [e["similarity"] for e in exact], atol=1e-5)
    reused, _ = similar_results_with(copy, image_ids[3], 5, tmp_path / "again.json", "faiss")
    assert "building" not in reused.stdout
    np.save(copy / "embeddings.npy", np.load(copy / "embeddings.npy"))  # new embeddings: the index is rebuilt
    rebuilt, _ = similar_results_with(copy, image_ids[3], 5, tmp_path / "again.json", "faiss")
    assert "building the similarity index" in rebuilt.stdout


def similar_results_with(run_dir, query, k, output, index):
    result = run_script("similar.py", "--paths.run_dir", run_dir, "--similar.query", query, "--similar.k", k,
                        "--similar.output", output, "--similar.index", index)
    assert result.returncode == 0, result.stderr
    return result, json.loads(output.read_text(encoding="utf-8"))["results"]


def test_similar_embeds_an_image_from_outside_the_collection(run_dir, tiny_dataset, tmp_path):
    manifest = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)
    outside = tmp_path / "copy of an image.png"
    shutil.copyfile(manifest["path"][11], outside)
    _, results = similar_results(run_dir, outside, 3, tmp_path / "similar.json")
    assert len(results) == 3 and results[0]["image_id"] == manifest["image_id"][11]
    assert abs(results[0]["similarity"] - 1.0) <= 1e-5


def test_similar_names_what_it_accepts(run_dir):
    result = run_script("similar.py", "--paths.run_dir", run_dir, "--similar.query", "nothing/like/this.png")
    assert result.returncode == 1
    assert last_line(result.stderr) == (f"similar.py: error: similar.query: 'nothing/like/this.png' is neither an "
                                        f"image id of {run_dir / 'manifest.csv'} nor an image file")


@pytest.fixture(scope="module")
def exported(run_dir):
    result = run_script("export.py", "--paths.run_dir", run_dir)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def check_images(run_dir, model):
    from tagger.images import load_image

    paths = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)["path"][20:23]
    pixels = np.stack([load_image(path, SIZE) for path in paths]).astype(np.float32)
    return pixels, model.predict(pixels, verbose=0)


def test_saved_model_export_gives_the_same_predictions(run_dir, exported, check_images):
    import tensorflow as tf

    assert "SavedModel: largest difference from model.keras on 4 images: " in exported.stdout
    assert "(allowed 1e-04): same predictions" in exported.stdout
    pixels, expected = check_images
    reloaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    np.testing.assert_allclose(reloaded.serve(tf.constant(pixels)).numpy(), expected, rtol=0, atol=1e-5)


def test_onnx_export_gives_the_same_predictions_at_any_batch_size(run_dir, exported, check_images):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    assert "ONNX: largest difference from model.keras on 4 images: " in exported.stdout
    pixels, expected = check_images
    session = onnxruntime.InferenceSession(str(run_dir / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    assert not isinstance(session.get_inputs()[0].shape[0], int)
    for batch in (pixels[:1], pixels):
        np.testing.assert_allclose(session.run(None, {name: batch})[0], expected[:len(batch)], rtol=0, atol=1e-5)
