"""One step at a time in a run folder: an exclusive OS-level lock on `<run_dir>/.lock`.

flock, not a pid file: the kernel drops the lock when its holder dies, even by SIGKILL, so a
killed run never leaves a stale lock behind. The pid in the file is only there for the message.
"""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from tagger.errors import TaggerError
from tagger.runfolder import LOCK


class RunFolderBusy(TaggerError):
    """Another process holds the run folder's lock."""

    def __init__(self, run_dir: Path, pid: str):
        holder = f" (pid {pid})" if pid else ""
        super().__init__(
            f"another step is running in {run_dir}{holder}; wait for it to finish, or use another --paths.run_dir"
        )


@contextmanager
def run_lock(run_dir: Path, name: str = LOCK):
    """Holds the run folder's lock for the block; raises RunFolderBusy at once if another process holds it.

    Creates run_dir for the lock, and removes the folders it created if they are still empty when
    the block ends: a step that fails before writing anything (a mistyped source, say) leaves no
    empty run folder behind.
    """
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]  # deepest first
    descriptor = _acquire(run_dir, name)
    try:
        yield
    finally:
        # Unlinked while still held, so no step is left holding a file that is gone: see _acquire.
        (run_dir / name).unlink(missing_ok=True)
        os.close(descriptor)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:  # not empty: the step wrote something, or another step is using it
                break


def _acquire(run_dir: Path, name: str) -> int:
    path = run_dir / name
    for _ in range(100):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a step that had created the folder removed it as it finished
            continue
        except (FileExistsError, NotADirectoryError):
            raise TaggerError(f"paths.run_dir: {run_dir} is not a folder") from None
        except OSError as error:
            raise TaggerError(f"paths.run_dir: cannot create {path}: {error.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            os.close(descriptor)
            raise RunFolderBusy(run_dir, pid) from None
        if _is_current(descriptor, path):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
            return descriptor
        os.close(descriptor)  # the step before unlinked this file as it finished: lock the new one
    raise TaggerError(f"cannot lock {path}: it keeps being replaced")


def _is_current(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False
