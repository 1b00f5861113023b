"""tag.py: the trained tagger over image files, folders and globs; captions beside the images and/or one scores file."""

import errno
import glob
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import path_text
from tagger.images import (
    IMAGE_EXTENSIONS,
    image_dataset,
    image_files_under,
    image_problem,
)
from tagger.logs import RESULT, counted
from tagger.progress import progress_bar
from tagger.result import StepResult
from tagger.settings import Settings, TagSettings
from tagger.tagtext import TagNormalizer, read_aliases, visible

log = logging.getLogger(__name__)

EXTENSIONS = ", ".join(sorted(IMAGE_EXTENSIONS))  # for messages


def tag(settings: Settings) -> StepResult:
    """Tags the images, folders and globs of tag.inputs: a caption beside each and/or one scores file."""
    options, run_dir = settings.tag, settings.paths.run_dir
    if not options.inputs:
        raise TaggerError("tag.inputs: name the images or folders to tag, e.g. --tag.inputs photos "
                          "(repeat the flag or separate with commas for more)")
    if not options.write_sidecars and options.output is None:
        raise TaggerError("nothing to write: tag.write_sidecars is false and no tag.output file is given")
    if options.write_sidecars and not options.caption_separator.strip() and not options.underscores:
        raise TaggerError("tag.caption_separator of spaces alone needs --tag.underscores true: without it "
                          "'long hair' would read as two tags (long_hair is one)")
    images, report = find_images(options.inputs, options.recursive)
    if not images:
        folders = any(path.is_dir() for path in options.inputs)
        hint = " (subfolders are searched with --tag.recursive)" if folders and not options.recursive else ""
        raise TaggerError(f"tag.inputs: no images ({EXTENSIONS}) in "
                          f"{', '.join(visible(str(path)) for path in options.inputs)}{hint}")
    normalize = tag_normalizer(run_dir)
    sidecars = plan_sidecars(images, options, report) if options.write_sidecars else {}
    # In skip mode an image whose caption exists needs the model only when the scores file wants it.
    todo = [index for index in range(len(images)) if options.output is not None or index in sidecars]
    if todo:
        tag_images(run_dir, options, images, todo, sidecars, normalize, report)
    report.print_summary(options)
    return StepResult([*sidecars.values(), *([options.output] if options.output else [])], report)


def tag_images(run_dir: Path, options: TagSettings, images: list[Path], todo: list[int], sidecars: dict[int, Path],
               normalize: TagNormalizer, report: "TagReport") -> None:
    """Runs the model over images[todo], writing each caption as its batch comes, and the scores file at the end.

    The engine, precision and threads are tag.engine, tag.precision and tag.threads (auto by default)."""
    vocabulary = model_tags(run_dir)
    thresholds = tag_thresholds(run_dir, vocabulary, options.threshold)  # checked before the model loads
    from tagger.model.choice import inference_for_run

    # Chosen first: it stops on an engine that cannot run before the model loads, and sets TensorFlow's
    # threads (tag.threads) before loading the model starts its thread pools, after which they cannot change.
    choice = inference_for_run(run_dir, options, len(todo), "tagger")
    from tagger.model.inference import batch_function

    tagger, _, image_size = load_trained_tagger(run_dir, vocabulary)
    # Compiled once, run per batch: calling the Keras model eagerly kept every batch's intermediate tensors
    # alive in TensorFlow's allocator (23 GB for efficientnetv2-l at 384 px on 16 images). An engine that is
    # not installed stops here, saying how to install it.
    predict = batch_function(tagger, choice.engine, choice.precision, image_size,
                             cache=choice.conversion_cache(run_dir, run_dir / runfolder.MODEL, "tagger"))
    naming = CaptionNaming.of(run_dir, options, vocabulary, normalize)
    # Asked for (--tag.print), the tag lists are the command's answer and print under --quiet too; shown by
    # default for a handful of images, they are news of the run like the rest.
    shown = options.print if options.print is not None else len(todo) <= PRINT_UP_TO
    shown_level = RESULT if options.print else logging.INFO
    log.info(f"tagging {counted(len(todo), 'image')} with {run_dir / runfolder.MODEL}")
    scores: dict[int, list[tuple[str, float]]] = {}
    paths = [str(images[index]) for index in todo]
    for position, probabilities in image_probabilities(predict, paths, image_size, options.batch_size):
        index = todo[position]
        if probabilities is None:
            report.unreadable.append((str(images[index]), image_problem(images[index]) or "does not decode"))
            continue
        chosen = naming.tags(chosen_tags(probabilities, thresholds, vocabulary, naming.excluded, None))
        chosen = chosen[:options.max_tags]
        if shown:
            log.log(shown_level, f"{visible(str(images[index]))}: " + (", ".join(f"{name} {score:.2f}" for name, score in chosen) or "(no tag)"))
        if options.output is not None:
            scores[index] = chosen
        if index in sidecars:
            try:
                outcome = write_sidecar(sidecars[index], naming.caption(chosen), options, normalize)
                report.count(outcome)
                if outcome == NOT_UTF8:
                    report.passed_over.append((str(sidecars[index]), "not UTF-8 text: left as it is (tag.mode "
                                               "overwrite replaces it)"))
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise  # every later file would fail too: stop with one message
                report.passed_over.append((str(sidecars[index]), f"not written: {error.strerror or error}"))
    if options.output is not None:
        write_scores(options.output, images, scores, report.unreadable)


PRINT_UP_TO = 10  # tag.print's default: each image's tags are printed when tagging at most this many


@dataclass
class CaptionNaming:
    """How the model's tags become a caption: undesired tags out, aliases and replacements, order, spelling."""

    excluded: set[int]  # vocabulary columns never written
    renamed: dict[str, str]  # vocabulary tag -> the tag written (aliases.txt, then tag.replace)
    always_first: list[str]
    separator: str
    underscores: bool
    normalize: TagNormalizer  # prepare.py's: always_first names a tag as the person spells it (MyTrigger)

    @classmethod
    def of(cls, run_dir: Path, options: TagSettings, vocabulary: list[str], normalize: TagNormalizer):
        renamed = run_aliases(run_dir, normalize) if options.apply_aliases else {}
        pairs = [(old, new.strip()) for old, _, new in (pair.partition("=") for pair in options.replace)]
        canonical = {name: renamed.get(name, name) for name in vocabulary}
        warn_of_unknown("tag.replace", [old for old, _ in pairs], {*canonical, *canonical.values()}, normalize)
        merged = [f"{old} (written as {canonical[normalize(old)]}: replace that)" for old, _ in pairs
                  if canonical.get(normalize(old), normalize(old)) != normalize(old)]
        if merged:
            log.warning(f"tag.replace: merged into another tag by aliases.txt, ignored: {', '.join(merged)}")
        replacements = {normalize(old): new for old, new in pairs}
        written = {name: replacements.get(tag, tag) for name, tag in canonical.items()}
        excluded = excluded_columns(options.exclude, vocabulary, normalize, written)
        return cls(excluded, {k: v for k, v in written.items() if k != v}, [normalize(t) for t in options.always_first],
                   options.caption_separator, options.underscores, normalize)

    def tags(self, chosen: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """(tag as written, score), most confident first; a tag reached twice (a variant and its canonical)
        once, with its higher score; the always-first tags the image has lead, in their order."""
        merged: dict[str, float] = {}
        for name, score in chosen:
            name = self.renamed.get(name, name)
            merged[name] = max(score, merged.get(name, 0.0))
        ranked = sorted(merged.items(), key=lambda item: -item[1])
        first = [item for wanted in self.always_first for item in ranked if self.normalize(item[0]) == wanted]
        return first + [item for item in ranked if item not in first]

    def caption(self, chosen: list[tuple[str, float]]) -> list[str]:
        return [name.replace(" ", "_") if self.underscores else name for name, _ in chosen]


def run_aliases(run_dir: Path, normalize: TagNormalizer) -> dict[str, str]:
    """variant -> canonical from the run folder's aliases.txt (apply_review.py), {} when there is none."""
    path = run_dir / runfolder.ALIASES
    if not path.is_file():
        return {}
    aliases = read_aliases(path, normalize)
    log.debug(f"applying {len(aliases)} aliases of {path}")
    return aliases


@dataclass
class TagReport:
    """What happened to each file, for the summary; nothing here stops the run."""

    passed_over: list[tuple[str, str]] = field(default_factory=list)  # not image files, or captions we may not write
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def print_summary(self, options: TagSettings) -> None:
        done = ", ".join(f"{count} {outcome}" for outcome, count in self.outcomes.items()) or "none written"
        if self.outcomes.get("backed up and replaced"):
            done += f" (earlier captions kept as *{options.caption_extension}{BACKUP_SUFFIX})"
        if options.write_sidecars:
            log.info(f"{options.caption_extension} files: {done}")
        for title, problems in [("could not be read", self.unreadable), ("passed over", self.passed_over)]:
            if problems:
                log.warning(f"{len(problems)} {'file' if len(problems) == 1 else 'files'} {title}:\n"
                            + "\n".join(f"  {visible(path)}: {visible(reason)}" for path, reason in problems))
        if options.output is not None:
            log.info(f"wrote {visible(str(options.output))}")


GLOB_CHARACTERS = set("*?[")
LINK_TO_NOTHING = "a symbolic link to a file that does not exist"
NOT_A_FILE = "named like an image but not a regular file"


def find_images(inputs: list[Path], recursive: bool = False) -> tuple[list[Path], TagReport]:
    """Image files named, matched by a glob, or found in named folders (and their subfolders when recursive),
    in a stable order, each once."""
    report, found = TagReport(), []
    for given in inputs:
        if not given.exists() and GLOB_CHARACTERS & set(str(given)):
            # A quoted glob (or one from the environment or a .env file) reaches us unexpanded.
            matches = sorted(glob.glob(str(given), recursive=True))
            if not matches:
                raise TaggerError(f"tag.inputs: {visible(str(given))} matches no file")
            paths = [Path(match) for match in matches]
        else:
            paths = [given]
        for path in paths:
            if path.is_dir():
                not_files = []
                found.extend(image_files_under(path, recursive, not_files))
                report.passed_over += [(str(name), LINK_TO_NOTHING if name.is_symlink() else NOT_A_FILE)
                                       for name in not_files]
            elif path.is_file():
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(path)
                elif path == given:  # a glob may match caption files beside the images: not worth a line
                    report.passed_over.append((str(path), f"not named like an image ({EXTENSIONS})"))
            elif path.is_symlink():  # a shell's glob names it like any file: one line, the others are tagged
                report.passed_over.append((str(path), LINK_TO_NOTHING))
            else:
                raise TaggerError(f"tag.inputs: {visible(str(path))} does not exist")
    unique: dict[str, Path] = {}
    for image in found:  # an image named directly and inside a named folder is tagged once
        unique.setdefault(os.path.abspath(image), image)
    return list(unique.values()), report


def load_trained_tagger(run_dir: Path, tags: list[str] | None = None):
    """The run's model, its tags (in its output order) and its input side in pixels.

    tags: the model's tag list when the caller has already read it (model_tags); checked all the same."""
    from tagger.model.network import load_tagger, model_image_size

    model_path = runfolder.require(run_dir / runfolder.MODEL, "train.py")
    tags = tags if tags is not None else model_tags(run_dir)
    tagger = load_tagger(model_path)
    if tagger.output_shape[-1] != len(tags):
        raise TaggerError(f"{model_path} predicts {tagger.output_shape[-1]} tags but its tag list holds "
                          f"{len(tags)}: run train.py again")
    return tagger, tags, model_image_size(tagger, run_dir)


def model_tags(run_dir: Path) -> list[str]:
    """The tags model.keras predicts, in its output order: its own list (vocabulary.csv may have changed
    since), or for an older model vocabulary.csv, checked."""
    model_path = runfolder.require(run_dir / runfolder.MODEL, "train.py")
    return runfolder.read_model_tags(model_path) or tags_of_an_older_model(run_dir)


def tags_of_an_older_model(run_dir: Path) -> list[str]:
    """A model.keras saved before models carried their tags: vocabulary.csv, checked against thresholds.json,
    which train.py wrote with the model, in its output order (a re-run of prepare.py changes only the first)."""
    vocabulary = runfolder.read_vocabulary(run_dir)
    record = runfolder.read_json(run_dir / runfolder.THRESHOLDS, "train.py")
    trained = list(record.get("tags", {})) if isinstance(record, dict) and isinstance(record.get("tags"), dict) else None
    if trained != vocabulary:
        raise TaggerError(f"{run_dir / runfolder.VOCABULARY} no longer lists the tags {run_dir / runfolder.MODEL} was "
                          f"trained on, in its order (prepare.py ran after train.py; this model predates models "
                          "that carry their own tag list): run train.py again")
    return vocabulary


def tag_thresholds(run_dir: Path, tags: list[str], override: float | None) -> np.ndarray:
    """One threshold per tag of the model: thresholds.json's, each checked, or the override."""
    if override is not None:
        return np.full(len(tags), override, np.float64)
    return runfolder.read_thresholds(run_dir, tags)


def tag_normalizer(run_dir: Path) -> TagNormalizer:
    """prepare.py's normalization, so `--tag.exclude Dark_Background` and existing .txt tags match the vocabulary."""
    data = runfolder.read_settings(run_dir, "prepare", required=False).get("data", {})
    return TagNormalizer(**{rule: data[rule] for rule in ("trim", "casefold", "fold_separators") if rule in data})


def excluded_columns(exclude: list[str], vocabulary: list[str], normalize: TagNormalizer,
                     written: dict[str, str] | None = None) -> set[int]:
    """Vocabulary columns of the undesired tags; written: vocabulary tag -> what it is written as (aliases,
    replacements), so excluding a canonical tag or a replacement also excludes the tags written as it."""
    written = written or {}
    unwanted = {normalize(name) for name in exclude}
    warn_of_unknown("tag.exclude", exclude, {*vocabulary, *map(normalize, written.values())}, normalize)
    return {index for index, name in enumerate(vocabulary)
            if name in unwanted or normalize(written.get(name, name)) in unwanted}


def warn_of_unknown(setting: str, names: list[str], known: set[str], normalize: TagNormalizer) -> None:
    """One line naming the tags a setting gives that are no tag of the model (matched as prepare.py normalizes)."""
    unknown = [name for name in names if normalize(name) not in known]
    if unknown:
        log.warning(f"{setting}: not tags of this model, ignored: {', '.join(unknown)}")


def image_probabilities(predict, paths: list[str], image_size: int, batch_size: int):
    """(position, probabilities) for every path in order; probabilities is None where the image did not decode.

    predict: pixels -> probabilities, a tagger.model.inference batch function."""

    progress = progress_bar(len(paths))
    position = 0
    for pixels, decoded in image_dataset(paths, image_size, batch_size, flag_failures=True):
        decoded = np.asarray(decoded)
        probabilities = predict(pixels) if decoded.any() else None
        for row, ok in enumerate(decoded):
            yield position, probabilities[row] if ok else None
            position += 1
        progress.update(position)


def chosen_tags(probabilities: np.ndarray, thresholds: np.ndarray, vocabulary: list[str], excluded: set[int],
                max_tags: int | None) -> list[tuple[str, float]]:
    """(tag, probability) at or above each tag's threshold, most confident first."""
    above = [int(i) for i in np.flatnonzero(probabilities.astype(np.float64) >= thresholds) if i not in excluded]
    above.sort(key=lambda i: (-probabilities[i], i))  # equal scores: the more frequent tag first
    return [(vocabulary[i], float(probabilities[i])) for i in above[:max_tags]]


def plan_sidecars(images: list[Path], options: TagSettings, report: TagReport) -> dict[int, Path]:
    """Image index -> the caption file to write; one that must not be written is reported instead."""
    extension = options.caption_extension
    sharing: dict[str, list[int]] = {}
    for index, image in enumerate(images):
        sharing.setdefault(os.path.abspath(image.with_suffix(extension)), []).append(index)
    planned = {}
    for index, image in enumerate(images):
        sidecar, refusal = sidecar_path(image, extension)
        owners = sharing[os.path.abspath(image.with_suffix(extension))]
        if len(owners) > 1:  # a.jpg and a.png share a.txt: neither gets it, or one would carry the other's tags
            if index == owners[0]:
                report.passed_over.append((str(image.with_suffix(extension)), "shared by " + " and ".join(
                    images[owner].name for owner in owners) + ": not written"))
        elif refusal is not None:
            report.passed_over.append((str(image.with_suffix(extension)), refusal))
        elif options.mode == "skip" and sidecar.exists():
            report.count("kept (skip mode)")
        else:
            planned[index] = sidecar
    return planned


def sidecar_path(image: Path, extension: str = ".txt") -> tuple[Path | None, str | None]:
    """The caption file beside image, or why it may not be written: tags never land outside the image's folder."""
    sidecar = image.with_suffix(extension)
    if sidecar.is_symlink():
        return None, "is a symbolic link: not followed, not replaced"
    if sidecar.resolve().parent != image.parent.resolve():
        return None, f"resolves outside {image.parent}"
    if sidecar.exists() and not sidecar.is_file():
        return None, "exists and is not a regular file"
    return sidecar, None


BACKUP_SUFFIX = ".bak"
NOT_UTF8 = "left alone (not UTF-8)"


def write_sidecar(sidecar: Path, new_tags: list[str], options: TagSettings, normalize: TagNormalizer) -> str:
    """Writes the image's caption; returns what happened, for the summary: written (a new file), backed up and
    replaced, overwritten, appended, unchanged, or left alone (not UTF-8).

    An existing caption is never lost unless tag.mode is overwrite: backup keeps its text under a free
    <name>.txt.bak name first; append keeps its tags.
    """
    separator = options.caption_separator
    existing, old = [], None
    if sidecar.exists():
        try:
            old = sidecar.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            if options.mode != "overwrite":
                return NOT_UTF8
    if options.mode == "append" and old is not None:
        # The caption's own separator: a comma where it has one (kohya's and WD14's), whatever this run writes.
        split_on = "," if "," in old else separator.strip() or None  # ' ' separates on any run of spaces
        existing = [part.strip() for line in old.splitlines() for part in line.split(split_on) if part.strip()]
        if not separator.strip():  # spaces between tags: one within a tag would cut it in two
            existing = [name.replace(" ", "_") for name in existing]
    merged, seen = [], set()
    for name in existing + new_tags:  # existing tags first, in their order; a tag already there is not repeated
        if normalize(name) not in seen:
            seen.add(normalize(name))
            merged.append(name)
    text = separator.join(merged) + "\n"
    if not sidecar.exists():
        replace_file(sidecar, text)
        return "written"
    if sidecar.read_bytes() == text.encode("utf-8"):
        return "unchanged"
    if options.mode == "backup":
        replace_file(free_backup_name(sidecar), sidecar.read_bytes())
    replace_file(sidecar, text)
    return {"backup": "backed up and replaced", "overwrite": "overwritten", "append": "appended"}[options.mode]


def free_backup_name(sidecar: Path) -> Path:
    """photo.txt.bak, or photo.txt.bak.2, .3, ... when earlier backups exist: a backup never replaces one."""
    candidate, number = sidecar.with_name(sidecar.name + BACKUP_SUFFIX), 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = sidecar.with_name(f"{sidecar.name}{BACKUP_SUFFIX}.{number}")
    return candidate


def replace_file(target: Path, content: str | bytes) -> None:
    """Atomic like the run folder's files, keeping an existing file's permissions (a new one's follow the umask)."""
    mode = target.stat().st_mode & 0o777 if target.exists() else None
    with runfolder.atomic_path(target) as temporary:
        if isinstance(content, bytes):
            temporary.write_bytes(content)
        else:
            temporary.write_text(content, encoding="utf-8")
        if mode is not None:
            temporary.chmod(mode)


def write_scores(target: Path, images: list[Path], scores: dict[int, list[tuple[str, float]]],
                 unreadable: list[tuple[str, str]]) -> None:
    """Every image scored, with its tags and probabilities (most confident first), and every one that failed."""
    if target.suffix.lower() == ".json":
        runfolder.write_json(target, {
            "images": {path_text(images[i]): {name: round(p, 6) for name, p in tags} for i, tags in scores.items()},
            "unreadable": {path_text(path): reason for path, reason in unreadable},
        })
    else:
        # Long form, one row per (image, tag), as data tools take it; an image without a tag keeps one empty row.
        rows = []
        for i, tags in scores.items():
            image = path_text(images[i])
            rows += [(image, name, f"{p:.6f}", "") for name, p in tags] or [(image, "", "", "")]
        runfolder.write_csv(target, ["image", "tag", "score", "error"],
                            rows + [(path_text(path), "", "", reason) for path, reason in unreadable])
