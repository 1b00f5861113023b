"""TensorFlow's retracing warning, misled by several Keras models that each predict once, stays in the step's log."""

import numpy as np

from tagger.logs import step_logging


def test_several_models_predicting_once_each_do_not_warn_of_retracing_on_the_console(tmp_path, capsys):
    import keras

    with step_logging("train", tmp_path):
        for width in range(2, 9):  # as train.py predicts with the head, then with the whole tagger: a model each
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width)])
            model.predict(np.zeros((3, 4), np.float32), verbose=0)
    captured = capsys.readouterr()
    assert "retracing" not in captured.err + captured.out
    log = (tmp_path / "logs" / "train.log").read_text(encoding="utf-8")
    assert "DEBUG   tagger.tensorflow:" in log and "triggered tf.function retracing" in log
