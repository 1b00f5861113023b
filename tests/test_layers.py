"""The package layering of tagger/ holds: a module imports only from layers below it (pyproject.toml's contract).

entry points (cli, steps) > use (tag, similar, export) > stages (prepare, train, embed, variants) > model >
shared modules (runfolder, settings, files, images, ...). So a shared module never imports a stage, no stage
imports another or use/, and the run folder stays the only thing steps share.
"""

import os
import sys

from conftest import ROOT
from importlinter.cli import lint_imports


def test_import_layers_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))  # this checkout's tagger, not an installed one
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, \
        capsys.readouterr().out


def test_a_step_importing_a_higher_layer_breaks_the_contract(tmp_path, monkeypatch, capsys):
    """The contract can fail: a copy of tagger/ where the manifest module imports tag.py's module is refused."""
    import shutil

    copy = tmp_path / "tagger"
    shutil.copytree(ROOT / "tagger", copy, ignore=shutil.ignore_patterns("__pycache__"))
    runfolder = copy / "runfolder.py"
    runfolder.write_text(runfolder.read_text() + "\nfrom tagger.use import tag  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name == "tagger" or name.startswith("tagger.")]:
        monkeypatch.delitem(sys.modules, name)
    assert lint_imports(config_filename=os.fspath(tmp_path / "pyproject.toml"), no_cache=True, no_logo=True) == 1
    assert "tagger.runfolder -> tagger.use.tag" in capsys.readouterr().out


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
