"""prepare.py on the formats people exchange: Danbooru-style tag strings, other column names (issue 14)."""

import pandas as pd
from conftest import run_script
from PIL import Image

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def danbooru_set(folder, header="image,tags"):
    """12 small images, each with a space-separated string of underscore tags, as Danbooru exports them."""
    lines = [header]
    for number in range(12):
        colour = "red" if number % 2 else "blue"
        Image.new("RGB", (8, 8), COLOURS[colour]).save(folder / f"{number:02d}.png")
        lines.append(f"{number:02d}.png,{colour}_square dark_background{' extra_tag' * (number % 3 == 0)}")
    (folder / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "tags.csv"


def test_space_separated_tags_with_the_separator_setting(tmp_path):
    source = danbooru_set(tmp_path)
    result = run_script("prepare.py", "--paths.run_dir", tmp_path / "run", "--data.source", source,
                        "--data.tag_separator", "space", "--data.min_tag_occurrences", "2")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    vocabulary = pd.read_csv(tmp_path / "run" / "vocabulary.csv", keep_default_na=False)
    assert vocabulary.values.tolist() == [["dark background", 12], ["blue square", 6], ["red square", 6],
                                          ["extra tag", 4]]
    manifest = pd.read_csv(tmp_path / "run" / "manifest.csv", keep_default_na=False)
    assert manifest.loc[manifest["image_id"] == "00.png", "tags"].item() == "blue square, dark background, extra tag"


def test_without_the_separator_setting_a_warning_names_it(tmp_path):
    source = danbooru_set(tmp_path)
    result = run_script("prepare.py", "--paths.run_dir", tmp_path / "run", "--data.source", source,
                        "--data.min_tag_occurrences", "2")
    assert result.returncode == 0, result.stderr
    assert (f"warning: {source}: 12 of 12 images have one tag with spaces in it (like 'blue_square dark_background "
            "extra_tag'): if tags are separated by spaces (Danbooru style), give --data.tag_separator space"
            ) in result.stderr


def test_comma_separated_tags_with_spaces_give_no_warning(tmp_path):
    source = danbooru_set(tmp_path)
    source.write_text(source.read_text().replace(" ", ", ").replace(",, ", ","), encoding="utf-8")
    source.write_text(source.read_text().replace(".png,", '.png,"').replace("\n", '"\n').replace('tags"', "tags"))
    result = run_script("prepare.py", "--paths.run_dir", tmp_path / "run", "--data.source", source,
                        "--data.min_tag_occurrences", "2")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_column_names_are_settings(tmp_path):
    source = danbooru_set(tmp_path, header="file,labels")
    refused = run_script("prepare.py", "--paths.run_dir", tmp_path / "run", "--data.source", source)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("name yours with data.image_column and data.tags_column")
    result = run_script("prepare.py", "--paths.run_dir", tmp_path / "run", "--data.source", source,
                        "--data.image_column", "file", "--data.tags_column", "Labels", "--data.tag_separator", "space",
                        "--data.min_tag_occurrences", "2")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "run" / "manifest.csv")) == 12
