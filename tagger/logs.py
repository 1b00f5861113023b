"""Logging for every step: levels on the console (--quiet, --verbose), everything in the run folder's logs/<step>.log.

TensorFlow's C++ libraries (absl, XLA, CUDA stubs) write their start-up lines straight to file descriptor 2,
before Python's logging could filter them, and some ignore TF_CPP_MIN_LOG_LEVEL (`I0000 ... cudart_stub`,
`E0000 ... failed call to cuInit` on a machine without a GPU). So, unless --verbose, descriptor 2 is pointed
at the step's log file for the whole step, and Python's own stderr (warnings, errors, tracebacks) keeps the
terminal through a copy of the original descriptor: the C++ lines are kept for whoever needs them, out of sight.
"""

import errno
import logging
import logging.handlers
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from tagger import runfolder
from tagger.files import path_text

QUIET, NORMAL, VERBOSE = "quiet", "normal", "verbose"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# What the person asked the command for (similar.py's ranked list, tag.py's tag lists under --tag.print, the review
# page's address), as opposed to news of the work: on stdout at every level, --quiet included. Between INFO and
# WARNING: step_logging's console handler for stdout passes it at every level, and the stderr handler, which
# takes WARNING and above, never sees it.
RESULT = 25
logging.addLevelName(RESULT, "RESULT")


class ConsoleFormatter(logging.Formatter):
    """Messages as the steps always printed them: plain, with `warning: ` before a warning."""

    def format(self, record: logging.LogRecord) -> str:
        message = path_text(record.getMessage())  # a file name that is not UTF-8, shown as the scores file has it
        return f"warning: {message}" if record.levelno == logging.WARNING else message


class FileFormatter(logging.Formatter):
    """The log file's lines: UTF-8 text, a file name that is not UTF-8 shown with its bytes as \\xNN."""

    def format(self, record: logging.LogRecord) -> str:
        return path_text(super().format(record))


class QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (a full disk) never disturbs the step or its messages."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class ConsoleHandler(logging.StreamHandler):
    """The console, read by a person or by another program (`similar.py ... | head -1`). A reader that stops
    reading (a closed pipe) stops only the console: the step goes on to its end, its outputs and its log file
    complete, and the lines it still has for the console go nowhere instead of into one traceback each."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        # Windows reports a closed pipe as EINVAL, not EPIPE.
        if not isinstance(error, OSError) or error.errno not in (errno.EPIPE, errno.EINVAL):
            super().handleError(record)
            return
        try:  # the descriptor itself, so that the interpreter's last flush of sys.stdout finds no closed pipe
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (AttributeError, OSError, ValueError):  # a stream without a descriptor of its own
            self.stream = open(os.devnull, "w", encoding="utf-8")  # not setStream: it flushes into the pipe


def writes_to_descriptor_2(stream) -> bool:
    """Whether stream is the process's own stderr (not a test's capture object, not a redirected copy)."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


class BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class TracingNotices(logging.Filter):
    """TensorFlow's "N out of the last N calls to <function ...> triggered tf.function retracing" goes to the step's
    log, not the console. train.py predicts with several Keras models, each once (the head on cached features, the
    whole tagger on images), and TensorFlow's detector keys on the code of Keras's predict step, which every model
    shares: each model's one trace reads to it as one function traced again and again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "triggered tf.function retracing" not in record.getMessage():
            return True
        logging.getLogger("tagger.tensorflow").debug(record.getMessage())
        return False


def log_file(run_dir: Path, step: str) -> Path:
    return run_dir / runfolder.LOGS / f"{step}.log"


@contextmanager
def step_logging(step: str, run_dir: Path | None, verbosity: str = NORMAL):
    """Console and file logging for one step; yields the log file's path (None when it cannot be written).

    The console gets INFO and up (WARNING and up with --quiet, DEBUG with --verbose): information on stdout,
    warnings and errors on stderr; RESULT records (what the person asked for) reach stdout at every level.
    The file gets everything, DEBUG included, and the C++ libraries' lines.
    """
    logger = logging.getLogger("tagger")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    tracing_notices = TracingNotices()
    logging.getLogger("tensorflow").addFilter(tracing_notices)
    # logging.config's disable_existing_loggers (a library configuring logging in the same process, e.g. a
    # linter run in-process by tests) silences loggers made before it: the step's messages are not optional.
    for name in [name for name in logging.root.manager.loggerDict if name == "tagger" or name.startswith("tagger.")]:
        logging.getLogger(name).disabled = False
    level = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}[verbosity]
    handlers = []
    path = None
    if verbosity == VERBOSE:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # not yet read: TensorFlow is imported by the step
    stderr_copy = None
    original_stderr = sys.stderr
    # A run folder the step has yet to make (prepare's first run) is not made for its log: a step that fails
    # early leaves no folder behind. Its records wait in memory, written once the folder exists.
    pending = None
    if run_dir is not None and not run_dir.is_dir():
        pending = logging.handlers.MemoryHandler(capacity=10**9, flushLevel=logging.CRITICAL + 1)
        pending.setLevel(logging.DEBUG)
        handlers.append(pending)
    elif run_dir is not None:
        path = log_file(run_dir, step)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file_handler = QuietFileHandler(path, encoding="utf-8")
        except OSError:  # a run folder shared read-only: log to the console only
            path = None
        else:
            file_handler.setLevel(logging.DEBUG)
            file_handler.setFormatter(FileFormatter(FILE_FORMAT))
            handlers.append(file_handler)
    if verbosity != VERBOSE and writes_to_descriptor_2(sys.stderr):
        stderr_copy = hide_native_stderr(path)
        sys.stderr = os.fdopen(os.dup(stderr_copy), "w", buffering=1, encoding=original_stderr.encoding,
                               errors="backslashreplace")
    out = ConsoleHandler(sys.stdout)
    out.setLevel(min(level, RESULT))
    out.addFilter(BelowWarning())
    err = ConsoleHandler(sys.stderr)
    err.setLevel(max(level, logging.WARNING))
    for handler in (out, err):
        handler.setFormatter(ConsoleFormatter())
    handlers += [out, err]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield path
    finally:
        logging.getLogger("tensorflow").removeFilter(tracing_notices)
        for handler in handlers:
            handler.flush()
            logger.removeHandler(handler)
            if isinstance(handler, logging.FileHandler):
                handler.close()
        if stderr_copy is not None:
            sys.stderr.flush()
            os.dup2(stderr_copy, 2)
            os.close(stderr_copy)
            sys.stderr.close()
            sys.stderr = original_stderr
        if pending is not None:
            write_pending(pending, log_file(run_dir, step))


def write_pending(pending: logging.handlers.MemoryHandler, path: Path) -> None:
    """The records held while the run folder did not exist, into its log once it does."""
    if path.parent.parent.is_dir():
        try:
            path.parent.mkdir(exist_ok=True)
            target = QuietFileHandler(path, encoding="utf-8")
        except OSError:
            return
        target.setFormatter(FileFormatter(FILE_FORMAT))
        pending.setTarget(target)
        pending.flush()
        target.close()
    pending.close()


def hide_native_stderr(path: Path | None) -> int:
    """Points descriptor 2 at path (or nowhere); returns a copy of the original descriptor."""
    sys.stderr.flush()
    original = os.dup(2)
    target = os.open(path if path is not None else os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(target, 2)
    os.close(target)
    return original


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 image', '3 images': a count with its noun in the number it takes."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
