"""The tagger model: pixels -> backbone -> pooled embedding -> dropout -> sigmoid over tags."""

import zipfile
from pathlib import Path

import keras
import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.model.backbones import build_backbone, get_backbone_spec
from tagger.model.layers import CosineTags, PixelScaling
from tagger.settings import ModelSettings

EMBEDDING_LAYER = "embedding"
DROPOUT_LAYER = "head_dropout"
TAGS_LAYER = "tags"


def build_tagger(model_settings: ModelSettings, tag_count: int) -> keras.Model:
    """A model from 0-255 RGB images of model.image_size to one probability per tag."""
    spec = get_backbone_spec(model_settings.backbone)
    size = model_settings.image_size
    pixels = keras.Input((size, size, 3), name="pixels")
    if spec.is_hub:  # a keras-hub tower: the preset's pixel scaling, tokens pooled as the table says
        from tagger.model.hub import build_hub_backbone

        parts = build_hub_backbone(spec, size, model_settings.weights)
        embedding = parts.pooling(parts.backbone({"images": parts.preprocessing(pixels)}))
    else:
        backbone = build_backbone(spec.name, size, model_settings.weights)
        feature_map = backbone(PixelScaling(spec.preprocessing, name="pixel_scaling")(pixels))
        embedding = keras.layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(feature_map)
    dropped = keras.layers.Dropout(model_settings.dropout, name=DROPOUT_LAYER)(embedding)
    # The head is kept in float32 so probabilities stay exact under mixed precision. Zero initial
    # weights: with few images per tag, random ones leave noise in directions no image ever corrects.
    if model_settings.tag_layer == "cosine":
        probabilities = CosineTags(tag_count, name=TAGS_LAYER)(dropped)
    else:
        probabilities = keras.layers.Dense(tag_count, activation="sigmoid", dtype="float32",
                                           kernel_initializer="zeros", name=TAGS_LAYER)(dropped)
    return keras.Model(pixels, probabilities, name="tagger")


def embedding_model(tagger: keras.Model) -> keras.Model:
    """The same network cut at the pooled embedding (before dropout and the tag layer)."""
    return keras.Model(tagger.inputs, tagger.get_layer(EMBEDDING_LAYER).output, name="embedder")


def head_model(tagger: keras.Model, feature_scale: float = 1.0) -> keras.Model:
    """The tagger's own dropout and tag layers, fed pooled embeddings: trains the head on cached features.

    With feature_scale, the features are multiplied by it first, and the tag layer's kernel holds weights
    for scaled features until fold_feature_scale puts them back in the tagger's terms.
    """
    width = tagger.get_layer(EMBEDDING_LAYER).output.shape[-1]
    features = keras.Input((width,), name="features")
    scaled = keras.layers.Rescaling(feature_scale, name="feature_scale")(features) if feature_scale != 1.0 else features
    dropped = tagger.get_layer(DROPOUT_LAYER)(scaled)
    return keras.Model(features, tagger.get_layer(TAGS_LAYER)(dropped), name="head")


def fold_feature_scale(tagger: keras.Model, feature_scale: float) -> None:
    """Kernel for scaled features -> kernel for the raw features the tagger feeds it: W x s = (s W) x.
    (The cosine tag layer is blind to both scales: for it this changes nothing.)"""
    kernel = tagger.get_layer(TAGS_LAYER).kernel
    kernel.assign(kernel * feature_scale)


def tag_layer_weights(tagger: keras.Model) -> tuple:
    """The tag layer as a Dense layer's kernel and bias; the cosine layer's kernel for unit-length features."""
    layer = tagger.get_layer(TAGS_LAYER)
    kernel = layer.logit_kernel() if isinstance(layer, CosineTags) else np.asarray(layer.kernel)
    return kernel, np.asarray(layer.bias)


def backbone_of(tagger: keras.Model) -> keras.Model:
    return tagger.get_layer("backbone")


def load_tagger(path: Path) -> keras.Model:
    """Loads model.keras in Keras safe mode (no arbitrary code runs)."""
    if uses_keras_hub(path):  # its tower's class is registered when keras-hub is imported
        from tagger.model.hub import keras_hub_module

        keras_hub_module()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError, zipfile.BadZipFile) as error:
        # A crafted or damaged file fails deep inside Keras with any of these; the user needs one line.
        if "Lambda" in str(error) or "safe_mode" in str(error):
            # Keras's own advice here (turn safe mode off) is the one thing not to do with a file of unknown origin.
            raise TaggerError(f"cannot load {path}: it holds Python code (a Lambda layer), which is never run; "
                              "train.py's models hold none, so this file did not come from train.py") from None
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise TaggerError(f"cannot load {path}: it is damaged or did not come from train.py "
                          f"({type(error).__name__}: {first_line})") from None


def uses_keras_hub(path: Path) -> bool:
    """Whether model.keras holds a keras-hub backbone (its config names a keras_hub class)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return b'"keras_hub' in archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False  # load_model reports what is wrong with the file


def model_image_size(tagger: keras.Model, run_dir: Path) -> int:
    """The side the model was trained at: its input shape, or settings.train.json where the shape is open."""
    side = tagger.input_shape[1]
    return int(side if side is not None else runfolder.trained_model_settings(run_dir).image_size)
