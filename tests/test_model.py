"""Backbones, the tagger model, and save/load, with real Keras."""

import importlib.util

import numpy as np
import pytest

from tagger.errors import TaggerError
from tagger.model.backbones import BACKBONES, build_backbone, get_backbone_spec
from tagger.settings import ModelSettings


# keras-hub rows (a giant DINOv2 has a billion weights) are built small in tests/test_hub_backbones.py.
@pytest.mark.parametrize("name", [name for name, spec in BACKBONES.items() if not spec.is_hub])
def test_every_backbone_builds_and_gives_its_embedding_width(name):
    import keras

    from tagger.model.network import build_tagger, embedding_model

    keras.utils.set_random_seed(0)
    tagger = build_tagger(ModelSettings(backbone=name, image_size=32, weights="none"), tag_count=3)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    probabilities = np.asarray(tagger(pixels, training=False))
    embeddings = np.asarray(embedding_model(tagger)(pixels, training=False))
    assert probabilities.shape == (2, 3)
    assert np.isfinite(probabilities).all() and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert embeddings.shape == (2, BACKBONES[name].embedding_width)


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(TaggerError) as error:
        get_backbone_spec("vgg16")
    assert str(error.value) == f"unknown backbone 'vgg16'; known: {', '.join(BACKBONES)}"


def test_weights_from_a_file_are_loaded(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    source = build_backbone("mobilenetv2", 32, "none")
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(2)  # a different random start, so equality proves loading
    loaded = build_backbone("mobilenetv2", 32, str(path))
    for expected, actual in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(expected, actual)


def test_weights_file_that_does_not_fit_is_a_clear_error(tmp_path):
    path = tmp_path / "other.weights.h5"
    build_backbone("efficientnetv2-b0", 32, "none").save_weights(path)
    with pytest.raises(TaggerError, match="does not fit backbone mobilenetv2"):
        build_backbone("mobilenetv2", 32, str(path))
    with pytest.raises(TaggerError, match="is not a file"):
        build_backbone("mobilenetv2", 32, str(tmp_path / "missing.weights.h5"))


def test_a_whole_saved_model_given_as_backbone_weights_is_one_clear_line(tmp_path, recwarn):
    import keras

    # An earlier run's model.keras is a plausible mistake: Keras warned once per layer it could not place.
    saved = tmp_path / "model.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(saved)
    with pytest.raises(TaggerError, match="is a whole saved model, not backbone weights"):
        build_backbone("mobilenetv2", 32, str(saved))
    assert [str(warning.message) for warning in recwarn if "Skipping" in str(warning.message)] == []


def test_saved_model_loads_back_with_the_same_predictions(tmp_path):
    import keras

    from tagger.model.network import build_tagger, embedding_model, load_tagger

    keras.utils.set_random_seed(3)
    tagger = build_tagger(ModelSettings(backbone="resnet50", image_size=32, weights="none"), tag_count=4)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    tagger.save(tmp_path / "model.keras")
    loaded = load_tagger(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), tagger.predict(pixels, verbose=0), atol=1e-6)
    np.testing.assert_allclose(embedding_model(loaded).predict(pixels, verbose=0),
                               embedding_model(tagger).predict(pixels, verbose=0), atol=1e-5)


def test_pixel_scaling_matches_keras_own_preprocessing():
    import keras

    from tagger.model.layers import PixelScaling

    pixels = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(PixelScaling("caffe")(pixels),
                               keras.applications.resnet50.preprocess_input(pixels.copy()), atol=1e-4)
    np.testing.assert_allclose(PixelScaling("tf")(pixels),
                               keras.applications.mobilenet_v2.preprocess_input(pixels.copy()), atol=1e-6)
    assert get_backbone_spec("efficientnetv2-s").preprocessing == "builtin"


def test_cosine_tag_layer_saves_loads_in_safe_mode_and_runs_on_every_engine(tmp_path):
    """model.tag_layer cosine: sigmoid(scale x cos + bias), as computed here by hand; model.keras round trip in
    safe mode, and the same scores from the function, ONNX and OpenVINO engines."""
    import keras

    from tagger.model.inference import batch_function
    from tagger.model.layers import CosineTags
    from tagger.model.network import (
        TAGS_LAYER,
        build_tagger,
        embedding_model,
        load_tagger,
        tag_layer_weights,
    )

    keras.utils.set_random_seed(4)
    tagger = build_tagger(ModelSettings(backbone="mobilenetv2", image_size=32, weights="none", tag_layer="cosine"), 5)
    layer = tagger.get_layer(TAGS_LAYER)
    assert isinstance(layer, CosineTags)
    layer.log_scale.assign(np.log(7.0))
    layer.bias.assign(np.linspace(-2, 1, 5).astype(np.float32))
    pixels = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    scores = tagger.predict(pixels, verbose=0)

    features = embedding_model(tagger).predict(pixels, verbose=0).astype(np.float64)
    kernel = np.asarray(layer.kernel, np.float64)
    cosine = (features / np.linalg.norm(features, axis=1, keepdims=True)) @ (kernel / np.linalg.norm(kernel, axis=0))
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-(7.0 * cosine + np.linspace(-2, 1, 5)))), atol=1e-5)
    # head.npz's kernel: a Dense kernel for unit-length features (cluster_tags.py compares tags through it).
    dense_kernel, bias = tag_layer_weights(tagger)
    np.testing.assert_allclose(features / np.linalg.norm(features, axis=1, keepdims=True) @ dense_kernel + bias,
                               7.0 * cosine + np.linspace(-2, 1, 5), atol=1e-4)

    tagger.save(tmp_path / "model.keras")
    loaded = load_tagger(tmp_path / "model.keras")
    assert loaded.get_layer(TAGS_LAYER).get_config()["units"] == 5
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), scores, atol=1e-6)
    # OpenVINO is an optional extra (CI installs test and export only): checked where it is installed.
    engines = ["function", "onnx"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    for engine in engines:
        np.testing.assert_allclose(batch_function(loaded, engine)(pixels), scores, atol=1e-4, err_msg=engine)
