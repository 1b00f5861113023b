"""tagger: a Keras multi-label image tagger that also discovers tag variants."""

import os

# TensorFlow's C++ start-up chatter hides the messages that matter to a user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
