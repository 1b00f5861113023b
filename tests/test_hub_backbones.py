"""keras-hub backbones (DINOv2, SigLIP, CLIP) through the tagger, with tiny random presets saved by
save_to_preset and loaded through the same code a downloaded preset takes (no weights can be fetched here)."""

import shutil

import numpy as np
import pytest
from conftest import child_hooks, last_line, run_script
from tiny_presets import PRESET_SIZE, TINY, save_tiny_preset

from tagger.errors import TaggerError
from tagger.model.backbones import BACKBONES
from tagger.settings import ModelSettings
from tagger.variants.legend import cut

FAMILY_ROWS = {"dinov2": "dinov2-reg-small", "siglip": "siglip2-base", "clip": "clip-base"}
# DINOv2 concatenates CLS and the patch mean; SigLIP's attention pooling and CLIP's CLS give one vector.
TINY_WIDTH = {"dinov2": 2 * TINY["hidden_dim"], "siglip": TINY["hidden_dim"], "clip": TINY["hidden_dim"]}


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {family: save_tiny_preset(family, root / family, seed=index, registers=2 if family == "dinov2" else 0)
            for index, family in enumerate(FAMILY_ROWS)}


def test_every_hub_row_names_a_preset_keras_hub_has():
    import keras_hub

    from tagger.model.hub import FAMILIES

    rows = [spec for spec in BACKBONES.values() if spec.is_hub]
    assert {spec.family for spec in rows} == {"dinov2", "siglip", "clip"}
    for spec in rows:
        assert spec.preset in getattr(keras_hub.models, FAMILIES[spec.family].backbone_class).presets, spec.name
        factor = 2 if spec.pooling == "cls+mean" else 1
        assert spec.embedding_width == factor * spec.architecture["hidden_dim"]
    assert BACKBONES["dinov2-giant"].embedding_width == 3072 and BACKBONES["siglip2-base"].embedding_width == 768


@pytest.mark.parametrize("family", list(FAMILY_ROWS))
def test_family_builds_fine_tunes_saves_loads_and_exports(family, presets, tmp_path):
    """At 48 px (the presets are 32 px: DINOv2 interpolates, SigLIP and CLIP get resized position tables)."""
    import keras
    import tensorflow as tf

    from tagger.model.convert import saved_model_to_onnx, write_saved_model
    from tagger.model.hub import transformer_blocks
    from tagger.model.inference import batch_function
    from tagger.model.network import backbone_of, build_tagger, embedding_model, load_tagger
    from tagger.train.stages import unfreeze_last_layers

    keras.utils.set_random_seed(0)
    tagger = build_tagger(ModelSettings(backbone=FAMILY_ROWS[family], image_size=48, weights=str(presets[family])), 3)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3)).astype(np.float32)
    embeddings = np.asarray(embedding_model(tagger)(pixels, training=False))
    assert embeddings.shape == (4, TINY_WIDTH[family]) and np.isfinite(embeddings).all()

    # Stage 2 with N = 1: the last transformer block (and what follows it) trains, the first does not.
    backbone = backbone_of(tagger)
    first, last = transformer_blocks(backbone)
    assert unfreeze_last_layers(backbone, 1, keep_batchnorm_frozen=True) == 1
    trainable = {id(variable) for variable in tagger.trainable_variables}
    assert all(id(variable) in trainable for variable in last.weights)
    assert not any(id(variable) in trainable for variable in first.weights)
    before = [variable.numpy() for variable in (*first.weights, *last.weights)]
    kernel = tagger.get_layer("tags").kernel  # zero at the start: no gradient would reach the backbone
    kernel.assign(np.random.default_rng(1).normal(size=kernel.shape).astype(np.float32))
    tagger.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    tagger.fit(pixels, np.eye(4, 3, dtype=np.float32), epochs=1, batch_size=4, verbose=0)
    after = [variable.numpy() for variable in (*first.weights, *last.weights)]
    changed = [not np.array_equal(old, new) for old, new in zip(before, after)]
    assert not any(changed[:len(first.weights)]) and any(changed[len(first.weights):])

    tagger.save(tmp_path / "model.keras")
    loaded = load_tagger(tmp_path / "model.keras")  # safe mode
    expected = np.asarray(tagger(pixels, training=False))
    np.testing.assert_array_equal(np.asarray(loaded(pixels, training=False)), expected)
    np.testing.assert_allclose(batch_function(loaded, "function")(pixels), expected, atol=1e-5)

    write_saved_model(loaded, tmp_path / "saved_model")
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # held: its functions need its variables
    served = reloaded.serve(tf.constant(pixels)).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    if family != "dinov2":  # ONNX conversion is slow; DINOv2's exact GELU (Erfc) is the case that needs a rule
        return
    import onnxruntime

    saved_model_to_onnx(tmp_path / "saved_model", tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_scores = session.run(None, {session.get_inputs()[0].name: pixels})[0]
    np.testing.assert_allclose(onnx_scores, expected, atol=1e-4)


def test_preset_pixel_scaling_is_the_converters(presets):
    from tagger.model.network import build_tagger

    tagger = build_tagger(ModelSettings(backbone="dinov2-small", image_size=PRESET_SIZE, weights=str(presets["dinov2"])), 2)
    config = tagger.get_layer("pixel_scaling").get_config()
    assert config["scale"] == [1 / 255.0] * 3 and config["offset"] == [-0.5, -0.4, -0.3]
    random = build_tagger(ModelSettings(backbone="siglip-base", image_size=PRESET_SIZE, weights="none"), 2)
    assert random.get_layer("pixel_scaling").get_config()["offset"] == [-1.0] * 3


def test_weights_that_are_no_preset_folder_say_what_to_give(presets, tmp_path):
    from tagger.model.network import build_tagger

    with pytest.raises(TaggerError) as error:
        build_tagger(ModelSettings(backbone="clip-base", image_size=32, weights=str(tmp_path / "nothing")), 2)
    assert str(error.value) == (f"model.weights: {tmp_path / 'nothing'} is not a folder; for clip-base give "
                                "'pretrained' (the preset clip_vit_base_patch16, downloaded once), 'none', or a "
                                "local preset folder")
    with pytest.raises(TaggerError, match=r"does not hold a CLIPBackbone preset for clip-base \(ValueError"):
        build_tagger(ModelSettings(backbone="clip-base", image_size=32, weights=str(presets["dinov2"])), 2)


def test_text_route_needs_the_images_to_agree():
    from tagger.variants.rule import PairEvidence
    from tagger.variants.text_evidence import with_text_route

    def evidence(visual, overlap):
        count = len(visual)
        return PairEvidence(first=np.zeros(count, int), second=np.ones(count, int), visual=np.array(visual),
                            context=np.full(count, np.nan), spelling=np.zeros(count), overlap=np.array(overlap))

    scores = np.array([0.0, 0.1, 0.1, 0.1])
    text = np.array([1.0, 1.0, 0.7, 1.0])
    raised = with_text_route(scores, evidence([0.9, 0.3, 0.6, 0.6], [0.0, 0.0, 0.0, 0.5]), text)
    # full text and full visual agreement: 1; visual at the floor: nothing added; half-way text: half;
    # tags sharing half their images: a quarter of the support.
    np.testing.assert_allclose(raised, [1.0, 0.1, 1 - 0.9 * 0.5, 1 - 0.9 * 0.75])


def test_text_vectors_come_from_the_presets_text_tower(presets):
    from tagger.variants.text_evidence import tag_text_vectors

    vectors = tag_text_vectors(ModelSettings(backbone="siglip-base", weights=str(presets["siglip"])),
                               ["cat", "dog", "cat", "red car"])
    assert vectors.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])  # the same name, the same vector
    assert vectors[0] @ vectors[1] < 0.999
    with pytest.raises(TaggerError, match="needs a backbone with a text tower"):
        tag_text_vectors(ModelSettings(backbone="dinov2-small", weights=str(presets["dinov2"])), ["cat"])


@pytest.fixture(scope="module")
def prepared_run(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("hub") / "run"
    result = run_script("prepare.py", "--paths.run_dir", run_dir, "--data.source", tiny_dataset / "tags.csv",
                        "--data.min_tag_occurrences", "3")
    assert result.returncode == 0, result.stderr
    return run_dir


def test_pretrained_preset_without_network_is_one_line(prepared_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(prepared_run, run_dir)
    result = run_script("train.py", "--paths.run_dir", run_dir, "--model.backbone", "dinov2-small",
                        "--model.image_size", "32", env=child_hooks(network_log=tmp_path / "network.jsonl"))
    assert result.returncode != 0
    line = last_line(result.stderr)
    assert line.startswith("train.py: error: could not get the keras-hub preset dinov2_small for dinov2-small (")
    assert line.endswith("without a network, use --model.weights none or the folder of a downloaded preset")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("family", ["siglip", "clip"])
def test_text_tower_run_through_the_pipeline(family, prepared_run, presets, tmp_path):
    """train.py (stage 1) -> embed.py -> cluster_tags.py with the tag names' text evidence, offline; the text
    cosine of every proposed pair is in synonyms.json/.csv, review.csv and synonyms.html, and is the cosine of
    the preset's text embeddings. Stage 2 by transformer blocks, export, engines and safe-mode loading are
    tested per family above."""
    import csv
    import html
    import json

    from tagger import runfolder
    from tagger.variants.legend import TEXT_LEGEND
    from tagger.variants.review import read_review
    from tagger.variants.rule import RARE_SPELLING
    from tagger.variants.step import distinguishable_tags
    from tagger.variants.text_evidence import tag_text_vectors

    run_dir = tmp_path / "run"
    shutil.copytree(prepared_run, run_dir)
    network = child_hooks(network_log=tmp_path / "network.jsonl")
    steps = [
        ("train.py", ["--model.backbone", FAMILY_ROWS[family], "--model.weights", presets[family],
                      "--model.image_size", "32", "--train.head.epochs", "1"]),
        ("embed.py", []),
        ("cluster_tags.py", ["--cluster.text_evidence", "true"]),
    ]
    for script, flags in steps:
        result = run_script(script, "--paths.run_dir", run_dir, *flags, env=network)
        assert result.returncode == 0, f"{script}:\n{result.stdout}\n{result.stderr}"
    embeddings = np.load(run_dir / "embeddings.npy")
    assert embeddings.shape == (len((run_dir / "manifest.csv").read_text().splitlines()) - 1, TINY["hidden_dim"])

    # The cosine computed directly: the text tower over the tags cluster_tags.py compares.
    vocabulary = runfolder.read_vocabulary(run_dir)
    vocabulary = [vocabulary[i] for i in distinguishable_tags(
        runfolder.read_manifest(run_dir).tag_image_matrix(vocabulary))]
    vectors = tag_text_vectors(ModelSettings(backbone=FAMILY_ROWS[family], weights=str(presets[family])), vocabulary)
    position = {tag: index for index, tag in enumerate(vocabulary)}

    def cosine(first, second):
        return float(vectors[position[first]] @ vectors[position[second]])

    synonyms = json.loads((run_dir / "synonyms.json").read_text())
    members = [(group["canonical"], member) for group in synonyms["groups"] for member in group["members"][1:]]
    assert members  # the demo's planted spellings (rings, sqaure) are proposed
    for canonical, member in members:
        assert member["text"] == pytest.approx(cosine(canonical, member["tag"]), abs=1e-6)
    for miss in synonyms["near_misses"]:
        if miss["flag"] == RARE_SPELLING:  # a tag under min_tag_occurrences: the text tower read no rare name
            assert miss["text"] is None
        else:
            assert miss["text"] == pytest.approx(cosine(miss["canonical"], miss["variant"]), abs=1e-6)
    with (run_dir / "synonyms.csv").open() as file:
        for row in csv.DictReader(file):
            if row["tag"] != row["canonical"]:
                assert float(row["text"]) == pytest.approx(cosine(row["canonical"], row["tag"]), abs=1e-6)

    header = (run_dir / "review.csv").read_text().splitlines()[0]
    assert ",overlap,text,probe,spelled,canonical_count," in header
    proposed = [row for row in read_review(run_dir / "review.csv") if row["group"]]
    assert len(proposed) == len(members)
    for row in read_review(run_dir / "review.csv"):
        if row["flag"] == RARE_SPELLING:
            assert row["text"] == ""
            continue
        # Cut down to 4 decimals (tagger.variants.legend.cut): at most a last place under the cosine, never over it
        # but by the cut's 1e-6 allowance for float32.
        assert -2e-6 <= cosine(row["canonical"], row["variant"]) - float(row["text"]) < 1.01e-4

    page = (run_dir / "synonyms.html").read_text()
    assert f"<dt>text</dt><dd>{html.escape(TEXT_LEGEND['text'])}</dd>" in page
    canonical, member = members[0]
    assert f"<td>{member['tag']}</td><td>{member['count']}</td>" in page
    row = page.split(f"<td>{member['tag']}</td><td>{member['count']}</td>", 1)[1].split("</tr>", 1)[0]
    cells = [cell.split("</td>")[0] for cell in row.split("<td>")[1:]]
    assert cells[6] == cut(cosine(canonical, member['tag']))  # confidence, score, visual, context, spelling, overlap, text
