"""The package layering of tagger/ holds: a module imports only from layers below it (pyproject.toml's contract).

entry points (cli, steps) > use (tag, similar, export) > stages (prepare, train, embed, variants) > model >
shared modules (runfolder, settings, files, images, ...). So a shared module never imports a stage, no stage
imports another or use/, and the run folder stays the only thing steps share.
"""

import os
import shutil
import subprocess
import sys

from conftest import ROOT


def lint_imports(folder):
    """import-linter's check of pyproject.toml's contract over folder's tagger/, in its own process (it sets up
    logging and console output of its own, which must not meet pytest's captured streams)."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(folder)})


def test_import_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_a_step_importing_a_higher_layer_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of tagger/ where the run-folder module imports tag.py's module is refused."""
    shutil.copytree(ROOT / "tagger", tmp_path / "tagger", ignore=shutil.ignore_patterns("__pycache__"))
    runfolder = tmp_path / "tagger" / "runfolder.py"
    runfolder.write_text(runfolder.read_text() + "\nfrom tagger.use import tag  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "tagger.runfolder -> tagger.use.tag" in result.stdout


def test_every_module_of_tagger_sits_in_a_layer():
    """A new module left out of the contract would escape it: every top-level module and package is listed."""
    import pkgutil
    import re
    try:
        import tomllib
    except ImportError:  # Python 3.10: import-linter depends on tomli
        import tomli as tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    listed = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    modules = {module.name for module in pkgutil.iter_modules([str(ROOT / "tagger")], "tagger.")}
    assert modules - listed == set()
