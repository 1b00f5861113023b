"""prepare.py: images and tags in, a checked manifest and tag vocabulary out."""

import hashlib
import logging
import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.files import is_utf8_name, path_text
from tagger.images import inspect_image
from tagger.logs import counted
from tagger.prepare.sources import SourceFormat, SourceProblem, read_source
from tagger.progress import progress_bar
from tagger.result import StepResult
from tagger.runfolder import TRAIN, VALIDATION
from tagger.settings import Settings
from tagger.tagtext import TagNormalizer, read_aliases, visible

log = logging.getLogger(__name__)

# data.max_broken_fraction applies only from this many broken images on: 2 of 5 is noise, not a broken set.
MIN_BROKEN_TO_STOP = 5


# Under this share of the kept tags on a validation image, prepare.py warns: training would then be judged on a minority of
# the vocabulary. Not under WARNED_FROM_TAGS kept tags: with a few tags (a trial run) the share hangs on an image or two.
THIN_VALIDATION = 0.5
WARNED_FROM_TAGS = 10


def validation_score(image_id: str) -> float:
    """A stable number in [0, 1) per image, so an image's split does not change when images are added.

    (The one exception: in a set so small that no image falls below validation_fraction,
    assign_splits moves the lowest-scoring image to validation.)
    """
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(image_ids: list[str], validation_fraction: float) -> list[str]:
    scores = [validation_score(image_id) for image_id in image_ids]
    splits = [VALIDATION if score < validation_fraction else TRAIN for score in scores]
    # A small set may hash entirely to one side; both sides need an image.
    if len(image_ids) >= 2 and VALIDATION not in splits:
        splits[min(range(len(scores)), key=scores.__getitem__)] = VALIDATION
    if len(image_ids) >= 2 and TRAIN not in splits:
        splits[max(range(len(scores)), key=scores.__getitem__)] = TRAIN
    return splits


def unique_in_order(tags) -> list[str]:
    return list(dict.fromkeys(tag for tag in tags if tag.strip()))


def prepare(settings: Settings) -> StepResult:
    """Reads the tags file, normalizes the tags, checks every image; writes manifest.csv, vocabulary.csv,
    skipped.csv (what was left out and why), rare_tags.csv (the tags under data.min_tag_occurrences, image by image)
    and settings.prepare.json, all together or none."""
    data, run_dir = settings.data, settings.paths.run_dir
    if data.source is None:
        raise TaggerError("data.source is not set: give --data.source <tags.csv | tags.jsonl | image folder>")
    for setting, path in (("data.source", data.source), ("data.images_root", data.images_root)):
        if path is not None and not is_utf8_name(path.absolute()):
            raise TaggerError(f"{setting}: {path_text(path.absolute())}: a folder's name on the way is not UTF-8 "
                              "(its bytes shown as \\xNN); manifest.csv is UTF-8 text and could not hold the images' "
                              "paths: rename it")
    normalize = TagNormalizer(data.trim, data.casefold, data.fold_separators)
    aliases = read_aliases(data.aliases, normalize) if data.aliases else {}
    records, problems, default_root = read_source(
        data.source, SourceFormat(data.tag_separator, data.image_column, data.tags_column))
    warn_if_separator_looks_wrong(records, data.source, data.tag_separator)
    images_root = data.images_root or default_root
    if not records:
        raise TaggerError(f"no images listed in {data.source}" + (f" ({problems[0].reason})" if problems else ""))

    renamed: dict[str, set[str]] = {}
    tags_by_image = tags_of_images(records, normalize, aliases, data.max_tag_length, problems, renamed)
    if aliases:
        images = set().union(*renamed.values())
        log.info(f"aliases: {counted(len(aliases), 'merge')} read from {data.aliases}; {len(renamed)} of their "
                 f"variants found in {data.source}, renamed to their canonical tags on {counted(len(images), 'image')}")
    read_count = len(tags_by_image)
    tags_before = len({tag for tags in tags_by_image.values() for tag in tags})
    drop_images(tags_by_image, problems, {image: "no tags" for image, tags in tags_by_image.items() if not tags})
    refused = {} if data.allow_outside_root else {image: "path leaves data.images_root"
                                                   for image in tags_by_image if leaves_root(image)}
    drop_images(tags_by_image, problems, refused)
    paths = {image: resolve(image, images_root) for image in tags_by_image}
    unreadable, photos = check_images(paths) if data.check_images else ({}, None)
    drop_images(tags_by_image, problems, unreadable)
    merge_same_files(tags_by_image, paths, problems)
    stop_unless_usable(tags_by_image, problems, read_count, len(refused) + len(unreadable), data, images_root, run_dir)

    kept_counts = frequent_tags(tags_by_image, data.min_tag_occurrences, problems, run_dir)
    manifest = build_manifest(tags_by_image, paths, kept_counts, data, problems, photos)
    rare = rare_tag_uses(tags_by_image, kept_counts)
    write_outputs(run_dir, problems, kept_counts, manifest, settings, rare)
    print_summary(read_count, manifest, problems, tags_before, kept_counts, run_dir, rare)
    warn_of_a_thin_validation_split(manifest, {tag for tag, _ in kept_counts}, data.validation_fraction)
    return StepResult([run_dir / name for name in (runfolder.MANIFEST, runfolder.VOCABULARY, runfolder.SKIPPED)],
                      manifest)


def tags_of_images(records, normalize: TagNormalizer, aliases: dict[str, str], max_tag_length: int,
                   problems: list[SourceProblem], renamed: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
    """image id -> its normalized, aliased tags in order; duplicate entries of one image are merged. renamed:
    filled with, per variant, the images on which an alias renamed it."""
    tags_by_image: dict[str, list[str]] = {}
    for record in records:
        image = image_id(record.image)
        normalized = unique_in_order(map(normalize, record.raw_tags))
        if aliases and renamed is not None:
            for tag in (tag for tag in normalized if tag in aliases):
                renamed.setdefault(tag, set()).add(image)
        tags = unique_in_order(aliases.get(t, t) for t in normalized)
        for tag in [tag for tag in tags if len(tag) > max_tag_length]:
            problems.append(SourceProblem(record.origin, f"tag {tag[:20]!r}... of {len(tag)} characters dropped: "
                                          f"longer than data.max_tag_length ({max_tag_length})"))
        tags = [tag for tag in tags if len(tag) <= max_tag_length]
        if image in tags_by_image:
            problems.append(SourceProblem(record.origin, f"duplicate entry for {image}: tags merged"))
            tags_by_image[image] = unique_in_order(tags_by_image[image] + tags)
        else:
            tags_by_image[image] = tags
    return tags_by_image


def merge_same_files(tags_by_image: dict[str, list[str]], paths: dict[str, Path], problems) -> None:
    """One image per file: the same file listed under two paths (a symbolic link, a hard link, an absolute and
    a relative path) would sit in training and validation at once. The first listed is kept with the tags of
    both; the others are recorded in skipped.csv."""
    first_of = {}
    for image, identity in file_identities({image: paths[image] for image in tags_by_image}).items():
        kept = first_of.setdefault(identity, image)
        if kept != image:
            tags_by_image[kept] = unique_in_order(tags_by_image[kept] + tags_by_image.pop(image))
            del paths[image]
            problems.append(SourceProblem(image, f"same file as {kept}: tags merged"))


def file_identities(paths: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """image -> (device, inode) of its file, links followed. Files that cannot be read are left out
    (check_images says why). Byte-for-byte copies are different files and stay apart: a collection may hold
    the same picture twice on purpose, and test sets are often made of identical images."""
    identities = {}
    for image, path in paths.items():
        try:
            stat = os.stat(path)
        except OSError:
            continue
        identities[image] = (stat.st_dev, stat.st_ino)
    return identities


def drop_images(tags_by_image: dict[str, list[str]], problems: list[SourceProblem], reasons: dict[str, str]) -> None:
    for image, reason in reasons.items():
        problems.append(SourceProblem(image, reason))
        del tags_by_image[image]


def stop_unless_usable(tags_by_image, problems, read_count: int, broken: int, data, images_root, run_dir) -> None:
    """Stops, with skipped.csv written, when no image is left or too many of those listed are broken."""
    if not tags_by_image:
        write_skipped(run_dir, problems)
        example = f" (e.g. {problems[-1].item}: {problems[-1].reason})" if problems else ""
        raise TaggerError(
            f"none of the {read_count} images listed can be used{example}; images are looked up under "
            f"{images_root} (data.images_root); details in {run_dir / runfolder.SKIPPED}"
        )
    if broken >= MIN_BROKEN_TO_STOP and broken / read_count > data.max_broken_fraction:
        write_skipped(run_dir, problems)
        raise TaggerError(
            f"{broken} of the {read_count} images listed ({broken / read_count:.0%}) are missing, unreadable or "
            f"refused, more than data.max_broken_fraction ({data.max_broken_fraction:g}); reasons in "
            f"{run_dir / runfolder.SKIPPED}: fix them, or raise data.max_broken_fraction to train on the rest"
        )


def frequent_tags(tags_by_image, min_occurrences: int, problems, run_dir) -> list[tuple[str, int]]:
    """(tag, count) of the tags on at least min_occurrences images, most used first."""
    counts = Counter(tag for tags in tags_by_image.values() for tag in tags)
    kept = sorted(((t, c) for t, c in counts.items() if c >= min_occurrences), key=lambda tc: (-tc[1], tc[0]))
    if not kept:
        write_skipped(run_dir, problems)
        most_used, most_count = counts.most_common(1)[0]
        raise TaggerError(
            f"no tag is used on at least {min_occurrences} images (data.min_tag_occurrences); "
            f"the most used, {most_used!r}, is on {most_count}: lower the threshold or add images"
        )
    return kept


def rare_tag_uses(tags_by_image, kept_counts) -> list[tuple[str, str]]:
    """(tag, image) for each tag under data.min_tag_occurrences on each image carrying it: left out of training, but
    cluster_tags.py lists those spelled as a kept tag (a typo used on three images is still a variant)."""
    kept_tags = {tag for tag, _ in kept_counts}
    return [(tag, image) for image, tags in tags_by_image.items() for tag in tags if tag not in kept_tags]


def build_manifest(tags_by_image, paths, kept_counts, data, problems, photos=None) -> runfolder.Manifest:
    """The images left with at least one kept tag, each with its split (and its photo hash, photos: image -> hash,
    where the images were checked)."""
    kept_tags = {tag for tag, _ in kept_counts}
    image_ids, kept_tag_lists = [], []
    for image, tags in tags_by_image.items():
        kept = [tag for tag in tags if tag in kept_tags]
        if kept:
            image_ids.append(image)
            kept_tag_lists.append(kept)
        else:
            problems.append(SourceProblem(image, f"none of its tags is used on {data.min_tag_occurrences}+ images"))
    return runfolder.Manifest(
        image_ids=image_ids,
        paths=[str(paths[image]) for image in image_ids],
        tags=kept_tag_lists,
        splits=assign_splits(image_ids, data.validation_fraction),
        photos=None if photos is None else [photos.get(image, "") for image in image_ids],
    )


def image_id(image: str) -> str:
    """One spelling per file: './a.png', 'a.png' and 'x/../a.png' are the same image."""
    return os.path.normpath(image).replace(os.sep, "/")


def leaves_root(image: str) -> bool:
    """A relative path that climbs out of the images root ('../../etc/passwd'); image is an image_id.

    Judged on the written path, not on where symlinks lead: a link inside the root is the user's choice.
    """
    return not os.path.isabs(image) and (image == ".." or image.startswith("../"))


def resolve(image: str, images_root: Path) -> Path:
    path = Path(image)
    return path if path.is_absolute() else (images_root / path).absolute()


def check_images(paths: dict[str, Path]) -> tuple[dict[str, str], dict[str, str]]:
    """(image -> reason, for every image that cannot be decoded; image -> photo hash, for every one that can).
    Decoding runs on all cores."""
    progress = progress_bar(len(paths), description="checking images")
    found = []
    with ThreadPoolExecutor() as pool:
        for result in pool.map(inspect_image, paths.values()):
            found.append(result)
            progress.update(len(found))
    progress.close()
    return ({image: reason for image, (reason, _) in zip(paths, found) if reason is not None},
            {image: photo for image, (reason, photo) in zip(paths, found) if reason is None})


# "Nearly every row": at least this share of the rows with tags, and at least this many rows.
ONE_TAG_ROWS_SHARE, ONE_TAG_ROWS_MIN = 0.9, 5


def warn_if_separator_looks_wrong(records, source: Path, separator: str) -> None:
    """Danbooru-style strings (long_hair blue_eyes) read with the comma separator make one long tag per image,
    and most then fall below data.min_tag_occurrences: say so before they are dropped quietly."""
    if separator != ",":
        return
    tagged = [record.raw_tags for record in records if any(tag.strip() for tag in record.raw_tags)]
    single = [tags for tags in tagged if len([tag for tag in tags if tag.strip()]) == 1
              and " " in next(tag for tag in tags if tag.strip()).strip()]
    if len(single) >= ONE_TAG_ROWS_MIN and len(single) >= ONE_TAG_ROWS_SHARE * len(tagged):
        example = next(tag for tag in single[0] if tag.strip()).strip()
        log.warning(f"{source}: {len(single)} of {len(tagged)} images have one tag with spaces in it "
                    f"(like {example[:60]!r}): if tags are separated by spaces (Danbooru style), give "
                    "--data.tag_separator space")


def write_outputs(run_dir: Path, problems, kept_counts, manifest: runfolder.Manifest, settings: Settings,
                  rare_uses=()) -> None:
    """All of prepare's files or none: each is written in full into a staging folder, then all are moved in,
    so a full disk or a crash midway never pairs a new manifest with the old vocabulary.

    The moves are several renames, so the old manifest goes first and the new one comes last: a crash between
    them leaves no manifest.csv, and the next step asks for prepare.py instead of reading a mixed set. A move
    that fails (a folder or a protected file in the way) puts every old file back: they stay until the new
    ones are all in place."""
    staging = run_dir / runfolder.PREPARE_STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed run; the run lock keeps other steps out
    try:
        write_skipped(staging, problems)
        runfolder.write_vocabulary(staging, kept_counts)
        runfolder.write_rare_tags(staging, rare_uses)
        runfolder.write_manifest(staging, manifest)
        runfolder.write_settings(staging, "prepare", with_absolute_paths(settings))
        new_files = sorted(staging.iterdir(), key=lambda path: (path.name == runfolder.MANIFEST, path.name))
        previous = keep_previous_outputs(run_dir, staging, [path.name for path in new_files])
        try:
            (run_dir / runfolder.MANIFEST).unlink(missing_ok=True)
            for written in new_files:
                os.replace(written, run_dir / written.name)
        except OSError:
            put_back_previous_outputs(run_dir, previous, [path.name for path in new_files])
            raise
    except OSError as error:
        if error.filename and Path(error.filename).parent == staging:
            error.filename = str(run_dir / Path(error.filename).name)  # the output, not its staging copy
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def keep_previous_outputs(run_dir: Path, staging: Path, names: list[str]) -> Path:
    """A hard link (or a copy, where links are not supported) of each old output, to put back on failure.
    Links, not renames: the old files stay where they are while the new ones move in."""
    previous = staging / ".previous"
    previous.mkdir()
    for name in names:
        old = run_dir / name
        if old.is_file():
            try:
                os.link(old, previous / name)
            except OSError:
                shutil.copy2(old, previous / name)
    return previous


def put_back_previous_outputs(run_dir: Path, previous: Path, names: list[str]) -> None:
    """After a failed move: every old output back in place, and no new output without its old counterpart."""
    for name in names:
        try:
            if (previous / name).exists():
                os.replace(previous / name, run_dir / name)
            elif (run_dir / name).is_file():
                (run_dir / name).unlink()
        except OSError:
            pass  # what stands in the way of this file also kept the new one out: the old one is still there


def write_skipped(run_dir: Path, problems: list[SourceProblem]) -> None:
    runfolder.write_csv(run_dir / runfolder.SKIPPED, ["item", "reason"], ((p.item, p.reason) for p in problems))


def warn_of_a_thin_validation_split(manifest, kept: set[str], fraction: float) -> None:
    """One line when most kept tags have no validation image: early stopping and the per-tag thresholds then read a
    minority of the vocabulary (the rest take the global threshold), a choice a person should make knowingly."""
    seen = {tag for tags, split in zip(manifest.tags, manifest.splits) if split == VALIDATION for tag in tags} & kept
    if len(kept) >= WARNED_FROM_TAGS and len(seen) < THIN_VALIDATION * len(kept):
        log.warning(f"validation holds images of only {len(seen)} of the {len(kept)} kept tags: early stopping and "
                    f"the tags' thresholds rest on those (the others take the global threshold); raise "
                    f"--data.validation_fraction (now {fraction:g}) or add images")


def print_summary(read_count, manifest, problems, tags_before, kept_counts, run_dir, rare_uses=()) -> None:
    validation = manifest.splits.count(VALIDATION)
    log.info(f"images: {read_count} read, {len(manifest.image_ids)} kept "
          f"({len(manifest.image_ids) - validation} train, {validation} validation)")
    if problems:
        log.info(f"skipped or merged: {counted(len(problems), 'entry', 'entries')}, "
                 f"reasons in {run_dir / runfolder.SKIPPED}")
    rare = len({tag for tag, _ in rare_uses})
    log.info(f"tags: {tags_before} distinct before filtering, {len(kept_counts)} kept"
             + (f", {rare} under data.min_tag_occurrences listed in {runfolder.RARE_TAGS}" if rare else ""))
    log.info("most frequent: " + ", ".join(f"{visible(tag)} ({count})" for tag, count in kept_counts[:10]))
    log.info(f"wrote {run_dir / runfolder.MANIFEST} and {run_dir / runfolder.VOCABULARY}")


def with_absolute_paths(settings: Settings) -> Settings:
    """The settings as settings.prepare.json records them: the data's paths absolute. A relative one is relative to
    the folder prepare.py ran in, which the record does not know; apply_review.py prints the commands that run the
    steps again from these records, and a person runs them from wherever they are."""
    data = settings.data
    paths = {name: getattr(data, name).absolute() for name in ("source", "images_root", "aliases")
             if getattr(data, name) is not None}
    return settings.model_copy(update={"data": data.model_copy(update=paths)})
