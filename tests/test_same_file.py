"""One photo listed under two paths is one image: never in training and validation at once."""

import logging
import os
import shutil

from conftest import run_script

from tagger import runfolder


def test_the_same_file_under_several_paths_is_kept_once_and_recorded(tiny_dataset, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(tiny_dataset / "images", images)
    originals = sorted(images.glob("*.png"))[:12]
    os.symlink(originals[0].name, images / "link.png")
    os.link(originals[1], images / "hard.png")
    shutil.copy(originals[2], images / "copy.png")  # a copy is another file: kept
    lines = ["image,tags"]
    for index, image in enumerate(originals):
        lines.append(f"{image.name},\"common, tag{index % 3}\"")
    lines += ["link.png,extra", f"{images / originals[3].name},common", "hard.png,common", "copy.png,common",
              f"./{originals[4].name},common"]
    (images / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    result = run_script("prepare.py", "--paths.run_dir", run_dir, "--data.source", images / "tags.csv",
                        "--data.min_tag_occurrences", "1")
    assert result.returncode == 0, result.stderr
    manifest = runfolder.read_manifest(run_dir)
    assert len(manifest.image_ids) == 13
    assert len({os.stat(path).st_ino for path in manifest.paths}) == 13
    skipped = runfolder.read_csv(run_dir / "skipped.csv")
    assert sorted(zip(skipped["item"], skipped["reason"])) == sorted([
        ("link.png", f"same file as {originals[0].name}: tags merged"),
        (str(images / originals[3].name), f"same file as {originals[3].name}: tags merged"),
        ("hard.png", f"same file as {originals[1].name}: tags merged"),
        ("tags.csv line 18", f"duplicate entry for {originals[4].name}: tags merged"),  # ./name is the same id
    ])
    assert manifest.tags[manifest.image_ids.index(originals[0].name)] == ["common", "tag0", "extra"]
    # The copy is kept as an image, and known for the photo it is: the variant probe counts the two once.
    photo = dict(zip(manifest.image_ids, manifest.photos))
    assert photo["copy.png"] == photo[originals[2].name]
    assert all(len(bytes.fromhex(value)) == 8 for value in manifest.photos)


def test_a_photo_re_saved_or_resized_keeps_its_photo_hash_and_another_picture_does_not(tmp_path):
    from PIL import Image, ImageDraw

    from tagger.images import COPY_BITS, differing_bits, hash_bytes, inspect_image

    photo = Image.new("RGB", (240, 160), (30, 60, 90))
    draw = ImageDraw.Draw(photo)
    for index in range(12):
        draw.ellipse((17 * index, 11 * (index % 5), 17 * index + 40, 11 * (index % 5) + 70),
                     fill=(20 * index, 255 - 15 * index, (70 * index) % 256))
    photo.save(tmp_path / "photo.png")
    photo.save(tmp_path / "resaved.jpg", quality=50)
    photo.resize((120, 80)).save(tmp_path / "half.jpg", quality=75)
    photo.transpose(Image.Transpose.ROTATE_180).save(tmp_path / "other.png")  # the same pixels, another picture
    hashes = [inspect_image(tmp_path / name) for name in ("photo.png", "resaved.jpg", "half.jpg", "other.png")]
    assert all(problem is None for problem, _ in hashes)
    rows, known = hash_bytes([value for _, value in hashes])
    assert known.all()
    differing = differing_bits(rows)
    assert differing[0, 1] <= COPY_BITS and differing[0, 2] <= COPY_BITS
    assert differing[0, 3] > 3 * COPY_BITS
    assert inspect_image(tmp_path / "missing.png") == ("file not found", "")


def test_an_output_that_cannot_be_replaced_leaves_every_old_output_in_place(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--paths.run_dir", run_dir, "--data.source", tiny_dataset / "tags.csv", "--data.min_tag_occurrences", "3"]
    assert run_script("prepare.py", *flags).returncode == 0
    before = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
    (run_dir / "skipped.csv").unlink()
    (run_dir / "skipped.csv").mkdir()  # in the way: a rename onto it fails, as onto a protected file
    (run_dir / "skipped.csv" / "keep").write_text("x")
    result = run_script("prepare.py", *flags, "--data.min_tag_occurrences", "2")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("prepare.py: error: cannot write ")
    assert result.stderr.splitlines()[-1].endswith(": Is a directory; earlier outputs are intact")
    after = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
    assert after == {name: data for name, data in before.items() if name != "skipped.csv"}
    left = sorted(path.name for path in run_dir.iterdir() if path.name != "logs")  # logs/: each step's log
    assert left == sorted(before)  # no staging folder left


def test_a_photo_value_that_is_no_photo_hash_is_read_as_none_and_said(tmp_path, caplog):
    """A hand-edited manifest: the image counts as a photo of its own (as one prepare.py could not decode), and the
    step says so once instead of failing on the value."""
    (tmp_path / "manifest.csv").write_text(
        "image_id,path,tags,split,photo\n"
        "a.png,/x/a.png,cat,train,8828480501020100\n"
        "b.png,/x/b.png,cat,train,not a hash\n"
        "c.png,/x/c.png,cat,validation,\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        manifest = runfolder.read_manifest(tmp_path)
    assert manifest.photos == ["8828480501020100", "", ""]
    assert "1 photo values are no photo hash (like 'not a hash')" in caplog.text
