"""Layers saved inside model.keras; registered so Keras safe mode loads them."""

import keras
import numpy as np

# ImageNet channel means in RGB order, used by caffe-style models (ResNet50).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="tagger")
class PixelScaling(keras.layers.Layer):
    """Turns 0-255 RGB pixels into what a backbone expects.

    mode "tf": [-1, 1] (MobileNetV2); "caffe": BGR minus ImageNet means (ResNet50);
    "builtin": unchanged, the backbone scales pixels itself (EfficientNetV2, ConvNeXt).
    """

    MODES = ("tf", "caffe", "builtin")

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"PixelScaling mode must be one of {self.MODES}. Received mode={mode!r}")
        self.mode = mode

    def call(self, pixels):
        pixels = keras.ops.cast(pixels, self.compute_dtype)
        if self.mode == "tf":
            return pixels / 127.5 - 1.0
        if self.mode == "caffe":
            centered = pixels - keras.ops.convert_to_tensor(CAFFE_MEAN_RGB, dtype=self.compute_dtype)
            return keras.ops.flip(centered, axis=-1)
        return pixels

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="tagger")
class PixelAffine(keras.layers.Layer):
    """0-255 RGB pixels -> pixels x scale + offset, per channel: a keras-hub preset's image converter
    without its resizing (the tagger's images already have the model's size)."""

    def __init__(self, scale, offset, **kwargs):
        super().__init__(**kwargs)
        self.scale = tuple(float(value) for value in scale)
        self.offset = tuple(float(value) for value in offset)
        if len(self.scale) != 3 or len(self.offset) != 3:
            raise ValueError(f"PixelAffine needs 3 scales and 3 offsets. Received scale={scale}, offset={offset}")

    def call(self, pixels):
        pixels = keras.ops.cast(pixels, self.compute_dtype)
        scale = keras.ops.convert_to_tensor(self.scale, dtype=self.compute_dtype)
        offset = keras.ops.convert_to_tensor(self.offset, dtype=self.compute_dtype)
        return pixels * scale + offset

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale), "offset": list(self.offset)}


@keras.saving.register_keras_serializable(package="tagger")
class TokenPooling(keras.layers.Layer):
    """A transformer's output -> one embedding per image.

    mode "cls": the first token; "mean": the mean of the patch tokens (after `prefix_tokens`: CLS and
    registers); "cls+mean": both concatenated (DINOv2's linear-probe features); "map": the tower pooled
    already (SigLIP's attention pooling head), passed through; "average": a CNN feature map's spatial mean.
    Computed in float32, like the GlobalAveragePooling2D it stands in for.
    """

    MODES = ("cls", "mean", "cls+mean", "map", "average")

    def __init__(self, mode: str, prefix_tokens: int = 1, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"TokenPooling mode must be one of {self.MODES}. Received mode={mode!r}")
        self.mode = mode
        self.prefix_tokens = int(prefix_tokens)

    def call(self, tokens):
        tokens = keras.ops.cast(tokens, "float32")
        if self.mode == "map":
            return tokens
        if self.mode == "average":
            return keras.ops.mean(tokens, axis=(1, 2))
        cls = tokens[:, 0]
        mean = keras.ops.mean(tokens[:, self.prefix_tokens:], axis=1)
        if self.mode == "cls":
            return cls
        if self.mode == "mean":
            return mean
        return keras.ops.concatenate([cls, mean], axis=-1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "prefix_tokens": self.prefix_tokens}


@keras.saving.register_keras_serializable(package="tagger")
class CosineTags(keras.layers.Layer):
    """The cosine tag layer (model.tag_layer cosine): sigmoid(scale x cos(features, tag weights) + bias).

    Features and each tag's weight column are L2-normalized, so a tag scores by direction alone and a rare tag's
    weights cannot grow to make up for few images; the scale (one for all tags, learned as its logarithm, as
    ArcFace's s but trained) sets how sharp the probabilities are. No margin: with sigmoid over tags there is no
    other class in the same softmax to push away from. kernel and bias have Dense's names and shapes, so code
    that starts or reads the tag layer treats both alike.
    """

    def __init__(self, units: int, start_scale: float = 10.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if units < 1 or start_scale <= 0:
            raise ValueError(f"CosineTags needs units >= 1 and start_scale > 0. Received units={units}, "
                             f"start_scale={start_scale}")
        self.units = int(units)
        self.start_scale = float(start_scale)

    def build(self, input_shape):
        # Random, not zero, weights: a zero column has no direction to normalize.
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.log_scale = self.add_weight(shape=(), name="log_scale",
                                         initializer=keras.initializers.Constant(float(np.log(self.start_scale))))

    def call(self, features):
        features = keras.ops.cast(features, "float32")
        cosine = keras.ops.matmul(unit_rows(features), unit_rows(self.kernel, axis=0))
        return keras.ops.sigmoid(keras.ops.exp(self.log_scale) * cosine + self.bias)

    def logit_kernel(self) -> np.ndarray:
        """The weights as a Dense kernel for unit-length features: scale x normalized columns (head.npz)."""
        kernel = np.asarray(self.kernel, np.float64)
        return (np.exp(float(self.log_scale)) * kernel / np.maximum(np.linalg.norm(kernel, axis=0), 1e-12)
                ).astype(np.float32)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "start_scale": self.start_scale}


def unit_rows(values, axis: int = -1):
    """values / their L2 norm along axis (a zero vector stays zero). The floor is far below 1e-12: a random
    backbone's features can be that small, and must still keep their direction."""
    return values * keras.ops.rsqrt(keras.ops.maximum(keras.ops.sum(keras.ops.square(values), axis=axis,
                                                                      keepdims=True), 1e-35))

