"""tag.py: the trained tagger over image files and folders; tags as .txt sidecars and/or one JSON/CSV file."""

import errno
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.images import (
    IMAGE_EXTENSIONS,
    image_dataset,
    image_files_under,
    image_problem,
)
from tagger.progress import progress_bar
from tagger.result import StepResult
from tagger.settings import Settings, TagSettings
from tagger.tagtext import TagNormalizer

SIDECAR_SUFFIX = ".txt"
EXTENSIONS = ", ".join(sorted(IMAGE_EXTENSIONS))  # for messages


def tag(settings: Settings) -> StepResult:
    """Tags the images and folders of tag.inputs: a .txt beside each and/or one scores file (tag.output)."""
    options, run_dir = settings.tag, settings.paths.run_dir
    if not options.inputs:
        raise TaggerError("tag.inputs: name the images or folders to tag, e.g. --tag.inputs photos "
                          "(repeat the flag or separate with commas for more)")
    if not options.write_sidecars and options.output is None:
        raise TaggerError("nothing to write: tag.write_sidecars is false and no tag.output file is given")
    images, report = find_images(options.inputs)
    if not images:
        raise TaggerError(f"tag.inputs: no images ({EXTENSIONS}) in "
                          f"{', '.join(map(str, options.inputs))}")
    normalize = tag_normalizer(run_dir)
    sidecars = plan_sidecars(images, options, report) if options.write_sidecars else {}
    # In skip mode an image whose .txt exists needs the model only when the scores file wants it.
    todo = [index for index in range(len(images)) if options.output is not None or index in sidecars]
    if todo:
        tag_images(run_dir, options, images, todo, sidecars, normalize, report)
    report.print_summary(options.output)
    return StepResult([*sidecars.values(), *([options.output] if options.output else [])], report)


def tag_images(run_dir: Path, options: TagSettings, images: list[Path], todo: list[int], sidecars: dict[int, Path],
               normalize: TagNormalizer, report: "TagReport") -> None:
    """Runs the model over images[todo], writing each .txt as its batch comes, and the scores file at the end."""
    tagger, vocabulary, image_size = load_trained_tagger(run_dir)
    thresholds = tag_thresholds(run_dir, vocabulary, options.threshold)
    excluded = excluded_columns(options.exclude, vocabulary, normalize)
    print(f"tagging {len(todo)} images with {run_dir / runfolder.MODEL}")
    scores: dict[int, list[tuple[str, float]]] = {}
    paths = [str(images[index]) for index in todo]
    for position, probabilities in image_probabilities(tagger, paths, image_size, options.batch_size):
        index = todo[position]
        if probabilities is None:
            report.unreadable.append((str(images[index]), image_problem(images[index]) or "does not decode"))
            continue
        chosen = chosen_tags(probabilities, thresholds, vocabulary, excluded, options.max_tags)
        if options.output is not None:
            scores[index] = chosen
        if index in sidecars:
            try:
                report.count(write_sidecar(sidecars[index], [name for name, _ in chosen], options.mode, normalize))
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise  # every later file would fail too: stop with one message
                report.passed_over.append((str(sidecars[index]), f"not written: {error.strerror or error}"))
    if options.output is not None:
        write_scores(options.output, images, scores, report.unreadable)


@dataclass
class TagReport:
    """What happened to each file, for the summary; nothing here stops the run."""

    passed_over: list[tuple[str, str]] = field(default_factory=list)  # not image files, or .txt we may not write
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def print_summary(self, output: Path | None) -> None:
        done = ", ".join(f"{count} {outcome}" for outcome, count in self.outcomes.items()) or "none written"
        print(f".txt files: {done}")
        for title, problems in [("could not be read", self.unreadable), ("passed over", self.passed_over)]:
            if problems:
                print(f"{len(problems)} {'file' if len(problems) == 1 else 'files'} {title}:", file=sys.stderr)
                for path, reason in problems:
                    print(f"  {path}: {reason}", file=sys.stderr)
        if output is not None:
            print(f"wrote {output}")


def find_images(inputs: list[Path]) -> tuple[list[Path], TagReport]:
    """Image files named, or found anywhere under named folders, in a stable order, each once."""
    report, found = TagReport(), []
    for given in inputs:
        if given.is_dir():
            found.extend(image_files_under(given))
        elif given.is_file():
            if given.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(given)
            else:
                report.passed_over.append((str(given), f"not named like an image ({EXTENSIONS})"))
        else:
            raise TaggerError(f"tag.inputs: {given} does not exist")
    unique: dict[str, Path] = {}
    for image in found:  # an image named directly and inside a named folder is tagged once
        unique.setdefault(os.path.abspath(image), image)
    return list(unique.values()), report


def load_trained_tagger(run_dir: Path):
    """The run's model, its vocabulary (the model's output order) and its input side in pixels."""
    from tagger.model.network import load_tagger, model_image_size

    model_path = runfolder.require(run_dir / runfolder.MODEL, "train.py")
    vocabulary = runfolder.read_vocabulary(run_dir)
    tagger = load_tagger(model_path)
    if tagger.output_shape[-1] != len(vocabulary):
        raise TaggerError(f"{model_path} predicts {tagger.output_shape[-1]} tags but {runfolder.VOCABULARY} lists "
                          f"{len(vocabulary)}: prepare.py ran after train.py; run train.py again")
    return tagger, vocabulary, model_image_size(tagger, run_dir)


def tag_thresholds(run_dir: Path, vocabulary: list[str], override: float | None) -> np.ndarray:
    """One threshold per vocabulary tag: thresholds.json's (its default for a tag it lacks), or the override."""
    if override is not None:
        return np.full(len(vocabulary), override, np.float64)
    record = runfolder.read_json(run_dir / runfolder.THRESHOLDS, "train.py")
    per_tag, default = record.get("tags", {}), record.get("default", 0.5)
    try:
        return np.array([float(per_tag.get(name, default)) for name in vocabulary], np.float64)
    except (TypeError, ValueError):
        raise TaggerError(f"{run_dir / runfolder.THRESHOLDS}: expected {{\"default\": t, \"tags\": {{tag: t}}}} "
                          "with numbers: run train.py again") from None


def tag_normalizer(run_dir: Path) -> TagNormalizer:
    """prepare.py's normalization, so `--tag.exclude Dark_Background` and existing .txt tags match the vocabulary."""
    data = runfolder.read_settings(run_dir, "prepare", required=False).get("data", {})
    return TagNormalizer(**{rule: data[rule] for rule in ("trim", "casefold", "fold_separators") if rule in data})


def excluded_columns(exclude: list[str], vocabulary: list[str], normalize: TagNormalizer) -> set[int]:
    column = {name: index for index, name in enumerate(vocabulary)}
    unknown = [name for name in exclude if normalize(name) not in column]
    if unknown:
        print(f"warning: tag.exclude: not tags of this model, ignored: {', '.join(unknown)}", file=sys.stderr)
    return {column[normalize(name)] for name in exclude if normalize(name) in column}


def image_probabilities(tagger, paths: list[str], image_size: int, batch_size: int):
    """(position, probabilities) for every path in order; probabilities is None where the image did not decode."""

    progress = progress_bar(len(paths))
    position = 0
    for pixels, decoded in image_dataset(paths, image_size, batch_size, flag_failures=True):
        decoded = np.asarray(decoded)
        probabilities = np.asarray(tagger(pixels, training=False), np.float32) if decoded.any() else None
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
    """Image index -> the .txt to write; a .txt that must not be written is reported instead."""
    sharing: dict[str, list[int]] = {}
    for index, image in enumerate(images):
        sharing.setdefault(os.path.abspath(image.with_suffix(SIDECAR_SUFFIX)), []).append(index)
    planned = {}
    for index, image in enumerate(images):
        sidecar, refusal = sidecar_path(image)
        owners = sharing[os.path.abspath(image.with_suffix(SIDECAR_SUFFIX))]
        if len(owners) > 1:  # a.jpg and a.png share a.txt: neither gets it, or one would carry the other's tags
            if index == owners[0]:
                report.passed_over.append((str(image.with_suffix(SIDECAR_SUFFIX)), "shared by " + " and ".join(
                    images[owner].name for owner in owners) + ": not written"))
        elif refusal is not None:
            report.passed_over.append((str(image.with_suffix(SIDECAR_SUFFIX)), refusal))
        elif options.mode == "skip" and sidecar.exists():
            report.count("kept (skip mode)")
        else:
            planned[index] = sidecar
    return planned


def sidecar_path(image: Path) -> tuple[Path | None, str | None]:
    """The .txt beside image, or why it may not be written: tags never land outside the image's folder."""
    sidecar = image.with_suffix(SIDECAR_SUFFIX)
    if sidecar.is_symlink():
        return None, "is a symbolic link: not followed, not replaced"
    if sidecar.resolve().parent != image.parent.resolve():
        return None, f"resolves outside {image.parent}"
    if sidecar.exists() and not sidecar.is_file():
        return None, "exists and is not a regular file"
    return sidecar, None


def write_sidecar(sidecar: Path, new_tags: list[str], mode: str, normalize: TagNormalizer) -> str:
    """Writes the image's tags; returns what happened, for the summary."""
    existing = []
    if mode == "append" and sidecar.exists():
        try:
            text = sidecar.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            return "left alone (not UTF-8)"
        existing = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    merged, seen = [], set()
    for name in existing + new_tags:  # existing tags first, in their order; a tag already there is not repeated
        if normalize(name) not in seen:
            seen.add(normalize(name))
            merged.append(name)
    text = runfolder.TAG_SEPARATOR.join(merged) + "\n"
    if sidecar.exists() and sidecar.read_bytes() == text.encode("utf-8"):
        return "unchanged"
    replace_file(sidecar, text)
    return "written"


def replace_file(target: Path, text: str) -> None:
    """Atomic like the run folder's files, keeping an existing file's permissions (temporaries are 0600)."""
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
    with runfolder.atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(mode)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_scores(target: Path, images: list[Path], scores: dict[int, list[tuple[str, float]]],
                 unreadable: list[tuple[str, str]]) -> None:
    """Every image scored, with its tags and probabilities (most confident first), and every one that failed."""
    if target.suffix.lower() == ".json":
        runfolder.write_json(target, {
            "images": {str(images[i]): {name: round(p, 6) for name, p in tags} for i, tags in scores.items()},
            "unreadable": dict(unreadable),
        })
    else:
        rows = [(str(images[i]), runfolder.TAG_SEPARATOR.join(name for name, _ in tags),
                 runfolder.TAG_SEPARATOR.join(f"{p:.6f}" for _, p in tags), "") for i, tags in scores.items()]
        runfolder.write_csv(target, ["image", "tags", "scores", "error"],
                            rows + [(path, "", "", reason) for path, reason in unreadable])
