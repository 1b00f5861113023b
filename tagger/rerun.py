"""The commands that run a run folder's steps again as they last ran there: the settings each step recorded
(settings.<step>.json) that differ from the defaults, as flags. A hint made of them can be copied and run as it is
(`train.py` on merged tags with the demo's small backbone, not the default one it would download)."""

import shlex
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.settings import RENAMED_FLAGS, Settings

# The steps that make a tagger from the tags again, in order (after new aliases each one's outputs are stale): the
# script, the settings sections it reads besides paths, and the name its settings.<name>.json carries. As
# tagger.steps.STEPS says (tests/test_review_loop.py holds them to it; this module sits below the steps).
RETRAIN_STEPS = {"prepare": ("prepare.py", ("data",), "prepare"),
                 "train": ("train.py", ("model", "train", "embed"), "train"),
                 "embed": ("embed.py", ("embed",), "embed"),
                 "cluster_tags": ("cluster_tags.py", ("cluster",), "cluster")}
# How one machine split embed.py's work (shards merged at the end): the next run chooses its own.
NOT_REPEATED = {"embed.num_shards", "embed.shard_index", "embed.merge_only"}


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
    the default; {} where it has not run, or its record cannot be read (the step itself says so when it runs).
    Settings recorded under their names before a rename are read under today's; settings no flag can give back as
    they were (none where the default is a value, lists) are left to the defaults."""
    _, sections, recorded_as = RETRAIN_STEPS[step]
    try:
        recorded = runfolder.read_settings(run_dir, recorded_as, required=False)
    except TaggerError:
        return {}
    flags = {}
    for section in sections:
        defaults = flattened(Settings.model_fields[section].default.model_dump(mode="json"), f"{section}.")
        for name, value in flattened(recorded.get(section, {}) or {}, f"{section}.").items():
            name = RENAMED_FLAGS.get(name, name)
            if name in defaults and name not in NOT_REPEATED and value != defaults[name] and value is not None \
                    and not isinstance(value, list):
                flags[name] = flag_value(value)
    return flags


def rerun_command(run_dir: Path, step: str, **changed: str) -> str:
    """The step's command line, as it last ran in run_dir, with `changed` settings (flag names with __ for .:
    data__aliases) set."""
    flags = recorded_flags(run_dir, step) | {name.replace("__", "."): value for name, value in changed.items()}
    words = ["python", RETRAIN_STEPS[step][0], "--paths.run_dir", str(run_dir.absolute())]
    for name, value in flags.items():
        words += [f"--{name}", value]
    return shlex.join(words)


def retrain_commands(run_dir: Path, aliases: Path) -> list[str]:
    """The steps from prepare.py to cluster_tags.py, each as it last ran here, prepare.py reading the aliases."""
    return [rerun_command(run_dir, step, **({"data__aliases": str(aliases.absolute())} if step == "prepare" else {}))
            for step in RETRAIN_STEPS]


def prepare_read_aliases(run_dir: Path) -> bool:
    """Whether prepare.py last ran here with aliases: the tags it kept then are not the tags as typed."""
    try:
        return bool(runfolder.read_settings(run_dir, "prepare", required=False).get("data", {}).get("aliases"))
    except (TaggerError, AttributeError):
        return False


def next_after_apply(run_dir: Path, aliases: dict[str, str]) -> list[str]:
    """What to run after apply_review wrote `aliases` to the run's aliases.txt: the retrain commands where there are
    merges now, or where the last prepare.py read merges no longer there (every line deleted); else none."""
    if not aliases and not prepare_read_aliases(run_dir):
        return []
    return retrain_commands(run_dir, run_dir / runfolder.ALIASES)
