"""Shared helpers: tiny real image sets and running the real scripts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "data"))


def run_script(script: str, *flags, cwd: Path = ROOT, env: dict | None = None, timeout: int = 600):
    """Runs one of the pipeline's scripts as a user would; returns the CompletedProcess."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, flags)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "absl::InitializeLog" not in line
             and "oneDNN custom operations" not in line]
    return lines[-1] if lines else ""


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """60 real PNGs (32 px) with tags decided by their content, from the demo generator."""
    from make_demo import make_demo

    folder = tmp_path_factory.mktemp("tiny")
    make_demo(folder, images=60, size=32, seed=1)
    return folder
