"""Entry-point plumbing: parse settings, run a step, turn user errors into one-line messages."""

import sys
from collections.abc import Callable

from pydantic import ValidationError
from pydantic_settings import CliApp, SettingsError

from tagger.errors import TaggerError
from tagger.settings import Settings


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


def main(step: Callable[[Settings], None], prog: str, description: str, argv: list[str] | None = None) -> int:
    """Run one pipeline step as a command; returns the exit code."""
    try:
        settings = parse_settings(argv, prog, description)
    except ValidationError as error:
        print(f"{prog}: {describe_validation_error(error)}", file=sys.stderr)
        return 2
    except SettingsError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    try:
        step(settings)
    except TaggerError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; outputs already finished are kept.", file=sys.stderr)
        return 130
    return 0
