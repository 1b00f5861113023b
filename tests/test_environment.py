"""Settings from TAGGER_ variables and .env: what would be silently ignored is reported, naming where."""

import os

import pytest

from tagger.cli import main


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty working folder (where .env is read) and an environment without the user's TAGGER_ variables."""
    for name in list(os.environ):
        if name.upper().startswith("TAGGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def prepare(capsys) -> tuple[int, str]:
    code = main("prepare", ["--paths.run_dir", "run", "--data.source", "missing.csv"])
    return code, capsys.readouterr().err


def test_a_misspelled_variable_in_env_names_its_line_and_the_closest_setting(folder, capsys):
    (folder / ".env").write_text("# settings\nTAGGER_DATA__MIN_TAG_OCCURRENCES=2\n\nTAGGER_TRAIN__HEAD__EPOCS=3\n")
    assert prepare(capsys) == (2, "prepare.py: unknown setting TAGGER_TRAIN__HEAD__EPOCS (.env line 4); "
                                  "did you mean TAGGER_TRAIN__HEAD__EPOCHS?\n")


def test_a_misspelled_environment_variable_is_reported(folder, capsys, monkeypatch):
    monkeypatch.setenv("TAGGER_DATA__MIN_TAG_OCCURENCES", "2")
    assert prepare(capsys) == (2, "prepare.py: unknown setting TAGGER_DATA__MIN_TAG_OCCURENCES (the environment); "
                                  "did you mean TAGGER_DATA__MIN_TAG_OCCURRENCES?\n")


def test_an_unparsable_env_line_names_file_and_line(folder, capsys):
    (folder / ".env").write_text('TAGGER_DATA__MIN_TAG_OCCURRENCES=2\nTAGGER_DATA__CASEFOLD="false\n')
    assert prepare(capsys) == (2, "prepare.py: .env line 2: cannot read 'TAGGER_DATA__CASEFOLD=\"false': "
                                  "expected NAME=value\n")


def test_a_utf16_env_is_one_line(folder, capsys):
    (folder / ".env").write_bytes("TAGGER_DATA__MIN_TAG_OCCURRENCES=2\n".encode("utf-16"))
    assert prepare(capsys) == (2, "prepare.py: .env is saved as UTF-16: save it as UTF-8\n")


def test_known_section_old_and_new_names_pass(folder, capsys, monkeypatch):
    monkeypatch.setenv("TAGGER_TRAIN__HEAD_EPOCHS", "2")  # an old flat name, still accepted
    (folder / ".env").write_text('TAGGER_DATA={"min_tag_occurrences": 2}\nTAGGER_TRAIN__SEED=3\n')
    code, error = prepare(capsys)
    assert (code, error) == (1, "prepare.py: error: data.source: missing.csv does not exist\n")


def test_an_old_name_in_the_environment_wins_over_the_same_setting_in_env(folder, monkeypatch):
    """As pydantic-settings ranks the new names: the environment over .env."""
    from tagger.cli import parse_settings
    from tagger.steps import STEPS

    monkeypatch.setenv("TAGGER_TRAIN__HEAD_EPOCHS", "5")
    (folder / ".env").write_text("TAGGER_TRAIN__HEAD_EPOCHS=3\n")
    settings = parse_settings(STEPS["train"], ["--paths.run_dir", "run"], "train.py")
    assert settings.train.head.epochs == 5
    assert os.environ["TAGGER_TRAIN__HEAD_EPOCHS"] == "5" and "TAGGER_TRAIN__HEAD__EPOCHS" not in os.environ
