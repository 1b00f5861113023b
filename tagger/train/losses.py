"""Losses for multi-label tagging."""

import keras


@keras.saving.register_keras_serializable(package="tagger")
class AsymmetricLoss(keras.losses.Loss):
    """Asymmetric loss (Ridnik et al., ICCV 2021) for sets where most tags are absent from most images.

    Negatives are down-weighted by (p_m)^gamma_negative, with p_m = max(p - clip, 0): easy negatives
    (and likely-missing labels with tiny p) stop dominating the gradient. gamma_positive 0 keeps
    positives as in cross-entropy.
    """

    def __init__(self, gamma_negative=4.0, gamma_positive=0.0, clip=0.05, label_smoothing=0.0, name="asl", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma_negative, self.gamma_positive = gamma_negative, gamma_positive
        self.clip, self.label_smoothing = clip, label_smoothing

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        probability = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        shifted = ops.maximum(probability - self.clip, 0.0) if self.clip else probability
        positive = y_true * ops.log(probability) * ops.power(1 - probability, self.gamma_positive)
        negative = (1 - y_true) * ops.log(ops.clip(1 - shifted, 1e-7, 1.0)) * ops.power(shifted, self.gamma_negative)
        return -ops.sum(positive + negative, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma_negative": self.gamma_negative, "gamma_positive": self.gamma_positive,
                "clip": self.clip, "label_smoothing": self.label_smoothing}


def make_loss(name: str, label_smoothing: float):
    if name == "asl":
        return AsymmetricLoss(label_smoothing=label_smoothing)
    return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
