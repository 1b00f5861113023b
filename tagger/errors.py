"""The one exception family of the library; only tagger.cli turns it into a message."""


class TaggerError(Exception):
    """A problem the user can fix: bad input, missing step, bad setting."""


class MissingStepOutput(TaggerError):
    """A step was run before the step whose output it reads."""

    def __init__(self, path, step: str):
        super().__init__(f"{path} is missing: run {step} first (with the same --paths.run_dir).")
