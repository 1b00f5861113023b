"""Steps killed with SIGKILL at seeded points, then run again: the outputs equal an uninterrupted run's, byte for byte.

A kill point is the N-th rename a step makes. Every output is written under a temporary name and renamed into
place when complete (runfolder.atomic_path, and prepare.py's staging folder), so the renames are where a step
commits its work, and counting them, not seconds, puts the kill at the same point on every run and machine.
The hook is tests/child_hooks/sitecustomize.py, loaded only into the killed process: no production code
carries a test switch, and the hook also sees prepare.py's own os.replace calls, which bypass atomic_path.

For each kill point: the step dies there (its exit by SIGKILL proves it got that far); every file under its
final name is the complete file from before the run or the complete file of the uninterrupted run, nothing in
between; the step is run again, and then every file equals the uninterrupted run's. Each step runs on a run
folder named by the relative path "run", so the settings.*.json it records are comparable across folders.
Training is killed and resumed in test_resume.py.
"""

import hashlib
import re
import shutil
import signal
from pathlib import Path

import pytest
from conftest import child_hooks, run_script
from test_prepare_bad_input import no_outside_settings  # noqa: F401 (autouse: keeps the user's settings out)

# The renames of each step, in order, relative to the folder it runs from. prepare.py writes each file into
# its staging folder, then moves them in, manifest.csv last.
PREPARE_RENAMES = ["run/.prepare.partial/skipped.csv", "run/.prepare.partial/vocabulary.csv",
                   "run/.prepare.partial/rare_tags.csv", "run/.prepare.partial/manifest.csv",
                   "run/.prepare.partial/settings.prepare.json", "run/rare_tags.csv", "run/settings.prepare.json",
                   "run/skipped.csv", "run/vocabulary.csv", "run/manifest.csv"]
CLUSTER_RENAMES = ["run/synonyms.json", "run/synonyms.csv", "run/rejected.csv", "run/review.csv",
                   "run/synonyms.html", "run/settings.cluster.json"]
APPLY_REVIEW_RENAMES = ["run/rejected.csv", "run/aliases.txt"]
TAGGED_IMAGES = 6
TAG_RENAMES = [f"images/{number:04d}.txt" for number in range(TAGGED_IMAGES)] + ["scores.json"]
TAG_FLAGS = ["--tag.inputs", "images", "--tag.batch_size", "1"]  # one image a batch: no batch-dependent last bits
TEMPORARY = re.compile(r"\.(?P<target>.+)\.[^.]+\.partial(\.\w+)?")  # atomic_path's .<name>.<random>.partial<suffix>


def every_point(renames: list[str]) -> list[str]:
    """Just before each rename, and just after the last (all outputs in place, the step not yet ended)."""
    return [f"before:{number}" for number in range(1, len(renames) + 1)] + [f"after:{len(renames)}"]


def final_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under its final name, by path relative to folder. Hidden names are not outputs:
    the lock, atomic_path's temporaries, prepare.py's .prepare.partial staging folder."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
            and "logs" not in path.relative_to(folder).parts}  # each run's own log: times and resume lines differ


def leftovers(folder: Path) -> list[str]:
    """Hidden entries a killed step left (its lock aside), relative to folder; not those inside another one."""
    found = []
    for path in folder.rglob(".*"):
        relative = path.relative_to(folder)
        if not path.name.startswith(".lock") and not any(part.startswith(".") for part in relative.parts[:-1]):
            found.append(relative.as_posix())
    return sorted(found)


def run_step(folder: Path, script: str, *flags, run_dir="run", **hooks):
    return run_script(script, "--paths.run_dir", run_dir, *flags, cwd=folder, env=child_hooks(**hooks))


def uninterrupted(folder: Path, script: str, *flags, run_dir="run") -> tuple[list[str], dict[str, str]]:
    """The step's renames and the files after it, run once without a kill."""
    log = folder.parent / f"{folder.name}.renames"
    result = run_step(folder, script, *flags, run_dir=run_dir, rename_log=log)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    renames = [str(Path(line).relative_to(folder)) if Path(line).is_absolute() else line
               for line in log.read_text().splitlines()]
    return renames, final_files(folder)


def start_and_straight(tmp_path_factory, name: str, script: str, set_up):
    """A starting run folder (set_up fills it) and a copy of it after the step ran once without a kill:
    (start, straight, renames, files after)."""
    start = tmp_path_factory.mktemp(f"{name}_start")
    set_up(start / "run")
    straight = tmp_path_factory.mktemp(f"{name}_straight")
    shutil.copytree(start / "run", straight / "run")
    renames, after = uninterrupted(straight, script)
    return start, straight, renames, after


def kill(folder: Path, script: str, point: str, *flags, run_dir="run") -> tuple[dict[str, str], list[str]]:
    """Runs the step until it is killed at point; returns the files then, and the hidden leftovers."""
    killed = run_step(folder, script, *flags, run_dir=run_dir, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, (
        f"{script} was not killed at {point} (exit {killed.returncode}):\n{killed.stdout}\n{killed.stderr}")
    return final_files(folder), leftovers(folder)


def rerun(folder: Path, script: str, *flags, run_dir="run"):
    result = run_step(folder, script, *flags, run_dir=run_dir)
    assert result.returncode == 0, f"{script} re-run failed:\n{result.stdout}\n{result.stderr}"
    return result


def kill_and_rerun(folder: Path, script: str, point: str, *flags, run_dir="run"):
    """Kills the step at point, then runs it again to the end: (files at the kill, leftovers, the re-run)."""
    at_kill, left = kill(folder, script, point, *flags, run_dir=run_dir)
    return at_kill, left, rerun(folder, script, *flags, run_dir=run_dir)


def assert_old_or_new(at_kill: dict, before: dict, after: dict, may_be_missing=()) -> None:
    """Every file under its final name is whole: the one from before the run, or the finished run's."""
    for name in sorted(set(at_kill) | set(before) | set(after)):
        allowed = (before.get(name), after.get(name), *((None,) if name in may_be_missing else ()))
        assert at_kill.get(name) in allowed, (
            f"{name} at the kill is neither the file from before the run nor the finished run's")


def assert_only_the_temporary_left(left: list[str], renames: list[str], point: str) -> None:
    """A kill just before rename N leaves one thing under a hidden name: output N's temporary, which nothing
    reads; a kill after the last rename leaves nothing."""
    when, _, number = point.partition(":")
    if when == "after":
        assert left == []
        return
    assert len(left) == 1, left
    folder, _, name = left[0].rpartition("/")
    match = TEMPORARY.fullmatch(name)
    assert match and "/".join(filter(None, [folder, match["target"]])) == renames[int(number) - 1], left


# --- prepare.py ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepare_runs(tiny_dataset, tmp_path_factory):
    """A run folder holding an earlier prepare.py's outputs (another tags file and other settings, so every
    file differs), the flags of the run killed over it, and the files after that run uninterrupted."""
    earlier = tmp_path_factory.mktemp("prepare_earlier")
    earlier_tags = earlier / "tags.csv"
    earlier_tags.write_text((tiny_dataset / "tags.csv").read_text() + "missing.png,circle\n")
    result = run_step(earlier, "prepare.py", "--data.source", earlier_tags, "--data.images_root", tiny_dataset,
                      "--data.validation_fraction", "0.3", "--data.min_tag_occurrences", "20")
    assert result.returncode == 0, result.stderr
    earlier_tags.unlink()
    flags = ["--data.source", tiny_dataset / "tags.csv", "--data.min_tag_occurrences", "3"]
    straight = tmp_path_factory.mktemp("prepare_straight")
    shutil.copytree(earlier / "run", straight / "run")
    renames, after = uninterrupted(straight, "prepare.py", *flags)
    return earlier, flags, renames, after


def test_prepare_renames_are_the_expected_commit_points(prepare_runs):
    earlier, _, renames, after = prepare_runs
    assert renames == PREPARE_RENAMES
    before = final_files(earlier)
    assert sorted(before) == sorted(after) == ["run/manifest.csv", "run/rare_tags.csv", "run/settings.prepare.json",
                                               "run/skipped.csv", "run/vocabulary.csv"]
    assert all(before[name] != after[name] for name in before)  # so a kill point shows which run a file is from


@pytest.mark.parametrize("point", every_point(PREPARE_RENAMES))
def test_prepare_killed_then_rerun_gives_the_same_files(prepare_runs, tmp_path, point):
    earlier, flags, _, after = prepare_runs
    shutil.copytree(earlier / "run", tmp_path / "run")
    before = final_files(tmp_path)

    at_kill, left, _ = kill_and_rerun(tmp_path, "prepare.py", point, *flags)

    # While the new set is being moved in there is no manifest.csv, and the next step asks for prepare.py.
    assert_old_or_new(at_kill, before, after, may_be_missing={"run/manifest.csv"})
    # A manifest comes with the rest of its own run's files, never with the old vocabulary.
    if "run/manifest.csv" in at_kill:
        source = after if at_kill["run/manifest.csv"] == after["run/manifest.csv"] else before
        assert at_kill == source, f"at {point}, prepare's files mix two runs"
    assert left == ["run/.prepare.partial"]
    assert final_files(tmp_path) == after
    assert leftovers(tmp_path) == []  # the re-run cleared the staging folder


# --- cluster_tags.py ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_runs(pipeline_run, tmp_path_factory):
    """A trained run where a person rejected a merge in review.csv, and the files after cluster_tags.py over it:
    the rejection moves from review.csv into rejected.csv, and no kill point may lose it. (Written by hand,
    not picked from the proposals, so the test does not hang on which variants a tiny model finds.)"""
    def set_up(run_dir):
        shutil.copytree(pipeline_run[0], run_dir)
        (run_dir / "review.csv").write_text("group,canonical,variant,decision\n1,square,sqaure,reject\n")

    return start_and_straight(tmp_path_factory, "cluster", "cluster_tags.py", set_up)


def test_cluster_renames_are_the_expected_commit_points(cluster_runs):
    start, straight, renames, after = cluster_runs
    assert renames == CLUSTER_RENAMES
    before = final_files(start)
    assert set(before) == set(after)
    changed = {name for name in after if before[name] != after[name]}
    assert {"run/rejected.csv", "run/review.csv", "run/settings.cluster.json"} <= changed <= set(CLUSTER_RENAMES)
    assert (straight / "run" / "rejected.csv").read_text() == "tag,other_tag\nsqaure,square\n"


# Around the two files that carry a person's decisions (rejected.csv is renamed 3rd, review.csv 4th), before the
# last output, and after all of them. (The other points differ from these only in which synonyms.* is new.)
@pytest.mark.parametrize("point", ["before:3", "before:4", "before:6", "after:6"])
def test_cluster_killed_then_rerun_gives_the_same_files(cluster_runs, tmp_path, point):
    start, _, _, after = cluster_runs
    shutil.copytree(start / "run", tmp_path / "run")
    before = final_files(tmp_path)

    at_kill, left, _ = kill_and_rerun(tmp_path, "cluster_tags.py", point)

    assert_old_or_new(at_kill, before, after)
    assert_only_the_temporary_left(left, CLUSTER_RENAMES, point)
    assert final_files(tmp_path) == after  # the rejection made before the kill is remembered


# --- apply_review.py ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_runs(tmp_path_factory):
    """A review.csv filled in by a person (two accepted merges, one rejected), and the files after
    apply_review.py over it."""
    def set_up(run_dir):
        run_dir.mkdir()
        (run_dir / "review.csv").write_text("group,canonical,variant,decision\n1,red,r3d,accept\n1,red,rot,yes\n"
                                            "2,circle,circles,reject\n")
        # apply_review.py checks accepted variants against the vocabulary they were proposed from.
        (run_dir / "vocabulary.csv").write_text("tag,count\nred,9\ncircle,8\nr3d,7\nrot,6\ncircles,5\n")

    return start_and_straight(tmp_path_factory, "review", "apply_review.py", set_up)


def test_apply_review_renames_are_the_expected_commit_points(review_runs):
    _, straight, renames, after = review_runs
    assert renames == APPLY_REVIEW_RENAMES
    assert sorted(after) == ["run/aliases.txt", "run/rejected.csv", "run/review.csv", "run/vocabulary.csv"]
    aliases = (straight / "run" / "aliases.txt").read_text().splitlines()
    assert [line for line in aliases if not line.startswith("#")] == ["alias r3d -> red", "alias rot -> red"]
    assert (straight / "run" / "rejected.csv").read_text() == "tag,other_tag\ncircle,circles\n"


@pytest.mark.parametrize("point", every_point(APPLY_REVIEW_RENAMES))
def test_apply_review_killed_then_rerun_gives_the_same_files(review_runs, tmp_path, point):
    start, _, _, after = review_runs
    shutil.copytree(start / "run", tmp_path / "run")
    before = final_files(tmp_path)

    at_kill, left, _ = kill_and_rerun(tmp_path, "apply_review.py", point)

    assert_old_or_new(at_kill, before, after)
    assert_only_the_temporary_left(left, APPLY_REVIEW_RENAMES, point)
    assert final_files(tmp_path) == after


# --- tag.py ------------------------------------------------------------------------------------------------


def images_to_tag(tiny_dataset, folder: Path) -> None:
    (folder / "images").mkdir()
    for source in sorted((tiny_dataset / "images").iterdir())[:TAGGED_IMAGES]:
        shutil.copyfile(source, folder / "images" / source.name)


@pytest.fixture(scope="module")
def tag_runs(pipeline_run, tiny_dataset, tmp_path_factory):
    """The files after tag.py writes a .txt beside each of 6 images and a scores file, uninterrupted."""
    straight = tmp_path_factory.mktemp("tag_straight")
    images_to_tag(tiny_dataset, straight)
    renames, after = uninterrupted(straight, "tag.py", *TAG_FLAGS, "--tag.output", "scores.json",
                                   run_dir=pipeline_run[0])
    return straight, renames, after


def test_tag_renames_are_the_expected_commit_points(tag_runs):
    straight, renames, after = tag_runs
    assert renames == TAG_RENAMES
    assert sorted(after) == sorted(TAG_RENAMES + [name.replace(".txt", ".png") for name in TAG_RENAMES[:-1]])
    sidecars = [(straight / name).read_text() for name in TAG_RENAMES[:-1]]
    assert len(set(sidecars)) > 1  # the images get different tags, so a .txt beside the wrong image would show


def test_tag_killed_before_its_scores_file_then_rerun_gives_the_same_files(pipeline_run, tiny_dataset, tag_runs,
                                                                            tmp_path):
    """Killed after every .txt, with the scores file still to come (halfway through the .txt files: the
    skip-mode test below; each kill point costs two TensorFlow start-ups)."""
    _, _, after = tag_runs
    images_to_tag(tiny_dataset, tmp_path)
    before = final_files(tmp_path)
    flags = [*TAG_FLAGS, "--tag.output", "scores.json"]

    at_kill, left, result = kill_and_rerun(tmp_path, "tag.py", "before:7", *flags, run_dir=pipeline_run[0])

    assert_old_or_new(at_kill, before, after)
    assert sorted(name for name in at_kill if name.endswith(".txt")) == TAG_RENAMES[:-1]
    assert_only_the_temporary_left(left, TAG_RENAMES, "before:7")
    assert final_files(tmp_path) == after
    # Every image is run again for the scores file, but the .txt files already written are left as they are.
    assert f".txt files: {TAGGED_IMAGES} unchanged\n" in result.stdout


def test_tag_killed_in_skip_mode_resumes_with_the_images_left(pipeline_run, tiny_dataset, tag_runs, tmp_path):
    """README: re-running with --tag.mode skip continues an interrupted run; only the untagged images are run."""
    _, _, after = tag_runs
    images_to_tag(tiny_dataset, tmp_path)
    flags = [*TAG_FLAGS, "--tag.mode", "skip"]

    at_kill, left = kill(tmp_path, "tag.py", "before:4", *flags, run_dir=pipeline_run[0])
    written_before_the_kill = {name: (tmp_path / name).stat().st_ino for name in TAG_RENAMES[:3]}
    result = rerun(tmp_path, "tag.py", *flags, run_dir=pipeline_run[0])

    assert sorted(name for name in at_kill if name.endswith(".txt")) == TAG_RENAMES[:3]
    assert_only_the_temporary_left(left, TAG_RENAMES, "before:4")
    assert f"tagging {TAGGED_IMAGES - 3} images with" in result.stdout
    assert ".txt files: 3 kept (skip mode), 3 written\n" in result.stdout
    assert final_files(tmp_path) == {name: digest for name, digest in after.items() if name != "scores.json"}
    # The three written before the kill are the same files, not rewritten (a rewrite is a rename: a new inode).
    assert {name: (tmp_path / name).stat().st_ino for name in TAG_RENAMES[:3]} == written_before_the_kill
