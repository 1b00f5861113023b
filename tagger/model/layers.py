"""Layers saved inside model.keras; registered so Keras safe mode loads them."""

import keras

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
