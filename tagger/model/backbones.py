"""The backbone table: name -> keras.applications constructor or keras-hub preset, preprocessing, sizes.

Keras is imported only when a backbone is built, so settings validation and
`--help` stay fast. keras-hub backbones (family dinov2, siglip, clip) are built by tagger.model.hub.
"""

import warnings
import zipfile
from dataclasses import dataclass, field
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
    family: str = "applications"  # or a keras-hub family of tagger.model.hub.FAMILIES
    preset: str = ""  # keras-hub preset name (hub families)
    pooling: str = "average"  # how the feature map or token sequence becomes the embedding
    architecture: dict = field(default_factory=dict)  # hub families: the preset's shape, for --model.weights none

    @property
    def is_hub(self) -> bool:
        return self.family != "applications"


def hub_entry(name, family, preset, size, architecture, pooling) -> BackboneSpec:
    """A keras-hub row: the embedding width follows from the pooling (cls+mean concatenates two vectors)."""
    width = architecture["hidden_dim"] * (2 if pooling == "cls+mean" else 1)
    return BackboneSpec(name, preset, "preset", size, width, family=family, preset=preset, pooling=pooling,
                        architecture=architecture)


def _vit(patch, layers, hidden, heads, intermediate, **extra) -> dict:
    return {"patch_size": patch, "num_layers": layers, "hidden_dim": hidden, "num_heads": heads,
            "intermediate_dim": intermediate, **extra}


# Published shapes of each preset (the preset's config.json wins whenever weights are loaded).
_DINOV2 = {"small": _vit(14, 12, 384, 6, 1536), "base": _vit(14, 12, 768, 12, 3072),
           "large": _vit(14, 24, 1024, 16, 4096), "giant": _vit(14, 40, 1536, 24, 6144, use_swiglu_ffn=True)}
_SIGLIP = {"base": _vit(16, 12, 768, 12, 3072), "large": _vit(16, 24, 1024, 16, 4096),
           "so400m": _vit(14, 27, 1152, 16, 4304), "giant": _vit(16, 40, 1536, 16, 6144)}
_CLIP = {"base": _vit(16, 12, 768, 12, 3072), "base-patch32": _vit(32, 12, 768, 12, 3072),
         "large": _vit(14, 24, 1024, 16, 4096),
         "huge": _vit(14, 32, 1280, 16, 5120, intermediate_activation="gelu")}

HUB_BACKBONES = [
    *(hub_entry(f"dinov2-{size}", "dinov2", f"dinov2_{size}", 224, shape, "cls+mean")
      for size, shape in _DINOV2.items()),
    *(hub_entry(f"dinov2-reg-{size}", "dinov2", f"dinov2_with_registers_{size}", 224,
                {**shape, "num_register_tokens": 4, "antialias_in_interpolation": True}, "cls+mean")
      for size, shape in _DINOV2.items()),
    hub_entry("siglip-base", "siglip", "siglip_base_patch16_224", 224, _SIGLIP["base"], "map"),
    hub_entry("siglip-base-multilingual", "siglip", "siglip_base_patch16_256_multilingual", 256, _SIGLIP["base"], "map"),
    hub_entry("siglip-large", "siglip", "siglip_large_patch16_256", 256, _SIGLIP["large"], "map"),
    hub_entry("siglip-so400m", "siglip", "siglip_so400m_patch14_224", 224, _SIGLIP["so400m"], "map"),
    hub_entry("siglip2-base", "siglip", "siglip2_base_patch16_224", 224, _SIGLIP["base"], "map"),
    hub_entry("siglip2-large", "siglip", "siglip2_large_patch16_256", 256, _SIGLIP["large"], "map"),
    hub_entry("siglip2-so400m", "siglip", "siglip2_so400m_patch14_224", 224, _SIGLIP["so400m"], "map"),
    hub_entry("siglip2-giant", "siglip", "siglip2_giant_opt_patch16_256", 256, _SIGLIP["giant"], "map"),
    hub_entry("clip-base", "clip", "clip_vit_base_patch16", 224, _CLIP["base"], "cls"),
    hub_entry("clip-base-patch32", "clip", "clip_vit_base_patch32", 224, _CLIP["base-patch32"], "cls"),
    hub_entry("clip-large", "clip", "clip_vit_large_patch14", 224, _CLIP["large"], "cls"),
    hub_entry("clip-huge", "clip", "clip_vit_h_14_laion2b_s32b_b79k", 224, _CLIP["huge"], "cls"),
]

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
        *HUB_BACKBONES,
    ]
}


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise TaggerError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}") from None


def build_backbone(name: str, image_size: int, weights: str):
    """The backbone without its classifier, giving a feature map; weights: imagenet, none or a file.

    keras-hub backbones give a token sequence (or SigLIP's pooled vector); see tagger.model.hub.
    """
    import keras

    spec = get_backbone_spec(name)
    if spec.is_hub:
        from tagger.model.hub import build_hub_backbone

        return build_hub_backbone(spec, image_size, weights).backbone
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
            f"model.weights: {path} is not a file; give 'imagenet', 'none' or the path of a weights file for {name}"
        )
    if zipfile.is_zipfile(path):  # a whole saved model (an earlier run's model.keras): Keras would warn per layer
        raise TaggerError(
            f"model.weights: {path} is a whole saved model, not backbone weights; give 'imagenet', 'none' or a "
            f"{name} weights file without its top (.weights.h5, as keras.applications saves one)"
        )
    try:
        with warnings.catch_warnings():  # a file that does not fit is refused below in one line, not per layer
            warnings.simplefilter("ignore")
            backbone.load_weights(str(path))
    except Exception as error:
        raise TaggerError(
            f"model.weights: {path} does not fit backbone {name} without its top "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
