"""keras-hub backbones (DINOv2, SigLIP / SigLIP2, CLIP vision towers) for the backbone table.

A row of tagger.model.backbones names a keras-hub preset. `--model.weights` then means:
imagenet or pretrained: the preset's own weights (keras-hub downloads them once into its cache);
a folder: a local preset (what `save_to_preset` writes, or a downloaded preset), read offline;
none: the row's architecture with random weights.

The tower is wrapped the way keras.applications backbones are: a PixelAffine layer in front (the preset
image converter's scale and offset, so model.keras takes 0-255 pixels like every other tagger) and a
TokenPooling layer after it. Both are registered tagger layers; the tower is a registered keras-hub class,
so model.keras loads in safe mode wherever keras-hub is installed.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError

log = logging.getLogger(__name__)

PRETRAINED = ("imagenet", "pretrained")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN, OPENAI_CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _normalization(mean, std) -> tuple[tuple, tuple]:
    """(scale, offset) on 0-255 pixels for (pixel / 255 - mean) / std, the form keras-hub converters store."""
    return tuple(1.0 / (255.0 * s) for s in std), tuple(-m / s for m, s in zip(mean, std))


@dataclass(frozen=True)
class HubFamily:
    backbone_class: str  # keras_hub.models class a preset of this family holds
    tower_class: str  # keras_hub.models class of the image tower
    pixel_scale: tuple  # used when a preset carries no image converter, and for random weights
    pixel_offset: tuple
    text_preprocessor: str = ""  # keras_hub.models preprocessor of the text tower ("" : no text tower)
    prompt: str = "{}"  # how a tag name is put to the text tower

    def vision_tower(self, loaded):
        """The image tower inside what the preset holds (SigLIP and CLIP presets hold both towers)."""
        return getattr(loaded, "vision_encoder", loaded)


FAMILIES = {
    "dinov2": HubFamily("DINOV2Backbone", "DINOV2Backbone", *_normalization(IMAGENET_MEAN, IMAGENET_STD)),
    "siglip": HubFamily("SigLIPBackbone", "SigLIPVisionEncoder", (1 / 127.5,) * 3, (-1.0,) * 3,
                        text_preprocessor="SigLIPPreprocessor", prompt="a photo of {}."),
    "clip": HubFamily("CLIPBackbone", "CLIPVisionEncoder", *_normalization(OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
                      text_preprocessor="CLIPPreprocessor", prompt="a photo of {}."),
}


@dataclass
class HubParts:
    backbone: object  # the image tower, named "backbone"
    preprocessing: object  # PixelAffine
    pooling: object  # TokenPooling, named as the tagger's embedding layer


def keras_hub_module():
    try:
        import keras_hub
    except ImportError:
        raise TaggerError("keras-hub backbones need keras-hub: pip install -e '.[hub]'") from None
    return keras_hub


def preset_source(spec, weights: str) -> str | None:
    """The preset to load (a name or a local folder), or None for random weights."""
    if weights.lower() == "none":
        return None
    if weights.lower() in PRETRAINED:
        return spec.preset
    folder = Path(weights).expanduser()
    if not folder.is_dir():
        raise TaggerError(f"model.weights: {weights} is not a folder; for {spec.name} give 'pretrained' (the preset "
                          f"{spec.preset}, downloaded once), 'none', or a local preset folder")
    return str(folder)


def load_preset_backbone(spec, preset: str, image_size: int | None = None):
    """The preset's whole keras-hub backbone (SigLIP / CLIP: both towers), as keras-hub loads it.

    image_size: DINOv2 only, which interpolates its position embeddings to any size by itself."""
    keras_hub = keras_hub_module()
    family = FAMILIES[spec.family]
    options = {"image_shape": (image_size, image_size, 3)} if image_size and spec.family == "dinov2" else {}
    try:
        return getattr(keras_hub.models, family.backbone_class).from_preset(preset, **options)
    except Exception as error:  # kagglehub raises requests' ConnectionError offline, keras-hub ValueError on a wrong folder
        detail = str(error).splitlines()[0][:200] if str(error) else "no detail"
        if Path(preset).is_dir():
            raise TaggerError(f"model.weights: {preset} does not hold a {family.backbone_class} preset for "
                              f"{spec.name} ({type(error).__name__}: {detail})") from None
        raise TaggerError(f"could not get the keras-hub preset {preset} for {spec.name} ({type(error).__name__}: "
                          f"{detail}); without a network, use --model.weights none or the folder of a downloaded "
                          "preset") from None


def preset_pixel_scaling(spec, preset: str | None) -> tuple[tuple, tuple]:
    """(scale, offset) of the preset's image converter on 0-255 pixels; the family's own without one."""
    family = FAMILIES[spec.family]
    if preset is None:
        return family.pixel_scale, family.pixel_offset
    keras_hub = keras_hub_module()
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except Exception:  # a preset saved without its converter: the family's published normalization
        log.info(f"note: {preset} has no image converter; using {spec.family}'s published pixel normalization")
        return family.pixel_scale, family.pixel_offset
    return _per_channel(converter.scale, 1.0), _per_channel(converter.offset, 0.0)


def _per_channel(value, absent: float) -> tuple:
    if value is None:
        return (absent,) * 3
    values = np.broadcast_to(np.asarray(value, np.float64).ravel(), (3,))
    return tuple(float(item) for item in values)


def build_hub_backbone(spec, image_size: int, weights: str) -> HubParts:
    """The image tower at image_size with its pixel scaling and pooling layers."""
    from tagger.model.layers import PixelAffine, TokenPooling
    from tagger.model.network import EMBEDDING_LAYER

    preset = preset_source(spec, weights)
    if preset is None:
        tower = random_tower(spec, image_size)
    else:
        loaded = load_preset_backbone(spec, preset, image_size)
        tower = at_image_size(FAMILIES[spec.family].vision_tower(loaded), image_size)
    scale, offset = preset_pixel_scaling(spec, preset)
    tower.name = "backbone"
    skipped = 1 + int(getattr(tower, "num_register_tokens", 0) or 0)  # CLS, then DINOv2's registers
    return HubParts(backbone=tower, preprocessing=PixelAffine(scale, offset, name="pixel_scaling"),
                    pooling=TokenPooling(spec.pooling, skipped, name=EMBEDDING_LAYER))


def random_tower(spec, image_size: int):
    """The row's architecture with random weights (no download)."""
    keras_hub = keras_hub_module()
    options = dict(spec.architecture)
    if spec.family == "dinov2":
        options.setdefault("position_embedding_shape", (518, 518, 3))  # DINOv2's own: interpolated to any size
    return getattr(keras_hub.models, FAMILIES[spec.family].tower_class)(image_shape=(image_size, image_size, 3),
                                                                       **options)


def at_image_size(tower, image_size: int):
    """The tower for image_size x image_size inputs: DINOv2 interpolates its position embeddings itself;
    SigLIP and CLIP hold one per patch of their training size, resized here (bicubic, as timm does)."""
    current = tower.image_shape[0] if tower.image_shape[0] is not None else image_size
    if current == image_size:
        return tower
    patch = tower.patch_size
    if image_size % patch:
        raise TaggerError(f"model.image_size {image_size} is not a multiple of the backbone's patch size {patch}")
    config = {**tower.get_config(), "image_shape": (image_size, image_size, 3)}
    resized = type(tower).from_config(config)
    weights = []
    for old, new in zip(tower.weights, resized.weights, strict=True):
        value = old.numpy()
        if tuple(old.shape) != tuple(new.shape):
            value = new.numpy() if "position_ids" in old.path else _resized_positions(value, tuple(new.shape))
        weights.append(value)
    resized.set_weights(weights)
    return resized


def _resized_positions(table: np.ndarray, shape: tuple) -> np.ndarray:
    """A (tokens x width) position table for another grid; a leading CLS row (CLIP) is kept as it is."""
    import tensorflow as tf

    old_grid, new_grid = int(np.sqrt(table.shape[0])), int(np.sqrt(shape[0]))
    prefix = table.shape[0] - old_grid**2
    grid = table[prefix:].reshape(1, old_grid, old_grid, -1)
    resized = tf.image.resize(grid, (new_grid, new_grid), method="bicubic").numpy().reshape(new_grid**2, -1)
    return np.concatenate([table[:prefix], resized]).astype(table.dtype)


def transformer_blocks(backbone) -> list | None:
    """The tower's transformer blocks in order, or None for a backbone that is not a keras-hub tower."""
    encoder = getattr(backbone, "encoder", None)  # DINOv2: one encoder layer holding its blocks
    if encoder is not None and hasattr(encoder, "layers") and type(backbone).__name__ == "DINOV2Backbone":
        return list(encoder.layers)
    blocks = getattr(backbone, "encoder_layers", None)  # SigLIP and CLIP vision encoders
    return list(blocks) if blocks is not None else None


def unfreeze_last_blocks(backbone, count: int) -> int:
    """Makes the last `count` transformer blocks trainable, and every layer after them (final LayerNorm,
    SigLIP's attention pooling); the patch embedding and earlier blocks stay frozen. Returns the blocks."""
    blocks = transformer_blocks(backbone)
    chosen = blocks[len(blocks) - min(count, len(blocks)):]
    backbone.trainable = True
    frozen = {id(block) for block in blocks[:len(blocks) - len(chosen)]}
    for layer in backbone.layers:
        if layer is getattr(backbone, "encoder", None):  # DINOv2: freeze inside the encoder, block by block
            continue
        if layer in blocks or not layer.weights:
            continue
        # Layers before the first block (patch and position embeddings, CLIP's pre-LayerNorm) stay frozen
        # unless every block is unfrozen; layers after the blocks train with them.
        layer.trainable = _comes_after_blocks(backbone, layer) or len(chosen) == len(blocks)
    for block in blocks:
        block.trainable = id(block) not in frozen
    return len(chosen)


def _comes_after_blocks(backbone, layer) -> bool:
    names = ("layernorm", "post_layer_norm", "layer_norm", "head")
    return any(layer.name.endswith(name) for name in names) and "pre_layer_norm" not in layer.name
