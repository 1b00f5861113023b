"""The commands that run a run folder's steps again as they last ran there: the settings each step recorded
(settings.<step>.json) that differ from the defaults, as flags. A hint made of them can be copied and run as it is
(`train.py` on merged tags with the demo's small backbone, not the default one it would download)."""

import shlex
from pathlib import Path

from tagger import runfolder
from tagger.settings import Settings
from tagger.steps import STEPS

# The steps that make a tagger from the tags again, in order: after new aliases, each one's outputs are stale.
RETRAIN_STEPS = ("prepare", "train", "embed", "cluster_tags")
RECORDED_AS = {"cluster_tags": "cluster"}  # the name a step's settings.<name>.json carries, where it differs


def flattened(values: dict, prefix: str = "") -> dict:
    """{"train.head.epochs": 1, ...}: nested sections as the flags name them."""
    flat = {}
    for name, value in values.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def flag_value(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def recorded_flags(run_dir: Path, step: str) -> dict[str, str]:
    """{flag name: value} for each setting of the step's sections that it last ran with here and that differs from
    the default; {} where it has not run. Settings no flag can give back as they were (none where the default is a
    value, lists) are left to the defaults."""
    recorded = runfolder.read_settings(run_dir, RECORDED_AS.get(step, step), required=False)
    flags = {}
    for section in STEPS[step].sections:
        defaults = flattened(Settings.model_fields[section].default.model_dump(mode="json"), f"{section}.")
        for name, value in flattened(recorded.get(section, {}), f"{section}.").items():
            if name in defaults and value != defaults[name] and value is not None and not isinstance(value, list):
                flags[name] = flag_value(value)
    return flags


def rerun_command(run_dir: Path, step: str, **changed: str) -> str:
    """The step's command line, as it last ran in run_dir, with `changed` settings ({"data.aliases": path}, flag
    names with _ for .: data__aliases) set."""
    flags = recorded_flags(run_dir, step) | {name.replace("__", "."): value for name, value in changed.items()}
    words = ["python", STEPS[step].script, "--paths.run_dir", str(run_dir)]
    for name, value in flags.items():
        words += [f"--{name}", value]
    return shlex.join(words)


def retrain_commands(run_dir: Path, aliases: Path) -> list[str]:
    """The steps from prepare.py to cluster_tags.py, each as it last ran here, prepare.py reading the aliases."""
    return [rerun_command(run_dir, step, **({"data__aliases": str(aliases)} if step == "prepare" else {}))
            for step in RETRAIN_STEPS]
