"""Progress on long loops: a live bar on a terminal; otherwise (a log file, a pipe) one line at the end."""

import logging
import sys
import time

QUIET = False  # set by tagger.cli for --quiet: no bars, no progress lines

log = logging.getLogger(__name__)


def on_terminal() -> bool:
    return not QUIET and sys.stderr.isatty()


def keras_verbosity() -> int:
    """Keras's verbose argument for fit: 1 draws a live bar on a terminal; 0 otherwise (--quiet, a log file, a pipe),
    where Keras's own line an epoch ("18/18 - 3s - 143ms/step - loss: 0.2133") would only repeat train.py's
    ("epoch 17/20: loss 0.2133, validation mAP 0.6726")."""
    return 1 if not QUIET and sys.stdout.isatty() else 0


class ProgressBar:
    """update(done) with the count done so far, as keras's Progbar takes it; close() ends the bar."""

    def __init__(self, total: int, unit: str, description: str):
        from tqdm import tqdm

        self.total, self.unit, self.description, self.started = total, unit, description, time.monotonic()
        self.done, self.closed = 0, False
        self.bar = tqdm(total=total, unit=f" {unit}", desc=description or None, disable=not on_terminal(),
                        file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, done: int) -> None:
        self.bar.update(done - self.done)
        self.done = done
        if done >= self.total:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.bar.close()
        seconds = time.monotonic() - self.started
        what = f"{self.description}: " if self.description else ""
        log.debug(f"{what}{self.done} of {self.total} {self.unit}s in {seconds:.1f} s")


def progress_bar(total: int, unit: str = "image", description: str = "") -> ProgressBar:
    """A bar over total items, drawn live only on a terminal (on stderr, so stdout stays the step's report)."""
    return ProgressBar(total, unit, description)
