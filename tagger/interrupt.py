"""Ctrl-C that always stops a step.

Python delivers SIGINT as a KeyboardInterrupt wherever the main thread happens to be; raised inside a
finalizer or a TensorFlow callback it is printed as "Exception ignored" and lost, and training ran on to
exit 0. The handler here also records the interrupt, and long loops ask stop_if_interrupted() at each
step, so a swallowed KeyboardInterrupt is raised again at the next safe point.
"""

import os
import signal
from contextlib import contextmanager

_interrupted = False
_deferring = 0  # how many deferred() blocks the main thread is in
DEFERRED_NOTICE = "\ninterrupted: stopping after this batch (Ctrl-C again stops at once)\n"


def _in_finalizer(frame) -> bool:
    """Whether the main thread is running a finalizer (a __del__, a weakref callback): a KeyboardInterrupt raised
    there is printed as "Exception ignored ... Traceback" and dropped, so it is left to stop_if_interrupted()."""
    return frame is not None and (frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith("weakref.py"))


def _on_interrupt(signum, frame):
    global _interrupted
    pressed_before, _interrupted = _interrupted, True
    if _in_finalizer(frame):
        return
    if _deferring and not pressed_before:
        # Said at once (the batch may take a while); written raw: a handler must not wait on logging's lock.
        try:
            os.write(2, DEFERRED_NOTICE.encode())
        except OSError:  # no console to say it on (a closed pipe): the loop stops at its next batch all the same
            pass
        return
    raise KeyboardInterrupt


@contextmanager
def deferred():
    """A loop of network calls (TensorFlow's C++ and tf.data underneath) that asks stop_if_interrupted() at each
    batch: Ctrl-C inside only records the interrupt, and the loop stops at its next batch. Raised in the middle of
    TensorFlow's C++, a KeyboardInterrupt surfaced as "SystemError: ... returned a result with an exception set",
    its traceback printed on the console (CI saw it once, Ctrl-C 0.5 s into the feature cache). A second Ctrl-C
    raises at once."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def install():
    """Called by the command line before a step runs (main thread only); returns the handler it replaced."""
    global _interrupted
    _interrupted = False
    return signal.signal(signal.SIGINT, _on_interrupt)


def restore(previous) -> None:
    signal.signal(signal.SIGINT, previous)


def interrupted() -> bool:
    return _interrupted


def clear() -> None:
    """For a step whose normal end is Ctrl-C (review.py's server): its interrupt is not a failure."""
    global _interrupted
    _interrupted = False


def stop_if_interrupted() -> None:
    """Raises KeyboardInterrupt when Ctrl-C was pressed, even if its first KeyboardInterrupt was swallowed."""
    if _interrupted:
        raise KeyboardInterrupt
