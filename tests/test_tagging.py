"""tag.py, similar.py and export.py as subprocesses, on a tiny run trained by the real scripts."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, child_hooks, last_line, run_script, run_tagger

from tagger import runfolder

# Not MobileNetV2 as in test_pipeline: with random weights its pooled features collapse to ~1e-12, so every
# image gets the same probabilities and a tag written beside the wrong image could not be told apart.
# Random EfficientNetV2-B0 keeps the images apart at the same 32 px.
TRAIN_FLAGS = ["--model.backbone", "efficientnetv2-b0", "--model.weights", "none", "--model.image_size", "32",
               "--train.head.epochs", "1", "--train.finetune.batch_size", "16"]
SIZE = 32


STEP_OUTPUTS = {}  # script -> its CompletedProcess in the run_dir fixture, for the tests of what a step prints


@pytest.fixture(scope="module")
def run_dir(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tag_run")
    prepare_flags = ["--data.source", tiny_dataset / "tags.csv", "--data.min_tag_occurrences", "3"]
    umask = os.umask(0o022)  # the steps' files must follow it (test_file_modes_follow_the_umask checks 0644)
    try:
        for script, flags in [("prepare.py", prepare_flags), ("train.py", TRAIN_FLAGS), ("embed.py", [])]:
            result = run_script(script, "--paths.run_dir", run_dir, *flags)
            assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
            STEP_OUTPUTS[script] = result
    finally:
        os.umask(umask)
    STEP_OUTPUTS["thresholds.json"] = json.loads((run_dir / "thresholds.json").read_text())  # before the fixture's
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
    Every tag has its own (a tag missing from thresholds.json is an error, tests/test_tag_list.py).
    """
    scores = probabilities(model, sorted((tiny_dataset / "images").iterdir()))
    per_tag = {}
    for column, name in enumerate(vocabulary):
        middle = np.sort(scores[:, column])[15:45]
        widest = int(np.argmax(np.diff(middle)))
        assert middle[widest + 1] - middle[widest] > 1e-6, "test data: no clear gap for a threshold"
        per_tag[name] = float((middle[widest] + middle[widest + 1]) / 2)
    (run_dir / "thresholds.json").write_text(json.dumps({"default": per_tag[vocabulary[-1]], "tags": per_tag}))
    return np.array([per_tag[name] for name in vocabulary])


# Tests that compare tag.py's output with model.keras's float32 scores pin float32: on a CPU with bfloat16 units
# precision auto runs bfloat16 for a model that passed its check (scores then differ in the fifth digit; the choice
# is tested in test_engine_choice.py).
FLOAT32 = ("--tag.precision", "float32")


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
                        "--tag.batch_size", "4", "--tag.recursive", *FLOAT32)
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
                        "--tag.threshold", "0", *FLOAT32)
    assert result.returncode == 0, result.stderr
    scores = probabilities(model, images)
    existing = ["my own tag", already.upper().replace(" ", "_")]
    assert sidecar(images[0]) == ", ".join(existing + ranked_tags(scores[0], vocabulary, lambda i: i != 0)) + "\n"
    assert sidecar(images[1]) == ", ".join(ranked_tags(scores[1], vocabulary, lambda i: True)) + "\n"
    # A kohya caption (commas) appended to Danbooru-style (spaces, underscores): split on its own commas, its tags
    # then written with underscores, since a space now separates tags. With commas kept, its tags stay as typed.
    for separator, expected in [(" ", "my_own_tag blue_sky "), (", ", "my own tag, blue sky, ")]:
        images[1].with_suffix(".txt").write_text("my own tag, blue sky\n", encoding="utf-8")
        result = run_script("tag.py", "--paths.run_dir", run_dir, images[1], "--tag.mode", "append",
                            "--tag.underscores", "--tag.caption_separator", separator, "--tag.threshold", "0", *FLOAT32)
        assert result.returncode == 0, result.stderr
        assert sidecar(images[1]).startswith(expected)


def test_skip_mode_leaves_existing_sidecars_untouched(run_dir, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 3)
    kept = images[0].with_suffix(".txt")
    kept.write_text("hand, written\n", encoding="utf-8")
    os.utime(kept, ns=(1_000_000_000, 1_000_000_000))
    # The folder as a bare argument of the `tagger tag` subcommand, as other taggers take it.
    result = run_tagger("tag", tmp_path, "--paths.run_dir", run_dir, "--tag.mode", "skip", "--tag.recursive")
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
                        "--tag.max_tags", "4", "--tag.recursive", *FLOAT32)
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
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", photos, "--tag.output", scores_file,
                        "--tag.recursive", *FLOAT32)
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


def test_csv_output_without_sidecars_is_long_form(run_dir, model, vocabulary, thresholds, tiny_dataset, tmp_path):
    # The scores CSV is one row per (image, tag), as data tools take it (it was one row per image, tags and scores
    # joined in two cells, before issue 14).
    images = copy_images(tiny_dataset, tmp_path / "photos", 3)
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", f"{images[0]},{tmp_path / 'photos'}",
                        "--tag.output", tmp_path / "scores.csv", "--tag.write_sidecars", "false", "--tag.recursive",
                        "--tag.threads", "1", *FLOAT32, env=child_hooks(threads_log=tmp_path / "threads.jsonl"))
    assert result.returncode == 0, result.stderr
    # tag.threads reached TensorFlow: set before the model loaded, which starts its thread pools for good.
    assert (tmp_path / "threads.jsonl").read_text() == "[1, 1]\n"
    table = pd.read_csv(tmp_path / "scores.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["image", "tag", "score", "error"]
    assert list(dict.fromkeys(table["image"])) == [str(images[0]), str(images[1]), str(images[2])]  # tagged once
    for image, scores in zip(images, probabilities(model, images)):
        rows = table[table["image"] == str(image)]
        assert rows["tag"].tolist() == ranked_tags(scores, vocabulary, lambda i: scores[i] >= thresholds[i])
        np.testing.assert_allclose(rows["score"].astype(float), [scores[vocabulary.index(t)] for t in rows["tag"]],
                                   atol=1e-6)
    assert not list((tmp_path / "photos").rglob("*.txt"))


def test_tags_are_written_only_into_the_images_own_folder(run_dir, thresholds, tiny_dataset, tmp_path):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    images = copy_images(tiny_dataset, photos, 3)
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me\n")
    images[0].with_suffix(".txt").symlink_to(elsewhere / "precious.txt")
    shutil.copyfile(images[1], images[1].with_suffix(".jpg"))  # a.png and a.jpg would share a.txt
    (photos / "sub" / "loop").symlink_to(photos)  # a folder link loop: not followed, so the walk ends
    result = run_script("tag.py", "--paths.run_dir", run_dir, "--tag.inputs", photos, "--tag.recursive", timeout=300)
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
    (["--tag.inputs", ".", "--tag.caption_extension", ".JPG"], 2,  # photo.png's caption would replace photo.jpg
     "tag.py: setting tag.caption_extension: .JPG names image files: a caption written under it could replace one; "
     "use .txt, .caption or .tags (received '.JPG')"),
    (["--undesired_tags", "1girl"], 2,  # kohya's name: the flag it is here
     "tag.py: unknown flag --undesired_tags; kohya's --undesired_tags is --tag.exclude here"),
    (["--tag.inputs", ".", "--tag.caption_separator", " "], 1,
     "tag.py: error: tag.caption_separator of spaces alone needs --tag.underscores true: without it 'long hair' "
     "would read as two tags (long_hair is one)"),
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
    # The query may be given bare, as tag.py takes its images; one only.
    query = np.load(run_dir / "image_ids.npy").tolist()[3]
    bare = run_script("similar.py", "--paths.run_dir", run_dir, query, "--similar.k", "2", "--similar.index", "exact")
    flagged = run_script("similar.py", "--paths.run_dir", run_dir, "--similar.query", query, "--similar.k", "2",
                         "--similar.index", "exact")
    assert bare.returncode == 0 and bare.stdout == flagged.stdout and query in bare.stdout.splitlines()[1]
    two = run_script("similar.py", "--paths.run_dir", run_dir, query, query)
    assert (two.returncode, last_line(two.stderr)) == (
        2, f"similar.py: one similar.query only (received 2: {query!r}, {query!r})")
    twice = run_script("similar.py", "--paths.run_dir", run_dir, "--similar.query", query, query)
    assert (twice.returncode, last_line(twice.stderr)) == (
        2, f"similar.py: similar.query given twice, as --similar.query and bare ({query!r}): give it once")
    folder = run_script("similar.py", run_dir)  # the run folder given bare, as the other steps refuse it
    assert (folder.returncode, last_line(folder.stderr)) == (
        2, f"similar.py: {str(run_dir)!r} is a run folder, not a similar.query: to name the run folder: "
           f"--paths.run_dir {run_dir}")


@pytest.fixture(scope="module")
def exported(run_dir):
    """export.py's log: run under --quiet, whose console it leaves empty, tf2onnx's chatter included."""
    result = run_script("export.py", "--paths.run_dir", run_dir, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    return (run_dir / "logs" / "export.log").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def check_images(run_dir, model):
    from tagger.images import load_image

    paths = pd.read_csv(run_dir / "manifest.csv", dtype=str, keep_default_na=False)["path"][20:23]
    pixels = np.stack([load_image(path, SIZE) for path in paths]).astype(np.float32)
    return pixels, model.predict(pixels, verbose=0)


def test_saved_model_export_gives_the_same_predictions(run_dir, exported, check_images):
    import tensorflow as tf

    assert "SavedModel: largest difference from model.keras on 4 images: " in exported
    assert "(allowed 1e-04): same predictions" in exported
    pixels, expected = check_images
    reloaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    np.testing.assert_allclose(reloaded.serve(tf.constant(pixels)).numpy(), expected, rtol=0, atol=1e-5)


def test_the_exports_carry_the_tag_list(run_dir, exported):
    vocabulary = runfolder.read_vocabulary(run_dir)
    assets = run_dir / "export" / "saved_model" / "assets" / "tagger_tags.json"
    assert json.loads(assets.read_text(encoding="utf-8")) == vocabulary
    onnx = pytest.importorskip("onnx")
    metadata = {entry.key: entry.value for entry in onnx.load(str(run_dir / "export" / "model.onnx")).metadata_props}
    assert json.loads(metadata["tagger_tags.json"]) == vocabulary


def test_the_exports_have_the_wd14_tag_file_and_the_thresholds_beside_them(run_dir, exported):
    """Tools that run WD14 taggers read selected_tags.csv beside model.onnx, not from the run folder above it."""
    selected = pd.read_csv(run_dir / "export" / "selected_tags.csv", keep_default_na=False)
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    assert selected["name"].tolist() == vocabulary and selected["count"].tolist() == counts
    assert selected["tag_id"].tolist() == list(range(len(vocabulary))) and set(selected["category"]) == {0}
    thresholds = json.loads((run_dir / "export" / "thresholds.json").read_text(encoding="utf-8"))
    assert list(thresholds["tags"]) == vocabulary
    assert all(0.0 <= value <= 1.0 for value in thresholds["tags"].values())


def test_onnx_export_gives_the_same_predictions_at_any_batch_size(run_dir, exported, check_images):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    assert "ONNX: largest difference from model.keras on 4 images: " in exported
    pixels, expected = check_images
    session = onnxruntime.InferenceSession(str(run_dir / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    assert not isinstance(session.get_inputs()[0].shape[0], int)
    for batch in (pixels[:1], pixels):
        np.testing.assert_allclose(session.run(None, {name: batch})[0], expected[:len(batch)], rtol=0, atol=1e-5)


# --- tag.py's engines: embed.py's, through the same code (tagger.model.inference) -----------------------------


def tags_listed(run_dir, folder, output, *flags) -> dict:
    """tag.py's JSON list of the images in folder (recursive, no sidecars): {image: {tag: score}}."""
    result = run_script("tag.py", folder, "--tag.recursive", "--paths.run_dir", run_dir, "--tag.write_sidecars",
                        "false", "--tag.output", output, *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(output.read_text(encoding="utf-8"))["images"]


@pytest.fixture(scope="module")
def default_engine_tags(run_dir, thresholds, tiny_dataset, tmp_path_factory):
    """Six images and the default engine's (function) tags for them, which each other engine is held against."""
    folder = tmp_path_factory.mktemp("engines") / "photos"
    images = copy_images(tiny_dataset, folder, 6, start=30)
    return folder, images, tags_listed(run_dir, folder, folder.parent / "function.json")


@pytest.mark.parametrize("engine", ["keras", "onnx"])
def test_another_engine_gives_the_default_engines_tags_and_scores(run_dir, model, vocabulary, thresholds,
                                                                  default_engine_tags, tmp_path, engine):
    if engine == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("tf2onnx")
    folder, images, default = default_engine_tags
    listed = {"function": default, engine: tags_listed(run_dir, folder, tmp_path / f"{engine}.json",
                                                       "--tag.engine", engine)}
    assert sorted(listed[engine]) == sorted(listed["function"]) == sorted(map(str, images))
    for image, scores in zip(images, probabilities(model, images)):
        tags = listed[engine][str(image)]
        # Same tags in the same order; scores within 1e-4 of the default's and of model.keras (ONNX Runtime sums
        # in another order: differences of about 1e-7 here, 1e-4 is export.py's bar).
        assert list(tags) == list(listed["function"][str(image)])
        assert list(tags) == ranked_tags(scores, vocabulary, lambda i: scores[i] >= thresholds[i])
        for tag, score in tags.items():
            assert abs(score - listed["function"][str(image)][tag]) <= 1e-4
            assert abs(score - scores[vocabulary.index(tag)]) <= 1e-4
    assert sum(len(tags) for tags in listed[engine].values()) > 0  # tags to compare, not six empty lists


@pytest.mark.parametrize("flags, missing, message", [
    (["--tag.engine", "openvino"], "openvino", "tag.py: error: engine openvino needs OpenVINO: pip install -e '.[openvino]'"),
    (["--tag.engine", "onnx"], "tf2onnx", "tag.py: error: engine onnx needs tf2onnx and onnxruntime: "
                                          "pip install -e '.[export]'"),
    (["--tag.engine", "onnx", "--tag.precision", "mixed_bfloat16"], "", "tag.py: error: engine onnx runs float32 only "
     "(ONNX Runtime has no mixed_bfloat16 convolutions on CPUs): use precision float32, or engine function or openvino "
     "for mixed_bfloat16"),
    (["--tag.engine", "tensorrt"], "", "tag.py: setting tag.engine: Input should be 'auto', 'keras', 'function', "
                                       "'onnx' or 'openvino' (received 'tensorrt')"),
])
def test_an_engine_that_cannot_run_stops_tag_with_embeds_message(run_dir, thresholds, tiny_dataset, tmp_path, flags,
                                                                 missing, message):
    image = copy_images(tiny_dataset, tmp_path, 1)[0]
    threads_log = tmp_path / "threads.jsonl"
    result = run_script("tag.py", image, "--paths.run_dir", run_dir, *flags,
                        env=child_hooks(missing_packages=missing, threads_log=threads_log))
    assert result.returncode == (2 if "setting" in message else 1)
    assert last_line(result.stderr) == message
    assert not image.with_suffix(".txt").exists()
    assert not threads_log.exists()  # refused before TensorFlow was imported, let alone the model loaded


# --- issue 14: tag.py as the taggers people use, the formats they exchange, logs, TensorBoard, report ----------


def test_a_quoted_glob_and_a_bare_folder_are_inputs_and_folders_are_not_searched_recursively_by_default(
        run_dir, model, vocabulary, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 4)  # the last one in sub/
    # The glob arrives unexpanded, as from a quoted argument; the folder as a bare argument, as kohya takes it.
    result = run_script("tag.py", str(tmp_path / "*.png"), "--paths.run_dir", run_dir)
    assert result.returncode == 0, result.stderr
    assert "tagging 3 images" in result.stdout and not images[3].with_suffix(".txt").exists()
    # A handful of images: each one's tags are printed with their scores, most confident first.
    for image, scores in zip(images[:3], probabilities(model, images[:3])):
        expected = ranked_tags(scores, vocabulary, lambda i: scores[i] >= thresholds[i])
        assert f"{image}: " + ", ".join(f"{t} {scores[vocabulary.index(t)]:.2f}" for t in expected) in result.stdout
    result = run_script("tag.py", tmp_path / "sub", "--paths.run_dir", run_dir, "--tag.print", "false")
    assert result.returncode == 0, result.stderr
    assert images[3].with_suffix(".txt").is_file() and f"{images[3]}: " not in result.stdout


def test_a_hand_written_caption_survives_the_default_mode(run_dir, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 2)
    caption = images[0].with_suffix(".txt")
    caption.write_text("my_tag, Keep Me\n", encoding="utf-8")
    result = run_script("tag.py", tmp_path, "--paths.run_dir", run_dir)
    assert result.returncode == 0, result.stderr
    assert ".txt files: 1 backed up and replaced, 1 written (earlier captions kept as *.txt.bak)" in result.stdout
    assert (tmp_path / f"{caption.name}.bak").read_text(encoding="utf-8") == "my_tag, Keep Me\n"
    assert caption.read_text(encoding="utf-8") != "my_tag, Keep Me\n"
    # Re-run: the same tags leave the caption as it is, and no second backup is made; --quiet prints no line.
    again = run_script("tag.py", tmp_path, "--paths.run_dir", run_dir, "--quiet")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and sorted(path.name for path in tmp_path.glob("*.bak*")) == [f"{caption.name}.bak"]
    # A hand edit after that is backed up beside the first backup, never over it.
    caption.write_text("edited by hand\n", encoding="utf-8")
    assert run_script("tag.py", tmp_path, "--paths.run_dir", run_dir).returncode == 0
    assert (tmp_path / f"{caption.name}.bak.2").read_text(encoding="utf-8") == "edited by hand\n"
    assert (tmp_path / f"{caption.name}.bak").read_text(encoding="utf-8") == "my_tag, Keep Me\n"


def run_with_an_alias(run_dir, vocabulary, tmp_path):
    """A copy of the run whose aliases.txt merges its second tag into its first: (run folder, variant, canonical)."""
    run_copy = tmp_path / "run"
    shutil.copytree(run_dir, run_copy)
    variant, canonical = vocabulary[1], vocabulary[0]
    (run_copy / "aliases.txt").write_text(f"alias {variant} -> {canonical}\n", encoding="utf-8")
    return run_copy, variant, canonical


def test_aliases_replacements_always_first_and_caption_format(run_dir, model, vocabulary, thresholds, tiny_dataset,
                                                             tmp_path):
    run_copy, variant, canonical = run_with_an_alias(run_dir, vocabulary, tmp_path)
    images = copy_images(tiny_dataset, tmp_path / "photos", 2)
    result = run_script("tag.py", tmp_path / "photos", "--paths.run_dir", run_copy, "--tag.threshold", "0",
                        "--tag.replace", f"{vocabulary[2]}=my replacement", "--tag.always_first", vocabulary[5],
                        "--tag.caption_extension", ".caption", "--tag.caption_separator", " ", "--tag.underscores")
    assert result.returncode == 0, result.stderr
    for image, scores in zip(images, probabilities(model, images)):
        written = {}  # every tag (threshold 0), the variant merged into its canonical with the higher score
        for i in np.argsort(-scores, kind="stable"):
            name = {variant: canonical, vocabulary[2]: "my replacement"}.get(vocabulary[i], vocabulary[i])
            written[name] = max(written.get(name, 0.0), scores[i])
        ranked = sorted(written, key=lambda name: -written[name])
        ranked = [vocabulary[5]] + [name for name in ranked if name != vocabulary[5]]
        caption = image.with_suffix(".caption").read_text(encoding="utf-8")
        assert caption == " ".join(name.replace(" ", "_") for name in ranked) + "\n"
        assert variant.replace(" ", "_") not in caption.split()
    assert not list((tmp_path / "photos").glob("*.txt"))


def test_an_excluded_tag_stays_out_under_the_names_it_is_written_as(run_dir, vocabulary, thresholds, tiny_dataset,
                                                                     tmp_path):
    """--tag.exclude names a tag as the caption would show it: a canonical excludes its merged variant (aliases.txt),
    a replacement's new name excludes the tag replaced; a capitalised replacement is put first by its own spelling;
    a replacement of no tag of the model is named in a warning."""
    run_copy, variant, canonical = run_with_an_alias(run_dir, vocabulary, tmp_path)
    images = copy_images(tiny_dataset, tmp_path / "photos", 2)
    result = run_script("tag.py", tmp_path / "photos", "--paths.run_dir", run_copy, "--tag.threshold", "0",
                        "--tag.exclude", f"{canonical},Crimson", "--tag.replace", f"{vocabulary[2]}=Crimson",
                        "--tag.replace", f"{vocabulary[3]}=MyTrigger,no such tag=x", "--tag.always_first", "MyTrigger",
                        "--tag.recursive")
    assert result.returncode == 0, result.stderr
    assert "warning: tag.replace: not tags of this model, ignored: no such tag" in result.stderr
    for image in images:  # threshold 0: every tag of the model but those excluded
        caption = sidecar(image).rstrip("\n").split(", ")
        assert caption[0] == "MyTrigger"
        assert sorted(caption) == sorted(["MyTrigger", *vocabulary[4:]])


@pytest.mark.skipif(sys.platform != "linux", reason="a file name of bytes that are not UTF-8 needs a POSIX file system")
def test_file_names_a_shell_gives_are_tagged_whole_and_a_link_to_nothing_is_passed_over(run_dir, thresholds,
                                                                                       tiny_dataset, tmp_path):
    """A glob expanded by the shell names each file bare: one holding a comma, one whose name is not UTF-8
    (unpacked from a Latin-1 archive) and a link to a file since deleted. Each used to stop the whole run."""
    photos = tmp_path / "photos"
    [plain] = copy_images(tiny_dataset, photos, 1)
    comma, latin1 = photos / "odd, name.png", os.fsdecode(bytes(photos) + b"/caf\xe9.png")
    for copy in (comma, latin1):  # the same picture: the same caption
        shutil.copyfile(plain, copy)
    (photos / "gone.png").symlink_to(photos / "deleted.png")
    scores = tmp_path / "scores.json"
    result = subprocess.run([sys.executable, str(ROOT / "tag.py"), "--paths.run_dir", str(run_dir),
                             "--tag.output", str(scores), *map(os.fsencode, [plain, comma, latin1, photos / "gone.png"])],
                            cwd=ROOT, capture_output=True, text=True, errors="backslashreplace", timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"  {photos / 'gone.png'}: a symbolic link to a file that does not exist" in result.stderr
    for image in (plain, comma, Path(latin1)):
        assert image.with_suffix(".txt").read_text(encoding="utf-8") == sidecar(plain)
    # The scores file is UTF-8 text: the name's byte that is not UTF-8 is written as \xe9, as the console and the
    # run folder's log show it.
    shown = str(photos / "caf\\xe9.png")
    assert sorted(json.loads(scores.read_text(encoding="utf-8"))["images"]) == sorted([str(plain), str(comma), shown])
    assert f"{shown}: " in result.stdout and f"{shown}: " in (run_dir / "logs" / "tag.log").read_text(encoding="utf-8")


def test_file_modes_follow_the_umask(run_dir, thresholds, tiny_dataset, tmp_path):
    images = copy_images(tiny_dataset, tmp_path, 2)
    images[0].with_suffix(".txt").write_text("hand written\n", encoding="utf-8")
    umask = os.umask(0o022)
    try:
        result = run_script("tag.py", tmp_path, "--paths.run_dir", run_dir, "--tag.output", tmp_path / "scores.csv")
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr
    written = [tmp_path / "scores.csv", images[0].with_suffix(".txt"), tmp_path / f"{images[0].stem}.txt.bak",
               images[1].with_suffix(".txt")]
    # The run folder's files were written by the fixture's steps under umask 022 too (temporaries are 0600).
    written += [run_dir / name for name in ("model.keras", "report.html", "selected_tags.csv", "manifest.csv",
                                            "embeddings.npy", "metrics.json", "logs/train.log")]
    assert {str(path): oct(path.stat().st_mode & 0o777) for path in written} == {str(path): "0o644" for path in written}


def test_selected_tags_csv_lists_the_vocabulary_in_output_order_for_a_plain_csv_reader(run_dir):
    import csv

    with (run_dir / "selected_tags.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    vocabulary = pd.read_csv(run_dir / "vocabulary.csv", keep_default_na=False)
    assert [list(row) for row in rows[:1]] == [["tag_id", "name", "category", "count"]]
    assert rows == [{"tag_id": str(i), "name": tag, "category": "0", "count": str(count)}
                    for i, (tag, count) in enumerate(zip(vocabulary["tag"], vocabulary["count"]))]


def test_a_normal_run_shows_no_tensorflow_start_up_lines_and_logs_to_the_run_folder(run_dir):
    for script in ("train.py", "embed.py"):
        output = STEP_OUTPUTS[script].stdout + STEP_OUTPUTS[script].stderr
        noise = [line for line in output.splitlines() if line.startswith(("E0000", "W0000", "I0000", "WARNING: All log"))]
        assert noise == [], script
        log = (run_dir / "logs" / f"{script.removesuffix('.py')}.log").read_text(encoding="utf-8")
        assert " INFO    tagger." in log
    assert "validation: mAP" in (run_dir / "logs" / "train.log").read_text(encoding="utf-8")


def test_tensorboard_event_files_hold_each_stage_and_the_validation_pr_curves(run_dir):
    import tensorflow as tf

    def tags_in(folder):
        found = {}
        for events in sorted(folder.glob("events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(str(events)):
                for value in event.summary.value:
                    found.setdefault(value.tag, []).append(event.step)
        return found

    head = tags_in(run_dir / "logs" / "train" / "head")
    assert {name: steps for name, steps in head.items()} == {"loss": [1], "validation_mAP": [1], "learning_rate": [1]}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    curves = tags_in(run_dir / "logs" / "train" / "validation")
    assert set(curves) == {"all tags pooled/pr_curves"} | {f"tag/{t['tag']}/pr_curves" for t in metrics["weakest_tags"]}


def test_report_charts_have_numbered_axes_and_one_epoch_stages_show_a_point(run_dir):
    import re
    import xml.etree.ElementTree as ElementTree

    report = (run_dir / "report.html").read_text(encoding="utf-8")
    charts = [ElementTree.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", report, flags=re.S)]
    assert len(charts) >= 3  # loss, validation mAP, pooled precision-recall (+ the weakest tags' curves)

    def tick_labels(chart, axis):
        groups = [group for group in chart.iter("{http://www.w3.org/2000/svg}g")
                  if re.fullmatch(rf"{axis}tick_\d+", group.get("id", ""))]
        return ["".join(group.itertext()).strip() for group in groups]

    for chart in charts:
        for axis in ("x", "y"):
            numbers = [label for label in tick_labels(chart, axis) if re.fullmatch(r"[-−]?\d+(\.\d+)?", label)]
            assert len(numbers) >= 2, (axis, tick_labels(chart, axis))
    # The head ran one epoch: its loss is one marker (a one-point line alone would draw nothing).
    loss_chart = charts[0]
    assert "training loss" in "".join(loss_chart.itertext())
    assert list(loss_chart.iter("{http://www.w3.org/2000/svg}use"))
    for meaning in ("CP</dt>", "OF1</dt>", "mAP</dt>"):
        assert meaning in report


def test_thresholds_from_too_few_validation_images_are_the_global_one_and_flagged(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    thresholds = STEP_OUTPUTS["thresholds.json"]  # as train.py wrote it (the thresholds fixture replaces it)
    few = {tag for tag, entry in metrics["per_tag"].items() if entry["validation_images"] < 5}
    assert few and set(thresholds["global_for"]) == few
    assert all(thresholds["tags"][tag] == thresholds["default"] for tag in few)
    assert {tag for tag, entry in metrics["per_tag"].items() if entry["threshold_from"] == "global"} == few
    assert all(entry["AP"] < 0.5 for entry in metrics["weakest_tags"])
def test_openvino_export_gives_the_same_predictions_at_any_batch_size(run_dir, exported, check_images):
    openvino = pytest.importorskip("openvino")
    assert "OpenVINO: largest difference from model.keras on 4 images: " in exported
    pixels, expected = check_images
    compiled = openvino.Core().compile_model(str(run_dir / "export" / "openvino" / "model.xml"), "CPU",
                                             {"INFERENCE_PRECISION_HINT": "f32"})
    for batch in (pixels[:1], pixels):
        np.testing.assert_allclose(np.asarray(compiled(batch)[0]), expected[:len(batch)], rtol=0, atol=1e-5)


def test_onnx_export_is_refused_before_it_would_run_out_of_memory(tmp_path):
    from tagger.use.export import onnx_memory_refusal

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n")
    assert onnx_memory_refusal(20_000_000, meminfo) is None  # mobilenetv2-sized: 3.4 GB of 19 GB
    refusal = onnx_memory_refusal(118_000_000, meminfo)  # efficientnetv2-l: 19.8 GB of 19.1 GB
    assert refusal.startswith("ONNX export skipped: converting 118 million parameters takes about 19.8 GB of memory "
                              "and 19.1 GB is available; the SavedModel")
