"""The backbone table: name -> keras.applications constructor, preprocessing, sizes.

Keras is imported only when a backbone is built, so settings validation and
`--help` stay fast.
"""

from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    constructor: str  # attribute of keras.applications
    preprocessing: str  # a tagger.model.layers.PixelScaling mode; "builtin" when the model scales pixels itself
    default_image_size: int
    embedding_width: int
    builtin_preprocessing_flag: bool = False  # constructor takes include_preprocessing


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("efficientnetv2-l", "EfficientNetV2L", "builtin", 480, 1280, True),
        BackboneSpec("efficientnetv2-s", "EfficientNetV2S", "builtin", 384, 1280, True),
        BackboneSpec("efficientnetv2-b0", "EfficientNetV2B0", "builtin", 224, 1280, True),
        BackboneSpec("convnext-large", "ConvNeXtLarge", "builtin", 224, 1536, True),
        BackboneSpec("convnext-tiny", "ConvNeXtTiny", "builtin", 224, 768, True),
        BackboneSpec("resnet50", "ResNet50", "caffe", 224, 2048),
        BackboneSpec("mobilenetv2", "MobileNetV2", "tf", 224, 1280),
    ]
}


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise TaggerError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}") from None


def build_backbone(name: str, image_size: int, weights: str):
    """The backbone without its classifier, giving a feature map; weights: imagenet, none or a file."""
    import keras

    spec = get_backbone_spec(name)
    constructor = getattr(keras.applications, spec.constructor)
    options = {"include_top": False, "input_shape": (image_size, image_size, 3)}
    if spec.builtin_preprocessing_flag:
        options["include_preprocessing"] = True
    if weights == "imagenet":
        try:
            backbone = constructor(weights="imagenet", **options)
        except Exception as error:  # Keras raises plain Exception for a failed download
            raise TaggerError(
                f"could not get the ImageNet weights for {name} ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'no detail'}); without a network, use "
                "--model.weights none or --model.weights /path/to/backbone.weights.h5"
            ) from None
    else:
        backbone = constructor(weights=None, **options)
        if weights.lower() != "none":
            load_backbone_weights(backbone, Path(weights), name)
    backbone.name = "backbone"
    return backbone


def load_backbone_weights(backbone, path: Path, name: str) -> None:
    if not path.is_file():
        raise TaggerError(
            f"model.weights: {path} is not a file; give 'imagenet', 'none' or the path of a {name} weights file"
        )
    try:
        backbone.load_weights(str(path))
    except Exception as error:
        raise TaggerError(
            f"model.weights: {path} does not fit backbone {name} without its top "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
