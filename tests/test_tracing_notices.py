"""TensorFlow's retracing warning stays in the step's log: train.py predicts once with each of several Keras models,
and TensorFlow's detector, keyed on the code of Keras's predict step that every model shares, reads their traces as
one function traced again and again."""

import logging

import numpy as np
import pytest

from tagger.logs import step_logging


@pytest.fixture
def tensorflow_warnings():
    """TensorFlow's logger at WARNING for the test: tf2onnx sets TensorFlow's verbosity when it converts (the export
    tests, in this worker's process), and TensorFlow's warning would then never be made."""
    import tensorflow as tf

    logger = tf.get_logger()
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.WARNING)
    logger.disabled = False
    yield
    logger.setLevel(level)
    logger.disabled = disabled


def test_tensorflow_s_retracing_warning_goes_to_the_log_not_the_console(tmp_path, capsys, tensorflow_warnings):
    import tensorflow as tf

    # A function of this test's own (TensorFlow warns a few times per function code, so one that other tests in this
    # process have traced might not warn again), traced anew for each shape: the detector's warning, for real.
    def double(values):
        return 2 * values

    function = tf.function(double)
    with step_logging("train", tmp_path):
        for size in range(1, 8):
            function(tf.constant(np.zeros(size, np.float32)))
    captured = capsys.readouterr()
    assert "retracing" not in captured.err + captured.out
    log = (tmp_path / "logs" / "train.log").read_text(encoding="utf-8")
    assert "DEBUG   tagger.tensorflow:" in log and "triggered tf.function retracing" in log
