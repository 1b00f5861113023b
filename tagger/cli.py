"""Entry-point plumbing: parse settings, run a step, turn user errors into one-line messages."""

import errno
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext

from pydantic import ValidationError
from pydantic_settings import CliApp, SettingsError

from tagger.errors import TaggerError
from tagger.files import remove_leftovers
from tagger.runfolder import LOCK
from tagger.runlock import run_lock
from tagger.settings import Settings

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"setting {field}: {message} (received {problem.get('input')!r})")
    return "\n".join(lines)


def parse_settings(argv: list[str] | None, prog: str, description: str) -> Settings:
    """Settings from defaults, .env, TAGGER_ variables and command-line flags."""
    from pydantic_settings import SettingsConfigDict

    class StepSettings(Settings):
        __doc__ = description
        model_config = SettingsConfigDict(cli_prog_name=prog)

    parsed = CliApp.run(StepSettings, cli_args=sys.argv[1:] if argv is None else argv)
    return Settings.model_validate(parsed.model_dump())


def main(step: Callable[[Settings], None], prog: str, description: str, argv: list[str] | None = None,
         lock_run_dir: bool = True, lock_name: Callable[[Settings], str] | None = None) -> int:
    """Run one pipeline step as a command; returns the exit code.

    The step holds the run folder's lock (tagger.runlock) while it runs, so a second step started on
    the same folder refuses instead of overwriting the first one's files; lock_run_dir=False is for
    commands that only read the run folder; lock_name picks another lock file for steps that may run
    side by side on one folder (embed.py's shards).
    """
    try:
        settings = parse_settings(argv, prog, description)
    except ValidationError as error:
        print(f"{prog}: {describe_validation_error(error)}", file=sys.stderr)
        return 2
    except SettingsError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    try:
        name = lock_name(settings) if lock_name else LOCK
        with run_lock(settings.paths.run_dir, name) if lock_run_dir else nullcontext():
            if lock_run_dir and name == LOCK:  # a shard's lock does not keep the folder's other writers out
                remove_leftovers(settings.paths.run_dir)
            step(settings)
    except TaggerError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        # Every output is written under a temporary name and renamed when complete (runfolder.atomic_path).
        where = error.filename or settings.paths.run_dir
        print(f"{prog}: error: {os.strerror(error.errno).lower()} while writing {where}: "
              "free space and re-run; earlier outputs are intact", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; outputs already finished are kept.", file=sys.stderr)
        return 130
    return 0
