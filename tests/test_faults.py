"""Faults around the run folder: two steps at once, a step killed while it holds the lock, a full disk.

Real processes, real files, a real (small, mounted) filesystem; no mocks.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_script
from PIL import Image
from test_prepare_bad_input import no_outside_settings  # noqa: F401 (autouse: keeps the user's settings out)

from tagger.cli import main

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["prepare.py", "train.py", "embed.py", "cluster_tags.py", "apply_review.py"]


def make_images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (8, 8), (200, 40, 40)).save(folder / name)


def busy_message(script: str, run_dir: Path, pid: int) -> str:
    return (f"{script}: error: another step is running in {run_dir} (pid {pid}); "
            "wait for it to finish, or use another --paths.run_dir\n")


def start_blocked_prepare(tmp_path: Path, run_dir: Path) -> tuple[subprocess.Popen, Path]:
    """A real prepare.py that holds the run folder's lock: its tags file is a FIFO no one writes to yet,
    so it waits in read_source, after cli.main took the lock. Returns once the lock file names its pid."""
    fifo = tmp_path / "slow" / "tags.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    step = subprocess.Popen(
        [sys.executable, str(ROOT / "prepare.py"), "--paths.run_dir", str(run_dir), "--data.source", str(fifo),
         "--data.min_tag_occurrences", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (run_dir / ".lock").is_file() or (run_dir / ".lock").read_text() != f"{step.pid}\n":
        assert step.poll() is None, step.communicate()
        assert time.monotonic() < deadline, "prepare.py never took the lock"
        time.sleep(0.05)
    return step, fifo


@pytest.fixture
def blocked_prepare(tmp_path):
    run_dir = tmp_path / "run"
    step, fifo = start_blocked_prepare(tmp_path, run_dir)
    yield step, fifo, run_dir
    if step.poll() is None:
        step.kill()
    step.communicate()


@pytest.mark.parametrize("script", STEPS)
def test_second_step_on_the_same_run_folder_refuses(blocked_prepare, script):
    step, fifo, run_dir = blocked_prepare

    second = run_script(script, "--paths.run_dir", run_dir)

    assert second.returncode == 1
    assert second.stderr == busy_message(script, run_dir, step.pid)
    assert step.poll() is None  # the first step is untouched and still running


def test_first_step_finishes_normally_after_a_refused_second(blocked_prepare, tmp_path):
    step, fifo, run_dir = blocked_prepare
    make_images(tmp_path / "slow", ["a.png", "b.png"])
    assert run_script("prepare.py", "--paths.run_dir", run_dir).returncode == 1

    fifo.write_text("image,tags\na.png,cat\nb.png,cat\n")  # lets the first step read its tags and go on
    out, err = step.communicate(timeout=60)

    assert (step.returncode, err) == (0, "")
    assert "images: 2 read, 2 kept" in out
    # No lock, no staging left.
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "logs", "manifest.csv", "rare_tags.csv", "settings.prepare.json", "skipped.csv", "vocabulary.csv"]


def test_a_step_killed_while_holding_the_lock_leaves_no_stale_lock(blocked_prepare, tmp_path):
    step, fifo, run_dir = blocked_prepare
    step.send_signal(signal.SIGKILL)
    step.wait(timeout=30)
    assert step.returncode == -signal.SIGKILL
    assert (run_dir / ".lock").read_text() == f"{step.pid}\n"  # the file stays; the kernel dropped the lock
    make_images(tmp_path / "images", ["a.png", "b.png"])
    source = tmp_path / "images" / "tags.csv"
    source.write_text("image,tags\na.png,cat\nb.png,cat\n")

    rerun = run_script("prepare.py", "--paths.run_dir", run_dir, "--data.source", source,
                       "--data.min_tag_occurrences", "1")

    assert (rerun.returncode, rerun.stderr) == (0, "")
    assert (run_dir / "manifest.csv").read_text().count("\n") == 3
    assert not (run_dir / ".lock").exists()


def test_run_dir_that_is_a_file_is_an_error(tmp_path, capsys):
    (tmp_path / "run").write_text("not a folder\n")

    code = main("prepare", argv=["--paths.run_dir", str(tmp_path / "run")])

    assert code == 1
    assert capsys.readouterr().err == (f"prepare.py: error: paths.run_dir: {tmp_path / 'run'} is not a folder but a "
                                       f"file; give the run folder (the one holding it: {tmp_path})\n")


def test_failed_step_on_a_new_run_folder_leaves_no_folder(tmp_path):
    run_dir = tmp_path / "runs" / "typo"

    result = run_script("embed.py", "--paths.run_dir", run_dir)

    assert result.returncode == 1
    assert result.stderr == (f"embed.py: error: {run_dir / 'manifest.csv'} is missing: "
                             "run prepare.py first (with the same --paths.run_dir).\n")
    assert not (tmp_path / "runs").exists()  # neither the run folder nor its parent, both made for the lock


# --- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs mounted for the test; skipped where mounting is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_full_disk_leaves_the_previous_outputs_intact(small_disk, tmp_path, capsys):
    run_dir = small_disk / "run"
    images = tmp_path / "images"
    make_images(images, ["a.png", "b.png"])
    small = images / "small.csv"
    small.write_text("image,tags\na.png,cat\nb.png,dog\n")
    # 3000 rows of ~130 bytes: a manifest of ~400 KB, which a 64 KiB disk cannot hold.
    large = images / "large.csv"
    large.write_text("image,tags\n" + "".join(f"{number:05d}_{'x' * 40}.png,cat\n" for number in range(3000)))
    argv = ["--paths.run_dir", str(run_dir), "--data.min_tag_occurrences", "1"]
    assert main("prepare", argv=argv + ["--data.source", str(small)]) == 0
    capsys.readouterr()
    before = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
    assert sorted(before) == ["manifest.csv", "rare_tags.csv", "settings.prepare.json", "skipped.csv", "vocabulary.csv"]

    code = main("prepare", argv=argv + ["--data.source", str(large), "--data.check_images", "false"])

    assert code == 1
    assert capsys.readouterr().err == (
        f"prepare.py: error: no space left on device while writing {run_dir / 'manifest.csv'}: "
        "free space and re-run; earlier outputs are intact\n"
    )
    # Every file of the earlier run, byte for byte, and nothing else: no temporary or staging file, no lock.
    assert {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()} == before
