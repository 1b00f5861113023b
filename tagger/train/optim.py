"""Optimizer pieces: warm-up then cosine decay, and a lower learning rate for the backbone."""

import keras


def warmup_cosine(peak_learning_rate: float, total_steps: int, warmup_steps: int):
    """Linear warm-up from 0 to the peak, then cosine decay to 0 over the remaining steps."""
    warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak_learning_rate,
        decay_steps=max(total_steps - warmup_steps, 1),
        warmup_target=peak_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


@keras.saving.register_keras_serializable(package="tagger")
class ScaledAdam(keras.optimizers.Adam):
    """Adam whose learning rate is multiplied by `scale` for a chosen set of variables (the backbone).

    Scaling the gradient would not do: Adam's update is invariant to the gradient's scale.
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.scaled_keys: set[str] = set()

    def scale_variables(self, variables) -> None:
        # _var_key names a variable the same way whether Keras hands over its own variable or the
        # backend's (the TensorFlow backend passes tf.Variables to update_step).
        self.scaled_keys = {self._var_key(variable) for variable in variables}

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self.scaled_keys:
            learning_rate = learning_rate * self.scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
