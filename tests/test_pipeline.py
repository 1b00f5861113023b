"""The four scripts end to end as subprocesses on tiny real images, and the run-folder contract. (A fine-tuned
model's embeddings: tests/test_embed_resume.py.)"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_script

TRAIN_FLAGS = ["--model.backbone", "mobilenetv2", "--model.weights", "none", "--model.image_size", "32",
               "--train.head_epochs", "2", "--train.batch_size", "16"]


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    for script, flags in [("prepare.py", ["--data.source", tiny_dataset / "tags.csv",
                                          "--data.min_tag_occurrences", "3"]),
                          ("train.py", TRAIN_FLAGS), ("embed.py", []), ("cluster_tags.py", [])]:
        result = run_script(script, "--paths.run_dir", run_dir, *flags)
        assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return run_dir


def test_run_folder_holds_every_documented_file(trained_run):
    expected = {"manifest.csv", "vocabulary.csv", "skipped.csv", "rare_tags.csv", "model.keras", "thresholds.json",
                "metrics.json", "report.html", "checkpoints", "head.npz", "selected_tags.csv", "logs",
                "training.json", "features.npy", "features.json", "embeddings.npy", "image_ids.npy",
                "synonyms.json", "synonyms.csv", "synonyms.html", "review.csv", "rejected.csv", "settings.prepare.json", "settings.train.json",
                "settings.embed.json", "settings.cluster.json"}
    assert {path.name for path in trained_run.iterdir()} == expected


def test_embeddings_follow_the_manifest_and_load_without_pickle(trained_run):
    manifest = pd.read_csv(trained_run / "manifest.csv", dtype=str, keep_default_na=False)
    embeddings = np.load(trained_run / "embeddings.npy", allow_pickle=False)
    image_ids = np.load(trained_run / "image_ids.npy", allow_pickle=False)
    assert image_ids.dtype.kind == "U"
    assert image_ids.tolist() == manifest["image_id"].tolist()
    assert embeddings.dtype == np.float32 and embeddings.shape == (len(manifest), 1280)


def test_embed_reuses_the_stage1_cache_when_the_backbone_was_frozen(trained_run):
    assert json.loads((trained_run / "training.json").read_text())["backbone_finetuned"] is False
    np.testing.assert_array_equal(np.load(trained_run / "embeddings.npy"), np.load(trained_run / "features.npy"))


def test_cached_features_equal_the_saved_model_embeddings(trained_run):
    from tagger.images import load_image
    from tagger.model.network import embedding_model, load_tagger

    manifest = pd.read_csv(trained_run / "manifest.csv", dtype=str, keep_default_na=False)
    pixels = np.stack([load_image(path, 32) for path in manifest["path"][:4]])
    from_model = embedding_model(load_tagger(trained_run / "model.keras")).predict(pixels, verbose=0)
    np.testing.assert_allclose(from_model, np.load(trained_run / "embeddings.npy")[:4], rtol=1e-4, atol=1e-5)


def test_thresholds_and_metrics_cover_the_vocabulary(trained_run):
    vocabulary = pd.read_csv(trained_run / "vocabulary.csv", keep_default_na=False)
    thresholds = json.loads((trained_run / "thresholds.json").read_text())
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert list(thresholds["tags"]) == vocabulary["tag"].tolist()
    assert all(0.0 <= value <= 1.0 for value in thresholds["tags"].values())
    assert thresholds["mode"] == "best_f1" and thresholds["tags"] == thresholds["modes"]["best_f1"]
    assert set(thresholds["modes"]) == {"best_f1", "precision_equals_recall", "target_precision"}
    assert 0.0 <= metrics["mAP"] <= 1.0
    assert set(metrics["at_tag_thresholds"]) == {"CP", "CR", "CF1", "OP", "OR", "OF1"}
    assert list(metrics["per_tag"]) == vocabulary["tag"].tolist()
    assert [entry["epoch"] for entry in metrics["history"]["head"]] == [1, 2]
    assert vocabulary["count"].tolist() == sorted(vocabulary["count"], reverse=True)


def test_stage1_starts_from_the_yardstick_and_ends_no_worse_than_it(trained_run):
    import html

    metrics = json.loads((trained_run / "metrics.json").read_text())
    stage1, history = metrics["stage1"], metrics["history"]["head"]
    yardstick = stage1["logistic_regression"]
    assert stage1["head_start"]["from"] == "the logistic-regression yardstick's solution"
    assert stage1["head_start"]["tags"] == yardstick["tags_fitted"]
    # The start is the yardstick's solution, and the yardstick is scored as the head's epochs are.
    assert stage1["head_start"]["validation_mAP"] == yardstick["mAP"]
    scores = [stage1["head_start"]["validation_mAP"], *(entry["validation_mAP"] for entry in history)]
    assert stage1["head_mAP"] == max(scores) >= yardstick["mAP"]
    assert stage1["head_best_epoch"] == scores.index(max(scores))
    assert stage1["head_seconds"] > 0 and yardstick["seconds"] > 0
    report = html.unescape((trained_run / "report.html").read_text())
    assert f"{yardstick['method']}; {yardstick['seconds']:.1f} s" in report


def test_settings_of_each_step_are_recorded(trained_run):
    recorded = json.loads((trained_run / "settings.train.json").read_text())
    assert recorded["model"] == {"backbone": "mobilenetv2", "image_size": 32, "weights": "none", "dropout": 0.3,
                                 "tag_layer": "dense"}
    assert recorded["train"]["head"]["epochs"] == 2  # given as the old flag --train.head_epochs


def test_aliases_written_by_apply_review_read_back_by_prepare(trained_run, tiny_dataset, tmp_path):
    review_dir = tmp_path / "review"
    review_dir.mkdir()
    (review_dir / "review.csv").write_text("group,canonical,variant,decision\n1,red,r3d,accept\n1,red,rot,yes\n"
                                           "2,circle,circles,reject\n")
    # apply_review.py checks accepted variants against the vocabulary they were proposed from.
    (review_dir / "vocabulary.csv").write_text("tag,count\nred,9\ncircle,8\nr3d,7\nrot,6\ncircles,5\n")
    applied = run_script("apply_review.py", "--paths.run_dir", review_dir)
    assert applied.returncode == 0, applied.stderr
    aliases = (review_dir / "aliases.txt").read_text().splitlines()
    assert [line for line in aliases if not line.startswith("#")] == ["alias r3d -> red", "alias rot -> red"]
    result = run_script("prepare.py", "--paths.run_dir", tmp_path, "--data.source", tiny_dataset / "tags.csv",
                        "--data.min_tag_occurrences", "3", "--data.aliases", review_dir / "aliases.txt")
    assert result.returncode == 0, result.stderr
    tags = pd.read_csv(tmp_path / "vocabulary.csv", keep_default_na=False)["tag"].tolist()
    assert "red" in tags and "r3d" not in tags and "rot" not in tags


def test_fine_tuning_from_random_filters_never_ends_below_stage_1(tiny_prepared, tmp_path):
    # --model.weights none restarts the tag layer for stage 2 (a head fitted to random filters carries nothing into
    # training them); at a learning rate that cannot move it, no epoch comes near stage 1, whose model is kept.
    tmp_path = tmp_path / "run"
    shutil.copytree(tiny_prepared, tmp_path)
    run = ["--paths.run_dir", tmp_path]
    trained = run_script("train.py", *run, *TRAIN_FLAGS, "--train.finetune.unfreeze_layers", "5",
                         "--train.finetune.epochs", "1", "--train.finetune.learning_rate", "1e-9")
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "kept stage 1's model" in trained.stdout
    assert metrics["mAP"] == pytest.approx(metrics["stage1"]["head_mAP"], abs=1e-6)


@pytest.mark.parametrize("script, step", [("train.py", "prepare.py"), ("embed.py", "prepare.py"),
                                          ("cluster_tags.py", "prepare.py")])
def test_a_step_run_too_early_names_the_step_to_run(script, step, tmp_path):
    result = run_script(script, "--paths.run_dir", tmp_path)
    assert result.returncode == 1
    assert last_line(result.stderr) == (f"{script}: error: {tmp_path / 'manifest.csv'} is missing: "
                                        f"run {step} first (with the same --paths.run_dir).")
    assert "Traceback" not in result.stderr


def test_embed_before_train_names_train(trained_run, tmp_path):
    (tmp_path / "manifest.csv").write_bytes((trained_run / "manifest.csv").read_bytes())
    result = run_script("embed.py", "--paths.run_dir", tmp_path)
    assert result.returncode == 1
    assert "model.keras is missing: run train.py first" in result.stderr


def test_help_lists_settings_with_their_defaults():
    result = run_script("train.py", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for expected in ["--model.backbone str", "(default: efficientnetv2-l)", "--model.image_size int",
                     "(default: 384)", "(default: imagenet)", "--model.dropout float", "(default: 0.3)",
                     "--train.head.epochs int", "(default: 10)", "--train.finetune.unfreeze_layers int",
                     "--embed.engine", "--paths.run_dir Path", "efficientnetv2-s (384 px customary)",
                     "-q / --quiet leaves only warnings", "-v / --verbose adds debugging lines"]:
        assert expected in text
    assert "--cluster." not in text and "--data." not in text  # sections train.py does not read
    clustering = " ".join(run_script("cluster_tags.py", "--help").stdout.split())
    assert "--cluster.eps float" in clustering and "--cluster.min_samples int" in clustering


def test_settings_come_from_environment_and_dotenv(tmp_path):
    bad_env = run_script("train.py", env={"TAGGER_MODEL__BACKBONE": "alexnet"})
    assert bad_env.returncode == 2
    assert "setting model.backbone: unknown backbone 'alexnet'; known: efficientnetv2-l" in bad_env.stderr
    (tmp_path / ".env").write_text("TAGGER_MODEL__DROPOUT=1.5\n")
    bad_dotenv = run_script("train.py", cwd=tmp_path)
    assert bad_dotenv.returncode == 2
    assert "setting model.dropout: Input should be less than 1 (received" in bad_dotenv.stderr


def test_imagenet_weights_without_network_is_one_clear_line(tiny_prepared, tmp_path):
    shutil.copytree(tiny_prepared, tmp_path / "run")
    run = ["--paths.run_dir", tmp_path / "run"]
    # An empty Keras cache and a proxy nobody listens on: the download must fail here as offline.
    offline = {"KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
               "HTTP_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9"}
    result = run_script("train.py", *run, "--model.backbone", "mobilenetv2", "--model.image_size", "32",
                        env=offline)
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith("train.py: error: could not get the ImageNet weights for mobilenetv2")
    assert line.endswith("use --model.weights none or --model.weights /path/to/backbone.weights.h5")
    assert "Traceback" not in result.stderr
