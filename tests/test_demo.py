"""The README's demo: planted variants come out grouped, distinct concepts stay apart."""

import json
import subprocess
import sys

from conftest import ROOT


def test_demo_groups_planted_variants_and_nothing_else(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "data" / "run_demo.sh"), sys.executable, str(tmp_path / "run"),
                             str(tmp_path / "data")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    groups = json.loads((tmp_path / "run" / "synonyms.json").read_text())["groups"]
    found = sorted(sorted(member["tag"] for member in group["members"]) for group in groups)
    # "Dark_Background" is folded into "dark background" by prepare.py before clustering.
    assert found == [["circle", "circles"], ["r3d", "red", "rot"], ["sqaure", "square"]]
    assert {group["canonical"] for group in groups} == {"circle", "red", "square"}
    aliases = (tmp_path / "run" / "aliases.txt").read_text().splitlines()
    assert sorted(aliases) == ["alias circles -> circle", "alias r3d -> red", "alias rot -> red",
                               "alias sqaure -> square"]
