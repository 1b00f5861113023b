"""prepare.py on bad input: real (small) image files made in each test, no mocks.

Each test runs the step in-process through tagger.cli.main, as prepare.py does, and checks
the exit code, the message and the exact run-folder files. Two tests run prepare.py as a
real command to check that a user's mistake reads as one line, not a traceback.
"""

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.features
import pytest
from PIL import Image

from tagger.cli import main
from tagger.images import load_image

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_HEADER = ["image_id", "path", "tags", "split", "photo"]  # photo: prepare decoded the image (the default)
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture(autouse=True)
def no_outside_settings(tmp_path, monkeypatch):
    """Settings also come from TAGGER_ variables and a .env in the working folder: keep the user's out."""
    for name in list(os.environ):
        if name.upper().startswith("TAGGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- helpers -------------------------------------------------------------------------------------


def make_image(path: Path, colour=(200, 40, 40), size=(16, 12), mode="RGB", **save_options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **save_options)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))  # bytes: no newline translation
    return path


def run_prepare(capsys, source: Path, run_dir: Path, *flags: str):
    """(exit code, stdout, stderr) of prepare.py run in-process."""
    argv = ["--data.source", str(source), "--paths.run_dir", str(run_dir), "--data.min_tag_occurrences", "1"]
    code = main("prepare", argv=argv + list(flags))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def check_manifest(run_dir: Path, expected: list[tuple[str, Path, str]]) -> list[str]:
    """The manifest holds exactly these (image_id, path, tags) rows, in order; returns the splits."""
    rows = csv_rows(run_dir / "manifest.csv")
    assert rows[0] == MANIFEST_HEADER
    assert [tuple(row[:3]) for row in rows[1:]] == [(image, str(path), tags) for image, path, tags in expected]
    splits = [row[3] for row in rows[1:]]
    assert all(len(bytes.fromhex(row[4])) == 8 for row in rows[1:])  # every kept image decoded: its photo hash
    assert set(splits) <= {"train", "validation"}
    if len(splits) >= 2:
        assert set(splits) == {"train", "validation"}  # both sides always get an image
    return splits


def skipped(run_dir: Path) -> list[list[str]]:
    rows = csv_rows(run_dir / "skipped.csv")
    assert rows[0] == ["item", "reason"]
    return rows[1:]


def vocabulary(run_dir: Path) -> list[list[str]]:
    rows = csv_rows(run_dir / "vocabulary.csv")
    assert rows[0] == ["tag", "count"]
    return rows[1:]


def hashed_split(image_id: str, fraction: float) -> str:
    """The documented rule, written out again: sha256 of the image id, first 8 bytes as a fraction."""
    score = int.from_bytes(hashlib.sha256(image_id.encode("utf-8")).digest()[:8], "big") / 2**64
    return "validation" if score < fraction else "train"


def close_to(pixels: np.ndarray, colour, tolerance: int = 8) -> bool:
    """Every pixel within tolerance of colour (JPEG is lossy)."""
    return bool((np.abs(pixels.astype(int) - np.array(colour)) <= tolerance).all())


# --- missing and corrupt images ------------------------------------------------------------------


def test_missing_image_is_skipped_and_the_others_kept(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,cat\nb.png,"cat, dog"\nc.png,dog\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [["c.png", "file not found"]]
    check_manifest(run_dir, [("a.png", a, "cat"), ("b.png", b, "cat, dog")])
    assert vocabulary(run_dir) == [["cat", "2"], ["dog", "1"]]  # counted after c.png was dropped
    assert "images: 3 read, 2 kept (1 train, 1 validation)" in out
    assert f"skipped or merged: 1 entry, reasons in {run_dir / 'skipped.csv'}" in out


def test_corrupt_images_are_skipped_with_a_reason(tmp_path, capsys):
    good = make_image(tmp_path / "good.jpg")
    also_good = make_image(tmp_path / "also_good.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg", quality=95)
    whole = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    write_text(tmp_path / "text.jpg", "this is not a picture\n")
    source = write_text(
        tmp_path / "tags.csv",
        "image,tags\ngood.jpg,cat\ntruncated.jpg,cat\nempty.jpg,cat\ntext.jpg,cat\nalso_good.png,cat\n",
    )
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    reasons = dict(skipped(run_dir))
    assert sorted(reasons) == ["empty.jpg", "text.jpg", "truncated.jpg"]
    assert reasons["truncated.jpg"].startswith("does not decode: ")
    assert reasons["empty.jpg"] == "not an image PIL can read"
    assert reasons["text.jpg"] == "not an image PIL can read"
    check_manifest(run_dir, [("good.jpg", good, "cat"), ("also_good.png", also_good, "cat")])
    assert vocabulary(run_dir) == [["cat", "2"]]
    assert "images: 5 read, 2 kept" in out
    assert "skipped or merged: 3 entries" in out


# --- image modes that must decode ----------------------------------------------------------------


def make_odd_mode_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    images = {
        "gray.png": Image.new("L", (32, 32), 100),
        "cmyk.jpg": Image.new("CMYK", (32, 32), (0, 255, 255, 0)),  # red
        "palette.png": Image.new("RGB", (32, 32), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE),
    }
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # right half fully transparent (and black)
    rgba.paste((10, 20, 30, 255), (0, 0, 16, 32))
    images["rgba.png"] = rgba
    sixteen = np.zeros((32, 32), np.uint16)
    sixteen[:, :10], sixteen[:, 10:20] = 65535, 30000
    images["sixteen.png"] = Image.fromarray(sixteen)
    for name, image in images.items():
        image.save(folder / name)
    assert {name: Image.open(folder / name).mode for name in images} == {  # as read back
        "gray.png": "L", "cmyk.jpg": "CMYK", "palette.png": "P", "rgba.png": "RGBA", "sixteen.png": "I;16",
    }
    return {name: folder / name for name in images}


def test_odd_image_modes_are_kept(tmp_path, capsys):
    paths = make_odd_mode_images(tmp_path / "images")
    source = write_text(tmp_path / "tags.csv", "image,tags\n" + "".join(f"images/{n},thing\n" for n in paths))
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == []
    check_manifest(run_dir, [(f"images/{name}", path, "thing") for name, path in paths.items()])
    assert vocabulary(run_dir) == [["thing", "5"]]


@pytest.mark.parametrize("name", ["gray.png", "cmyk.jpg", "palette.png", "rgba.png", "sixteen.png"])
def test_load_image_gives_size_by_size_rgb_bytes(tmp_path, name):
    pixels = load_image(make_odd_mode_images(tmp_path)[name], 32)
    assert pixels.shape == (32, 32, 3)
    assert pixels.dtype == np.uint8


def test_load_image_colours_of_odd_modes(tmp_path):
    paths = make_odd_mode_images(tmp_path)
    assert (load_image(paths["gray.png"], 32) == 100).all()
    assert close_to(load_image(paths["cmyk.jpg"], 32), RED, tolerance=3)
    assert (load_image(paths["palette.png"], 32) == (0, 128, 255)).all()


def test_16_bit_image_is_scaled_down_not_clipped(tmp_path):
    pixels = load_image(make_odd_mode_images(tmp_path)["sixteen.png"], 32)
    assert (pixels[:, :10] == 255).all()
    assert (pixels[:, 10:20] == 117).all()  # 30000 / 65535 * 255 = 116.7; clipping would give 255
    assert (pixels[:, 20:] == 0).all()


def test_transparent_area_becomes_white(tmp_path):
    pixels = load_image(make_odd_mode_images(tmp_path)["rgba.png"], 32)
    assert (pixels[:, :16] == (10, 20, 30)).all()
    assert (pixels[:, 16:] == 255).all()  # transparent black pixels: white, not black


def test_exif_rotation_is_applied(tmp_path):
    # Stored 40 wide x 20 high, red left half, blue right half. Orientation 6 means "turn it
    # 90 degrees clockwise to view": upright it is 20 wide x 40 high, red on top, blue below.
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)

    pixels = load_image(tmp_path / "rotated.jpg", 40)

    assert pixels.shape == (40, 40, 3)
    assert (pixels[:, :10] == 255).all() and (pixels[:, 30:] == 255).all()  # padded left and right
    assert close_to(pixels[:16, 10:30], RED)
    assert close_to(pixels[24:, 10:30], BLUE)


# --- tags text -----------------------------------------------------------------------------------


def test_image_without_tags_is_skipped(tmp_path, capsys):
    for name in "abcd":
        make_image(tmp_path / f"{name}.png")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,\nb.png," , ,"\nc.png,cat\nd.png,cat\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [["a.png", "no tags"], ["b.png", "no tags"]]
    check_manifest(run_dir, [("c.png", tmp_path / "c.png", "cat"), ("d.png", tmp_path / "d.png", "cat")])


def test_quoted_commas_and_non_ascii_tags(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    source = write_text(
        tmp_path / "tags.csv",
        '"image","tags"\n"a.png","Café, niño_pequeño, 東京"\n"b.png","big   red car, CAFÉ"\n',
    )
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    check_manifest(run_dir, [("a.png", a, "café, niño pequeño, 東京"), ("b.png", b, "big red car, café")])
    assert (run_dir / "vocabulary.csv").read_text(encoding="utf-8") == (
        "tag,count\ncafé,2\nbig red car,1\nniño pequeño,1\n東京,1\n"
    )


def test_unquoted_commas_in_a_tags_cell_are_reported_not_misread(tmp_path, capsys):
    # `a.png,cat,dog` has three fields under a two-column header: the row is reported and
    # skipped. It must not shift the columns (image "cat", tags "dog") or vanish unreported.
    make_image(tmp_path / "a.png")
    b = make_image(tmp_path / "b.png")
    c = make_image(tmp_path / "c.png")
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat,dog\nb.png,cat\nc.png,dog\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [
        ["tags.csv line 2", "3 fields where the header has 2: put a tags cell that holds commas in double quotes"]
    ]
    check_manifest(run_dir, [("b.png", b, "cat"), ("c.png", c, "dog")])


def test_bom_and_crlf_csv(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    source = tmp_path / "tags.csv"
    source.write_bytes('\ufeffimage,tags\r\na.png,"cat, dog"\r\nb.png,cat\r\n'.encode("utf-8"))
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == []
    check_manifest(run_dir, [("a.png", a, "cat, dog"), ("b.png", b, "cat")])
    assert vocabulary(run_dir) == [["cat", "2"], ["dog", "1"]]


def test_csv_tsv_jsonl_and_sidecar_folder_give_the_same_manifest(tmp_path, capsys):
    images = tmp_path / "images"
    a, c, b = make_image(images / "a.png"), make_image(images / "c.jpg"), make_image(images / "sub" / "b.png")
    # The sidecar folder is read in path order, so the lists below are written in that order too.
    write_text(images / "a.txt", "Cat, dog\n")
    write_text(images / "c.txt", "cat\nbird_house\n")  # one tag a line works too
    write_text(images / "sub" / "b.txt", "dog")
    lists = tmp_path / "lists"
    sources = {
        "csv": write_text(lists / "tags.csv", 'image,tags\na.png,"Cat, dog"\nc.jpg,"cat, bird_house"\nsub/b.png,dog\n'),
        "tsv": write_text(lists / "tags.tsv", "image\ttags\na.png\tCat, dog\nc.jpg\tcat, bird_house\nsub/b.png\tdog\n"),
        "jsonl": write_text(
            lists / "tags.jsonl",
            "\n".join(json.dumps(entry) for entry in [
                {"image": "a.png", "tags": ["Cat", "dog"]},
                {"image": "c.jpg", "tags": "cat, bird_house"},
                {"image": "sub/b.png", "tags": ["dog"]},
            ]) + "\n",
        ),
    }
    manifests, vocabularies = {}, {}
    for kind, source in [*sources.items(), ("folder", images)]:
        run_dir = tmp_path / f"run-{kind}"
        flags = [] if kind == "folder" else ["--data.images_root", str(images)]
        code, out, err = run_prepare(capsys, source, run_dir, *flags)
        assert (kind, code, err) == (kind, 0, "")
        assert skipped(run_dir) == []
        manifests[kind] = (run_dir / "manifest.csv").read_bytes()
        vocabularies[kind] = (run_dir / "vocabulary.csv").read_bytes()

    expected = [("a.png", a, "cat, dog"), ("c.jpg", c, "cat, bird house"), ("sub/b.png", b, "dog")]
    check_manifest(tmp_path / "run-csv", expected)
    assert vocabularies["csv"] == b"tag,count\ncat,2\ndog,2\nbird house,1\n"
    for kind in ("tsv", "jsonl", "folder"):
        assert manifests[kind] == manifests["csv"], kind
        assert vocabularies[kind] == vocabularies["csv"], kind


def test_duplicate_entries_are_merged(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,cat\nb.png,dog\na.png,"dog, cat, bird"\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    check_manifest(run_dir, [("a.png", a, "cat, dog, bird"), ("b.png", b, "dog")])
    assert skipped(run_dir) == [["tags.csv line 4", "duplicate entry for a.png: tags merged"]]
    assert vocabulary(run_dir) == [["dog", "2"], ["bird", "1"], ["cat", "1"]]
    assert "images: 2 read, 2 kept" in out


# --- aliases -------------------------------------------------------------------------------------


def test_alias_chains_are_followed(tmp_path, capsys):
    a, b, c = (make_image(tmp_path / f"{name}.png") for name in "abc")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,kitty\nb.png,"Kitten, cat"\nc.png,doggo\n')
    aliases = write_text(
        tmp_path / "aliases.txt",
        "# variants first\nalias kitty -> kitten\nalias kitten -> cat\n\nalias Doggo -> dog\n",
    )
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.aliases", str(aliases))

    assert (code, err) == (0, "")
    check_manifest(run_dir, [("a.png", a, "cat"), ("b.png", b, "cat"), ("c.png", c, "dog")])
    assert vocabulary(run_dir) == [["cat", "2"], ["dog", "1"]]


def test_alias_cycle_is_an_error(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")
    aliases = write_text(tmp_path / "aliases.txt", "alias cat -> kitty\nalias kitty -> cat\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.aliases", str(aliases))

    assert code == 1
    assert err == f"prepare.py: error: {aliases}: aliases form a cycle: cat -> kitty -> cat; remove one of its lines\n"
    assert not (run_dir / "manifest.csv").exists()


def test_malformed_alias_line_is_an_error_naming_the_line(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")
    aliases = write_text(tmp_path / "aliases.txt", "alias kitty -> cat\n\ncat = feline\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.aliases", str(aliases))

    assert code == 1
    assert err == (
        f"prepare.py: error: {aliases} line 3: expected 'alias <variant> -> <canonical>' (a tag holding ' -> ' "
        "in double quotes, as JSON), got 'cat = feline'\n"
    )
    assert not (run_dir / "manifest.csv").exists()


# --- errors that stop the step -------------------------------------------------------------------


def test_missing_columns_lists_the_columns_found(tmp_path, capsys):
    make_image(tmp_path / "a.png")
    source = write_text(tmp_path / "tags.csv", "file,labels\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run")

    assert code == 1
    assert err == (
        f"prepare.py: error: {source}: needs columns image,tags; missing image, tags; found ['file', 'labels']; "
        "name yours with data.image_column and data.tags_column\n"
    )


def test_missing_source_is_an_error(tmp_path, capsys):
    code, out, err = run_prepare(capsys, tmp_path / "nowhere.csv", tmp_path / "run")

    assert code == 1
    assert err == f"prepare.py: error: data.source: {tmp_path / 'nowhere.csv'} does not exist\n"
    assert not (tmp_path / "run").exists()


def test_threshold_above_every_tag_count_is_an_error(tmp_path, capsys):
    for name in "ab":
        make_image(tmp_path / f"{name}.png")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,"cat, dog"\nb.png,cat\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.min_tag_occurrences", "3")

    assert code == 1
    assert err == (
        "prepare.py: error: no tag is used on at least 3 images (data.min_tag_occurrences); "
        "the most used, 'cat', is on 2: lower the threshold or add images\n"
    )
    assert not (run_dir / "manifest.csv").exists()


def test_all_images_missing_points_at_images_root(tmp_path, capsys):
    source = write_text(tmp_path / "lists" / "tags.csv", "image,tags\na.png,cat\nb.png,dog\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert code == 1
    assert err == (
        "prepare.py: error: none of the 2 images listed can be used (e.g. b.png: file not found); "
        f"images are looked up under {tmp_path / 'lists'} (data.images_root); details in {run_dir / 'skipped.csv'}\n"
    )
    assert skipped(run_dir) == [["a.png", "file not found"], ["b.png", "file not found"]]
    assert not (run_dir / "manifest.csv").exists()


def test_setting_below_its_minimum_exits_2(tmp_path, capsys):
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--data.min_tag_occurrences", "0")

    assert code == 2
    assert err == (
        "prepare.py: setting data.min_tag_occurrences: Input should be greater than or equal to 1 (received '0')\n"
    )
    assert not (tmp_path / "run").exists()


def test_unknown_backbone_exits_2_and_lists_the_known_ones(tmp_path, capsys):
    code = main("train", argv=["--paths.run_dir", str(tmp_path / "run"), "--model.backbone", "nope"])
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith("train.py: setting model.backbone: unknown backbone 'nope'; known: ")
    assert "efficientnetv2-l" in err and "resnet50" in err and "mobilenetv2" in err
    assert err.count("\n") == 1


def test_a_setting_of_another_step_is_refused_in_one_line(tmp_path, capsys):
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--model.backbone", "mobilenetv2")

    assert code == 2
    assert err == "prepare.py: prepare does not read --model.backbone (it reads paths, data); " \
                  "prepare.py --help lists its settings\n"
    assert not (tmp_path / "run").exists()


def test_a_mistyped_flag_gets_the_closest_known_one(tmp_path, capsys):
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--data.min_tag_ocurrences", "2")

    assert code == 2
    assert err == "prepare.py: unknown flag --data.min_tag_ocurrences; did you mean --data.min_tag_occurrences?\n"


def test_a_mistyped_yes_or_no_value_is_named_as_the_flags_value(tmp_path, capsys):
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--data.check_images", "maybe")

    assert code == 2
    assert err == "prepare.py: --data.check_images takes true or false (received 'maybe')\n"
    assert not (tmp_path / "run").exists()


def test_a_yes_or_no_flag_before_an_image_still_turns_it_on_and_a_mistyped_value_is_refused(tmp_path):
    from tagger.cli import UsageError, normalized_args
    from tagger.steps import STEPS

    tag = STEPS["tag"]
    image = tmp_path / "false.png"  # a file named like a value is an input
    image.write_bytes(b"")
    assert normalized_args(tag, ["--tag.print", str(image)]) == (["--tag.print=true"], [str(image)])
    assert normalized_args(tag, ["--tag.print", "photos/*.jpg"]) == (["--tag.print=true"], ["photos/*.jpg"])
    with pytest.raises(UsageError, match="--tag.print takes true or false \\(received 'flase'\\)"):
        normalized_args(tag, ["--tag.print", "flase", "photos"])


# --- the train/validation split ------------------------------------------------------------------


def test_split_is_deterministic_and_stable_when_images_are_added(tmp_path, capsys):
    names = [f"img{number:02d}.png" for number in range(24)]
    for name in names:
        make_image(tmp_path / name)
    first, added = names[:12], names[12:]
    fraction = "0.5"
    # At 0.5 both sides get images by hash alone, so no image is moved to fill an empty side.
    assert {hashed_split(name, 0.5) for name in first} == {"train", "validation"}
    small = write_text(tmp_path / "small.csv", "image,tags\n" + "".join(f"{n},cat\n" for n in first))
    large = write_text(tmp_path / "large.csv", "image,tags\n" + "".join(f"{n},cat\n" for n in first + added))

    for run in ("once", "twice"):
        code, out, err = run_prepare(capsys, small, tmp_path / run, "--data.validation_fraction", fraction)
        assert (code, err) == (0, "")
    assert (tmp_path / "once" / "manifest.csv").read_bytes() == (tmp_path / "twice" / "manifest.csv").read_bytes()
    code, out, err = run_prepare(capsys, large, tmp_path / "more", "--data.validation_fraction", fraction)
    assert (code, err) == (0, "")

    small_splits = check_manifest(tmp_path / "once", [(n, tmp_path / n, "cat") for n in first])
    large_splits = check_manifest(tmp_path / "more", [(n, tmp_path / n, "cat") for n in first + added])
    assert large_splits[:12] == small_splits
    assert large_splits == [hashed_split(name, 0.5) for name in first + added]


def test_a_validation_split_holding_few_of_the_tags_is_warned_of_in_one_line(tmp_path, capsys):
    # Ten tags on four images each; which image lands in validation is the documented hash, so this is exact.
    names = [f"img{number:02d}.png" for number in range(40)]
    for name in names:
        make_image(tmp_path / name)
    tags = [f"tag{number}" for number in range(10)]
    source = write_text(tmp_path / "tags.csv", "image,tags\n" + "".join(
        f"{name},{tags[number % 10]}\n" for number, name in enumerate(names)))
    seen = {fraction: {tags[n % 10] for n, name in enumerate(names) if hashed_split(name, fraction) == "validation"}
            for fraction in (0.5, 0.05)}
    assert len(seen[0.5]) >= 5 and 1 <= len(seen[0.05]) < 5  # the case each run below makes

    code, out, err = run_prepare(capsys, source, tmp_path / "half", "--data.validation_fraction", "0.5")
    assert (code, err) == (0, "")
    code, out, err = run_prepare(capsys, source, tmp_path / "thin", "--data.validation_fraction", "0.05")
    assert code == 0
    assert err == (f"warning: validation holds images of only {len(seen[0.05])} of the 10 kept tags: early stopping "
                   "and the tags' thresholds rest on those (the others take the global threshold); raise "
                   "--data.validation_fraction (now 0.05) or add images\n")


# --- tag frequency threshold ---------------------------------------------------------------------


def test_rare_tags_are_dropped_and_images_left_without_tags_skipped(tmp_path, capsys):
    for name in "abcde":
        make_image(tmp_path / f"{name}.png")
    source = write_text(
        tmp_path / "tags.csv",
        'image,tags\na.png,"cat, dog"\nb.png,"cat, rare"\nc.png,dog\nd.png,"rare2, rare3"\ne.png,cat\n',
    )
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.min_tag_occurrences", "2")

    assert (code, err) == (0, "")
    check_manifest(run_dir, [
        ("a.png", tmp_path / "a.png", "cat, dog"),
        ("b.png", tmp_path / "b.png", "cat"),
        ("c.png", tmp_path / "c.png", "dog"),
        ("e.png", tmp_path / "e.png", "cat"),
    ])
    assert vocabulary(run_dir) == [["cat", "3"], ["dog", "2"]]
    assert skipped(run_dir) == [["d.png", "none of its tags is used on 2+ images"]]
    assert "tags: 5 distinct before filtering, 2 kept" in out
    assert "images: 5 read, 4 kept" in out


# --- as a real command ---------------------------------------------------------------------------


def run_command(*flags: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("TAGGER_")}
    return subprocess.run(
        [sys.executable, "prepare.py", *flags], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_command_with_a_missing_source_prints_one_line(tmp_path):
    missing = tmp_path / "nowhere.csv"
    result = run_command("--data.source", str(missing), "--paths.run_dir", str(tmp_path / "run"))

    assert result.returncode == 1
    assert result.stderr == f"prepare.py: error: data.source: {missing} does not exist\n"
    assert "Traceback" not in result.stdout + result.stderr


def test_command_with_an_alias_cycle_prints_one_line(tmp_path):
    make_image(tmp_path / "a.png")
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")
    aliases = write_text(tmp_path / "aliases.txt", "alias a -> b\nalias b -> c\nalias c -> a\n")
    result = run_command("--data.source", str(source), "--paths.run_dir", str(tmp_path / "run"),
                         "--data.aliases", str(aliases))

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("prepare.py: error: ")
    assert "cycle: a -> b -> c -> a" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# --- too many broken images ----------------------------------------------------------------------


def listed_with_missing(folder: Path, present: int, missing: int) -> Path:
    """A tags file listing present + missing images, all tagged cat; the missing ones are never made."""
    names = [f"ok{number:02d}.png" for number in range(present)]
    names += [f"gone{number:02d}.png" for number in range(missing)]
    for name in names[:present]:
        make_image(folder / name)
    return write_text(folder / "tags.csv", "image,tags\n" + "".join(f"{name},cat\n" for name in names))


def test_more_broken_images_than_the_fraction_stop_the_run(tmp_path, capsys):
    source = listed_with_missing(tmp_path, present=5, missing=5)
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert code == 1
    assert err == (
        "prepare.py: error: 5 of the 10 images listed (50%) are missing, unreadable or refused, more than "
        f"data.max_broken_fraction (0.2); reasons in {run_dir / 'skipped.csv'}: fix them, or raise "
        "data.max_broken_fraction to train on the rest\n"
    )
    assert skipped(run_dir) == [[f"gone{number:02d}.png", "file not found"] for number in range(5)]
    assert not (run_dir / "manifest.csv").exists()


def test_a_few_broken_images_never_stop_a_small_set(tmp_path, capsys):
    source = listed_with_missing(tmp_path, present=1, missing=4)  # 80% broken, but only 4 images
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert len(skipped(run_dir)) == 4
    check_manifest(run_dir, [("ok00.png", tmp_path / "ok00.png", "cat")])


@pytest.mark.parametrize("fraction, stops", [("0.2", False), ("0.19", True), ("1", False), ("0", True)])
def test_broken_fraction_is_compared_with_the_setting(tmp_path, capsys, fraction, stops):
    source = listed_with_missing(tmp_path, present=20, missing=5)  # exactly 20% broken

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--data.max_broken_fraction", fraction)

    assert code == (1 if stops else 0)
    assert err.startswith("prepare.py: error: 5 of the 25 images listed (20%) are") == stops
    assert (tmp_path / "run" / "manifest.csv").exists() != stops


def test_broken_fraction_above_one_exits_2(tmp_path, capsys):
    source = write_text(tmp_path / "tags.csv", "image,tags\na.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run", "--data.max_broken_fraction", "1.5")

    assert code == 2
    assert err == (
        "prepare.py: setting data.max_broken_fraction: Input should be less than or equal to 1 (received '1.5')\n"
    )


# --- paths that leave the images root ------------------------------------------------------------


def make_tree_with_outside_paths(tmp_path: Path) -> tuple[Path, Path]:
    """images/ (the root) with ok.png and a symlink to another picture outside it; the tags file lists both,
    three relative paths that climb out, and one absolute path."""
    root = tmp_path / "images"
    make_image(root / "ok.png")
    outside = make_image(tmp_path / "outside.png")
    (root / "link.png").symlink_to(make_image(tmp_path / "linked.png"))  # not outside.png: that would be one file
    source = write_text(root / "tags.csv", (
        "image,tags\nok.png,cat\n../outside.png,cat\nsub/../../outside.png,cat\n../../etc/passwd,cat\n"
        f"{outside},cat\nlink.png,cat\n"
    ))
    return root, source


def test_relative_paths_leaving_the_images_root_are_refused(tmp_path, capsys):
    root, source = make_tree_with_outside_paths(tmp_path)
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [
        ["tags.csv line 4", "duplicate entry for ../outside.png: tags merged"],  # sub/../../outside.png
        ["../outside.png", "path leaves data.images_root"],
        ["../../etc/passwd", "path leaves data.images_root"],
    ]
    outside = tmp_path / "outside.png"
    check_manifest(run_dir, [("ok.png", root / "ok.png", "cat"), (str(outside), outside, "cat"),
                             ("link.png", root / "link.png", "cat")])  # absolute paths and symlinks stay allowed


def test_allow_outside_root_accepts_them(tmp_path, capsys):
    root, source = make_tree_with_outside_paths(tmp_path)
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.allow_outside_root", "true")

    assert (code, err) == (0, "")
    assert dict(skipped(run_dir))["../../etc/passwd"] == "file not found"  # looked up, under tmp_path/../etc
    outside = tmp_path / "outside.png"
    assert dict(skipped(run_dir))[str(outside)] == "same file as ../outside.png: tags merged"  # one file, two paths
    check_manifest(run_dir, [("ok.png", root / "ok.png", "cat"), ("../outside.png", root / "../outside.png", "cat"),
                             ("link.png", root / "link.png", "cat")])


# --- image edge cases ----------------------------------------------------------------------------


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit black PNG of width x height: a few dozen KB on disk, whatever it decodes to."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused(tmp_path, capsys):
    bomb = png_declaring(tmp_path / "bomb.png", 20_000, 20_000)  # 400 megapixels
    assert bomb.stat().st_size < 100_000
    ok = make_image(tmp_path / "ok.png")
    source = write_text(tmp_path / "tags.csv", "image,tags\nbomb.png,cat\nok.png,cat\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [["bomb.png", "more than 200,000,000 pixels (decompression bomb?)"]]
    check_manifest(run_dir, [("ok.png", ok, "cat")])


def animated_gif(path: Path) -> None:
    """Two frames, red then blue: the first one is the picture."""
    first, second = Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(path).n_frames == 2


@pytest.mark.parametrize("name, make", [
    ("dot.png", lambda path: make_image(path, colour=RED, size=(1, 1))),
    ("moving.gif", animated_gif),
    pytest.param("still.webp", lambda path: make_image(path, colour=RED, size=(16, 16), lossless=True),
                 marks=pytest.mark.skipif(not PIL.features.check("webp"), reason="this Pillow has no WebP support")),
])
def test_one_pixel_animated_and_webp_images_are_kept(tmp_path, capsys, name, make):
    image = tmp_path / name
    make(image)
    source = write_text(tmp_path / "tags.csv", f"image,tags\n{name},cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run")

    assert (code, err) == (0, "")
    check_manifest(tmp_path / "run", [(name, image, "cat")])
    assert (load_image(image, 32) == RED).all()


def test_very_large_legal_image_is_kept_and_scaled_down(tmp_path, capsys):
    large = make_image(tmp_path / "large.jpg", colour=RED, size=(6000, 4000), quality=90)  # 24 megapixels
    source = write_text(tmp_path / "tags.csv", "image,tags\nlarge.jpg,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run")

    assert (code, err) == (0, "")
    check_manifest(tmp_path / "run", [("large.jpg", large, "cat")])
    pixels = load_image(large, 60)
    assert pixels.shape == (60, 60, 3)
    assert (pixels[:10] == 255).all() and (pixels[50:] == 255).all()  # 3:2 fits as 60 x 40, padded above and below
    assert close_to(pixels[11:49], RED)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its permissions")
def test_unreadable_image_is_skipped(tmp_path, capsys):
    locked, ok = make_image(tmp_path / "locked.png"), make_image(tmp_path / "ok.png")
    locked.chmod(0)
    source = write_text(tmp_path / "tags.csv", "image,tags\nlocked.png,cat\nok.png,cat\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run")

    assert (code, err) == (0, "")
    assert skipped(tmp_path / "run") == [["locked.png", "permission denied"]]
    check_manifest(tmp_path / "run", [("ok.png", ok, "cat")])


def test_symlink_loop_in_a_folder_source_neither_hangs_nor_repeats_images(tmp_path):
    images = tmp_path / "images"
    a, b = make_image(images / "a.png"), make_image(images / "sub" / "b.png")
    write_text(images / "a.txt", "cat")
    write_text(images / "sub" / "b.txt", "dog")
    (images / "sub" / "loop").symlink_to("..", target_is_directory=True)  # images/sub/loop/sub/loop/...
    run_dir = tmp_path / "run"

    result = run_command("--data.source", str(images), "--paths.run_dir", str(run_dir),
                         "--data.min_tag_occurrences", "1")  # a hang fails on run_command's timeout

    assert (result.returncode, result.stderr) == (0, "")
    check_manifest(run_dir, [("a.png", a, "cat"), ("sub/b.png", b, "dog")])
    assert skipped(run_dir) == []


def test_an_image_whose_file_name_is_not_utf8_is_skipped_and_named_in_a_folder_source(tmp_path, capsys):
    """manifest.csv is UTF-8 text: a name unpacked from a Latin-1 archive (caf\\xe9.png) could not be written back,
    so its image is skipped, named with its byte shown, and the rest are kept. It stopped prepare.py with a
    traceback."""
    images = tmp_path / "images"
    a = make_image(images / "a.png")
    write_text(images / "a.txt", "cat")
    latin1 = os.fsdecode(bytes(images) + b"/caf\xe9.png")
    make_image(Path(latin1))
    write_text(Path(latin1).with_suffix(".txt"), "cat")
    code, _, err = run_prepare(capsys, images, tmp_path / "run")
    assert (code, err) == (0, "")
    check_manifest(tmp_path / "run", [("a.png", a, "cat")])
    assert skipped(tmp_path / "run") == [
        ["caf\\xe9.png", "the file name is not UTF-8 (its bytes are shown as \\xNN): rename the file and its .txt"]]


# --- tag text edge cases -------------------------------------------------------------------------


def test_tag_files_that_are_not_utf8_are_read_as_windows_1252_with_a_warning(tmp_path, capsys):
    images = tmp_path / "images"
    a, b = make_image(images / "a.png"), make_image(images / "b.png")
    sources = {"csv": images / "tags.csv", "jsonl": images / "tags.jsonl"}
    sources["csv"].write_bytes(b'image,tags\na.png,caf\xe9\nb.png,"\x93quoted\x94, 5 \x80"\n')
    sources["jsonl"].write_bytes(b'{"image": "a.png", "tags": ["caf\xe9"]}\n'
                                 b'{"image": "b.png", "tags": "\x93quoted\x94, 5 \x80"}\n')
    (images / "a.txt").write_bytes(b"caf\xe9")
    (images / "b.txt").write_bytes("“quoted”, 5 €".encode("utf-8"))  # one sidecar UTF-8, one not
    warnings = {
        "csv": [f"{sources['csv']}", "line 2 has byte 0xe9"],
        "jsonl": [f"{sources['jsonl']}", "line 1 has byte 0xe9"],
        "folder": [f"{images / 'a.txt'}", "line 1 has byte 0xe9"],
    }
    for kind, source in [*sources.items(), ("folder", images)]:
        run_dir = tmp_path / f"run-{kind}"

        code, out, err = run_prepare(capsys, source, run_dir)

        path, where = warnings[kind]
        assert (kind, code, err) == (
            kind, 0, f"warning: {path} is not UTF-8 ({where}); read it as Windows-1252: "
            "check its accented tags, or save it as UTF-8\n")
        check_manifest(run_dir, [("a.png", a, "café"), ("b.png", b, "“quoted”, 5 €")])


def test_bytes_windows_1252_leaves_undefined_are_read_as_latin_1(tmp_path, capsys):
    a = make_image(tmp_path / "a.png")
    source = tmp_path / "tags.csv"
    source.write_bytes(b"image,tags\na.png,\xe9t\xe9 \x81\n")

    code, out, err = run_prepare(capsys, source, tmp_path / "run")

    assert code == 0
    assert err == (f"warning: {source} is not UTF-8 (line 2 has byte 0xe9); read it as Latin-1: "
                   "check its accented tags, or save it as UTF-8\n")
    check_manifest(tmp_path / "run", [("a.png", a, "été \x81")])


def test_tags_longer_than_the_limit_are_dropped_and_recorded(tmp_path, capsys):
    a, b, c = (make_image(tmp_path / f"{name}.png") for name in "abc")
    longest_kept, too_long = "k" * 200, "x" * 10_000
    source = write_text(tmp_path / "tags.csv",
                        f'image,tags\na.png,"cat, {too_long}"\nb.png,{too_long}\nc.png,"cat, {longest_kept}"\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    dropped = "tag 'xxxxxxxxxxxxxxxxxxxx'... of 10000 characters dropped: longer than data.max_tag_length (200)"
    assert skipped(run_dir) == [["tags.csv line 2", dropped], ["tags.csv line 3", dropped], ["b.png", "no tags"]]
    check_manifest(run_dir, [("a.png", a, "cat"), ("c.png", c, f"cat, {longest_kept}")])


def test_max_tag_length_is_a_setting(tmp_path, capsys):
    a = make_image(tmp_path / "a.png")
    source = write_text(tmp_path / "tags.csv", 'image,tags\na.png,"cat, black cat"\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir, "--data.max_tag_length", "3")

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [
        ["tags.csv line 2", "tag 'black cat'... of 9 characters dropped: longer than data.max_tag_length (3)"]
    ]
    check_manifest(run_dir, [("a.png", a, "cat")])


def test_control_characters_in_tags_become_spaces(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    source = write_text(tmp_path / "tags.jsonl", "\n".join(json.dumps(entry) for entry in [
        {"image": "a.png", "tags": ["big\u0000cat", "\u0007dog", "red\u001b[31m car"]},
        {"image": "b.png", "tags": ["tab\there", "new\nline", "del\u007fete"]},
    ]) + "\n")
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    check_manifest(run_dir, [("a.png", a, "big cat, dog, red [31m car"), ("b.png", b, "tab here, new line, del ete")])


def test_tags_of_only_whitespace_are_dropped(tmp_path, capsys):
    a, b, c = (make_image(tmp_path / f"{name}.png") for name in "abc")
    source = write_text(tmp_path / "tags.csv",
                        'image,tags\na.png,"cat, \u00a0 ,\u3000,\t, \u2003"\nb.png,"\u00a0, \u3000 "\nc.png,dog\n')
    run_dir = tmp_path / "run"

    code, out, err = run_prepare(capsys, source, run_dir)

    assert (code, err) == (0, "")
    assert skipped(run_dir) == [["b.png", "no tags"]]
    check_manifest(run_dir, [("a.png", a, "cat"), ("c.png", c, "dog")])
    assert vocabulary(run_dir) == [["cat", "1"], ["dog", "1"]]
