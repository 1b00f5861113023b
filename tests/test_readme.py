"""The README's settings table is the settings model's, and every step of the table has its root script."""

from conftest import ROOT, run_script, run_tagger

from tagger.settings_table import settings_table
from tagger.steps import STEPS


def test_readme_settings_table_is_made_from_the_settings_model():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README's settings table is stale: paste `python -m tagger.settings_table`"


def test_every_step_has_a_root_script_calling_it():
    for step in STEPS.values():
        script = (ROOT / step.script).read_text(encoding="utf-8")
        assert f'main("{step.name}")' in script, step.script


def test_each_step_help_lists_only_its_own_sections():
    result = run_script("apply_review.py", "--help")
    assert result.returncode == 0
    assert "--paths.run_dir" in result.stdout
    assert "--train." not in result.stdout and "--model." not in result.stdout and "--data." not in result.stdout
    tagged = run_script("tag.py", "--help")
    assert "--tag.inputs" in tagged.stdout and "--cluster." not in tagged.stdout


def test_the_tagger_command_lists_the_steps_and_names_the_closest_one():
    listed = run_tagger()
    assert listed.returncode == 2 and all(f"  {name} " in listed.stdout for name in STEPS)
    mistyped = run_tagger("cluster-tag")
    assert mistyped.returncode == 2
    assert mistyped.stderr.strip().splitlines()[-1] == "tagger: unknown step 'cluster_tag'; did you mean cluster_tags?"
    stray = run_tagger("prepare", "tags.csv")
    assert stray.returncode == 2
    assert stray.stderr.strip().splitlines()[-1] == \
        "tagger prepare: unexpected argument 'tags.csv': settings are given as --section.setting value"


def test_a_run_folder_named_without_its_flag_or_a_file_named_as_it_gets_the_way_to_name_it(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "review.csv").write_text("group,canonical,variant,decision\n")
    bare = run_script("apply_review.py", str(run_dir))
    assert bare.returncode == 2 and bare.stderr.strip().splitlines()[-1] == (
        f"apply_review.py: unexpected argument '{run_dir}': settings are given as --section.setting value; to name "
        f"the run folder: --paths.run_dir {run_dir}")
    a_file = run_script("review.py", "--paths.run_dir", str(run_dir / "review.csv"))
    assert a_file.returncode == 1 and a_file.stderr.strip().splitlines()[-1] == (
        f"review.py: error: paths.run_dir: {run_dir / 'review.csv'} is not a folder but a file; give the run folder "
        f"(the one holding it: {run_dir})")
