"""Progress on long loops: a live bar on a terminal; in a log file, one line at the end instead of redraws."""

import sys


def keras_verbosity() -> int:
    """Keras's verbose argument for fit and Progbar: 1 draws a live bar, 2 writes one line."""
    return 1 if sys.stdout.isatty() else 2


def progress_bar(total: int, unit: str = "image"):
    """A keras Progbar over total items, drawn live only on a terminal."""
    import keras

    return keras.utils.Progbar(total, unit_name=unit, verbose=keras_verbosity())
