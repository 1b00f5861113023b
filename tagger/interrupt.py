"""Ctrl-C that always stops a step.

Python delivers SIGINT as a KeyboardInterrupt wherever the main thread happens to be; raised inside a
finalizer or a TensorFlow callback it is printed as "Exception ignored" and lost, and training ran on to
exit 0. The handler here also records the interrupt, and long loops ask stop_if_interrupted() at each
step, so a swallowed KeyboardInterrupt is raised again at the next safe point.
"""

import signal

_interrupted = False


def _in_finalizer(frame) -> bool:
    """Whether the main thread is running a finalizer (a __del__, a weakref callback): a KeyboardInterrupt raised
    there is printed as "Exception ignored ... Traceback" and dropped, so it is left to stop_if_interrupted()."""
    return frame is not None and (frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith("weakref.py"))


def _on_interrupt(signum, frame):
    global _interrupted
    _interrupted = True
    if not _in_finalizer(frame):
        raise KeyboardInterrupt


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
