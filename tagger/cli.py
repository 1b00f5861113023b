"""The command line: parse a step's settings, run it under its lock, turn user errors into one-line messages.

`python prepare.py ...` and `tagger prepare ...` are the same call: main("prepare", argv). Library code raises
tagger.errors.TaggerError; this is the one place that prints it.
"""

import difflib
import logging
import os
import shlex
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, CliApp, SettingsConfigDict, SettingsError

from tagger import interrupt, progress
from tagger.environment import environment_problems, renamed_in_env_file, variable_name
from tagger.errors import TaggerError
from tagger.files import DISK_FULL, remove_leftovers
from tagger.logs import NORMAL, QUIET, VERBOSE, step_logging
from tagger.runfolder import LOCK, MANIFEST
from tagger.runlock import run_lock
from tagger.settings import RENAMED_FLAGS, Settings
from tagger.steps import STEPS, Step

log = logging.getLogger("tagger")
HELP_FLAGS = ("-h", "--help")
# How much the console shows; not settings: they change no output, so they are not recorded with the run.
VERBOSITY_FLAGS = {"--quiet": QUIET, "-q": QUIET, "--verbose": VERBOSE, "-v": VERBOSE}
VERBOSITY_HELP = ("-q / --quiet leaves only warnings, errors and the answers asked for on stdout; -v / --verbose adds "
                  "debugging lines.")
INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C
RESUMABLE = ("train.py", "train", "embed.py", "embed")  # steps a second run continues (checkpoints, pieces)


class UsageError(TaggerError):
    """A mistake on the command line: exit code 2, like argparse."""


def main(step_name: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Runs one step as a command; returns the exit code (0 done, 1 failed, 2 usage, 130 interrupted)."""
    step = STEPS[step_name]
    prog = prog or step.script
    args = sys.argv[1:] if argv is None else list(argv)
    verbosity = NORMAL
    for flag in [arg for arg in args if arg in VERBOSITY_FLAGS]:
        verbosity = VERBOSITY_FLAGS[flag]
        args.remove(flag)
    try:
        settings = parse_settings(step, args, prog)
    except UsageError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"{prog}: {describe_validation_error(error)}", file=sys.stderr)
        return 2
    except SettingsError as error:
        print(f"{prog}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    if settings is None:  # --help was printed
        return 0
    if settings.paths.run_dir.is_file():  # a file of the run folder (review.csv) named instead of the folder
        print(f"{prog}: error: paths.run_dir: {settings.paths.run_dir} is not a folder but a file; give the run "
              f"folder (the one holding it: {settings.paths.run_dir.parent})", file=sys.stderr)
        return 1
    code = run_step(step, settings, prog, verbosity)
    if argv is None:  # run as a script
        leave_at_once_if_interrupted(code)
    return code


def leave_at_once_if_interrupted(code: int) -> None:
    """After Ctrl-C, a script leaves without interpreter teardown: tearing down while TensorFlow's threads are
    still mid-work can abort (free(): invalid next size). Every finished output is already in place."""
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)


def run_step(step: Step, settings: Settings, prog: str, verbosity: str = NORMAL) -> int:
    """Runs the step under its lock and its logging (tagger.logs); user errors become one line on stderr."""
    run_dir = settings.paths.run_dir
    # A step other than prepare needs an existing run folder and says so: no empty one is made for its log.
    log_dir = run_dir if step.name == "prepare" or run_dir.is_dir() else None
    progress.QUIET = verbosity == QUIET
    with step_logging(step.name, log_dir, verbosity):
        return run_locked_step(step, settings, prog)


def run_locked_step(step: Step, settings: Settings, prog: str) -> int:
    """The step with Ctrl-C handled (tagger.interrupt): however it surfaces, it ends the step with exit 130."""
    previous_handler = interrupt.install()
    try:
        code = run_guarded_step(step, settings, prog)
    except KeyboardInterrupt:
        return report_interrupt(prog)
    except Exception:
        # Ctrl-C inside C code (TensorFlow importing or tracing) surfaces as another exception (a SystemError
        # "returned a result with an exception set"): after an interrupt, any failure is the interrupt.
        if interrupt.interrupted():
            return report_interrupt(prog)
        raise
    finally:
        interrupt.restore(previous_handler)
    if interrupt.interrupted():  # Ctrl-C swallowed where no check came after it: still an interrupted run
        return report_interrupt(prog)
    return code


def run_guarded_step(step: Step, settings: Settings, prog: str) -> int:
    """The step under its lock; user errors (TaggerError, OSError) become one line and exit code 1."""
    lock = step.lock(settings)
    try:
        with run_lock(settings.paths.run_dir, lock) if lock else nullcontext():
            if lock == LOCK:  # a shard's lock does not keep the folder's other writers out
                remove_leftovers(settings.paths.run_dir)
            step.load()(settings)
    except TaggerError as error:
        log.error(f"{prog}: error: {error}")
        return 1
    except OSError as error:
        if interrupt.interrupted():
            raise KeyboardInterrupt from error
        if error.errno not in DISK_FULL:
            where = f" {error.filename}" if error.filename else ""
            log.error(f"{prog}: error: cannot write{where}: {error.strerror or error}; earlier outputs are intact")
            return 1
        # Every output is written under a temporary name and renamed when complete (tagger.files).
        where = error.filename or settings.paths.run_dir
        log.error(f"{prog}: error: {os.strerror(error.errno).lower()} while writing {where}: "
                  "free space and re-run; earlier outputs are intact")
        return 1
    return 0


def report_interrupt(prog: str) -> int:
    log.error(f"{prog}: interrupted; outputs already finished are kept"
              + ("; the same command again resumes where it stopped." if prog.endswith(RESUMABLE) else "."))
    return INTERRUPTED


def console(argv: list[str] | None = None) -> int:
    """The `tagger` command: `tagger <step> [arguments]`, one subcommand per step of the table."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in HELP_FLAGS:
        print("usage: tagger <step> [--quiet | --verbose] [--section.setting value ...]   "
              "(tagger <step> --help lists its settings)\n")
        print("steps:")
        for step in STEPS.values():
            print(f"  {step.name:<13} {step.summary}")
        return 0 if args else 2
    args[0] = args[0].replace("-", "_")  # tagger cluster-tags, as people type it
    if args[0] not in STEPS:
        close = difflib.get_close_matches(args[0], STEPS, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; steps: {', '.join(STEPS)}"
        print(f"tagger: unknown step {args[0]!r}{hint}", file=sys.stderr)
        return 2
    code = main(args[0], args[1:], prog=f"tagger {args[0]}")
    if argv is None:
        leave_at_once_if_interrupted(code)
    return code


# --- settings ---------------------------------------------------------------------------------------------

def parse_settings(step: Step, args: list[str], prog: str) -> Settings | None:
    """The step's settings from defaults, .env, TAGGER_ variables and args; None when --help was asked for."""
    check_environment()
    args, bare = normalized_args(step, args)
    model = step_settings_model(step, prog)
    if any(arg in HELP_FLAGS for arg in args):
        CliApp.run(model, cli_args=["--help"])  # prints the usage and exits through argparse
    with old_environment_renamed():
        parsed = CliApp.run(model, cli_args=args)
        values = parsed.model_dump()
        if bare:
            flagged = any(arg == f"--{step.positional}" or arg.startswith(f"--{step.positional}=") for arg in args)
            if flagged and not takes_a_list(step.positional):
                raise UsageError(f"{step.positional} given twice, as --{step.positional} and bare ({bare[0]!r}): "
                                 "give it once")
            values = with_bare_arguments(values, step.positional, bare, flagged)
        # Sections the step does not read come from the environment and .env alone.
        return Settings(**values)


def step_settings_model(step: Step, prog: str) -> type[BaseSettings]:
    """A settings model holding only paths and the sections the step reads, so --help lists only those."""
    config = SettingsConfigDict(**{**Settings.model_config, "cli_prog_name": prog, "cli_exit_on_error": False})
    summary = f"{step.summary} {VERBOSITY_HELP}"
    base = type(f"{step.name.title().replace('_', '')}Settings", (BaseSettings,),
                {"model_config": config, "__doc__": summary})
    fields = {name: (Settings.model_fields[name].annotation, Settings.model_fields[name].default)
              for name in ("paths", *step.sections)}
    return create_model(base.__name__, __base__=base, __doc__=summary, **fields)


def flag_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every --section.setting flag of a settings model, nested sections included."""
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += flag_names(annotation, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


BOOLEAN_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"}


def boolean_flag_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The flags of yes/no settings, which may be given bare (--tag.print) to mean true."""
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= boolean_flag_names(annotation, f"{prefix}{name}.")
        elif annotation in (bool, bool | None):
            names.add(f"{prefix}{name}")
    return names


def normalized_args(step: Step, args: list[str]) -> tuple[list[str], list[str]]:
    """(flags, bare arguments): args with renamed flags given their new names, and the words that are no flag's
    value (they fill the step's positional setting); an unknown flag is refused in one line, with the closest
    known flag."""
    known = flag_names(Settings)
    switches = boolean_flag_names(Settings)
    own = {name for name in known if name.split(".")[0] in ("paths", *step.sections)}
    flags, bare, position = [], [], 0
    while position < len(args):
        arg = args[position]
        if arg in HELP_FLAGS:
            flags.append(arg)
            position += 1
            continue
        if not arg.startswith("--"):
            bare.append(arg)
            position += 1
            continue
        name, has_value, value = arg[2:].partition("=")
        name = RENAMED_FLAGS.get(name, name)
        if name not in own:
            raise UsageError(unknown_flag_message(step, name, own, known))
        if has_value:
            flags.append(f"--{name}={value}")
            position += 1
        elif name in switches and (position + 1 == len(args) or args[position + 1].lower() not in BOOLEAN_WORDS):
            following = None if position + 1 == len(args) else args[position + 1]
            if following is not None and not following.startswith("--") and meant_as_a_value(step, following):
                raise UsageError(f"--{name} takes true or false (received {following!r})")
            flags.append(f"--{name}=true")  # a bare boolean flag (--tag.print) turns it on, as in argparse
            position += 1
        else:
            flags += [f"--{name}", *args[position + 1:position + 2]]
            position += 2
    if bare and step.positional is None:
        folder = f"; to name the run folder: --paths.run_dir {shlex.quote(bare[0])}" if Path(bare[0]).is_dir() else ""
        raise UsageError(f"unexpected argument {bare[0]!r}: settings are given as --section.setting value{folder}")
    single = bare and not takes_a_list(step.positional)
    if single and (Path(bare[0]) / MANIFEST).is_file():  # the run folder, given bare as other steps refuse it
        raise UsageError(f"{bare[0]!r} is a run folder, not a {step.positional}: to name the run folder: "
                         f"--paths.run_dir {shlex.quote(bare[0])}")
    if single and len(bare) > 1:
        raise UsageError(f"one {step.positional} only (received {len(bare)}: {', '.join(map(repr, bare[:3]))})")
    return flags, bare


def takes_a_list(flag: str) -> bool:
    section, name = flag.split(".")
    field = Settings.model_fields[section].annotation.model_fields[name]
    return getattr(field.annotation, "__origin__", None) is list


def with_bare_arguments(values: dict, flag: str, bare: list[str], flagged: bool) -> dict:
    """The settings' values with the bare arguments in the step's positional setting, each whole: after the flag's
    values where the flag was given too (flagged), else in place of what the environment or .env set, as a flag
    would be. Not passed through the flag: its values are split on commas and read as JSON, which would cut
    `odd, name.jpg` in two and mangle a name holding a quote or a backslash."""
    section, name = flag.split(".")
    given = values[section][name] if flagged else []
    values[section][name] = [*given, *bare] if takes_a_list(flag) else bare[0]
    return values


def meant_as_a_value(step: Step, word: str) -> bool:
    """Whether a word after a yes/no flag was meant as its value, mistyped (`--data.check_images maybe`): always for a
    step that takes no bare arguments; for one that does (tag.py's images), where the word is near a yes/no word
    (`flase`, `tru`) and names no file."""
    if step.positional is None:
        return True
    near = difflib.get_close_matches(word.lower(), sorted(BOOLEAN_WORDS - {"t", "f", "y", "n", "1", "0"}), n=1,
                                     cutoff=0.6)
    return bool(near) and not Path(word).exists()


# kohya's tag_images_by_wd14_tagger.py flags, as tag.py names them: a person coming from it types those first.
KOHYA_FLAGS = {name: f"is {flag} here" for name, flag in {
    "thresh": "--tag.threshold", "general_threshold": "--tag.threshold", "caption_extension": "--tag.caption_extension",
    "caption_separator": "--tag.caption_separator", "undesired_tags": "--tag.exclude",
    "always_first_tags": "--tag.always_first", "tag_replacement": "--tag.replace (pairs old=new)",
    "recursive": "--tag.recursive", "batch_size": "--tag.batch_size", "append_tags": "--tag.mode append",
    "onnx": "--tag.engine onnx", "model_dir": "--paths.run_dir", "repo_id": "--paths.run_dir", "debug": "--verbose",
}.items()} | {
    "remove_underscore": "is the default here (--tag.underscores true writes them)",
    "character_threshold": "has no counterpart here: these tags have no categories (--tag.threshold sets every tag's)",
}


def unknown_flag_message(step: Step, name: str, own: set[str], known: list[str]) -> str:
    kohya = KOHYA_FLAGS.get(name.removeprefix("tag.")) if step.name == "tag" else None
    if kohya is not None:
        return f"unknown flag --{name}; kohya's --{name.removeprefix('tag.')} {kohya}"
    close = difflib.get_close_matches(name, sorted(own), n=1, cutoff=0.6)
    if name in known:
        where = f"{step.name} does not read --{name} (it reads {', '.join(('paths', *step.sections))})"
    else:
        where = f"unknown flag --{name}"
    return where + (f"; did you mean --{close[0]}?" if close else f"; {step.script} --help lists its settings")


def env_file() -> Path:
    return Path(Settings.model_config.get("env_file") or ".env")


def check_environment() -> None:
    """Unknown TAGGER_ names and unreadable .env lines are mistakes to report, never silently defaults."""
    problems = environment_problems(flag_names(Settings), RENAMED_FLAGS, env_file())
    if problems:
        raise UsageError("; ".join(problems))


@contextmanager
def old_environment_renamed():
    """TAGGER_ variables of train settings renamed when the train section was split by concern keep working
    (in the environment or in .env): under their new names while the settings are read, and as they were
    afterwards, so a step run in-process leaves the caller's environment as it found it."""
    saved = dict(os.environ)
    try:
        # The environment first, then .env only where the environment says nothing: its precedence, as
        # pydantic-settings gives it for the new names.
        for old, new in RENAMED_FLAGS.items():
            old_key, new_key = variable_name(old), variable_name(new)
            if old_key in os.environ and new_key not in os.environ:
                os.environ[new_key] = os.environ.pop(old_key)
        for new_key, value in renamed_in_env_file(RENAMED_FLAGS, env_file()).items():
            os.environ.setdefault(new_key, value)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        received = problem.get("input")
        # A rule across a section's settings (embed.shard_index below embed.num_shards) receives the whole section,
        # which its message already names: the values it read would only bury it.
        lines.append(f"setting {field}: {message}" if isinstance(received, dict) else
                     f"setting {field}: {message} (received {received!r})")
    return "\n".join(lines)
