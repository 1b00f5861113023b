"""benchmarks/real_aliases.py: what spelling alone proposes on a tag list with aliases (Danbooru's, in the format of
a1111-sd-webui-tagcomplete), run on a small list written here."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TAGS = """\
thighhighs,0,890813,"thighhigh,thigh highs,stockings,/t"
fang,0,220644,
fangs,0,64492,
grey hair,0,375103,gray_hair
earrings,0,328755,"ear rings,earring"
pokemon,3,265951,pokémon
hand on hip,0,60000,
hands on hips,0,50000,
rare tag,0,10,rare tags
"""


def test_real_aliases_scores_what_spelling_alone_proposes(tmp_path):
    """General tags used on 1,000 posts or more and their aliases (not the tool's `/t` shortcut): the spelling
    variants are proposed (a space left out, a plural, a British spelling), `stockings` is for the images, and
    `fang` / `fangs`, two tags, is the one false pair; `hand on hip` / `hands on hips`, another number, is not
    proposed."""
    source = tmp_path / "danbooru.csv"
    source.write_text(TAGS, encoding="utf-8")
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "real_aliases.py"), str(source)],
                            capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("7 general tags, 6 aliases; 10 alias pairs, 7 of them within spelling 0.6")
    assert "proposed 8 pairs: precision 0.875, recall 0.700, recall within spelling 0.6 1.000" in lines
    assert "  British spelling: 1/1" in lines and "  plural: 0/1" in lines
    assert lines[lines.index("false pairs (canonical / member: link):") + 1:] == \
        ["  fang / fangs: plural  [fang | fangs]"]
