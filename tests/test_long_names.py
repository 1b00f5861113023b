"""File names near the file system's limit: the temporary name of an atomic write must still fit."""

from tagger.files import atomic_path, leftovers, write_text


def test_a_250_byte_file_name_is_written_atomically(tmp_path):
    name = "\u00e9" * 123 + ".txt"  # 250 bytes in UTF-8, cut at a character boundary for the temporary
    target = tmp_path / name
    write_text(target, "cat, dog\n")
    assert target.read_text(encoding="utf-8") == "cat, dog\n"
    assert [path.name for path in tmp_path.iterdir()] == [name]


def test_the_temporary_of_a_long_name_is_found_as_its_leftover(tmp_path):
    name = "a" * 250
    with atomic_path(tmp_path / name) as temporary:
        assert len(temporary.name.encode()) <= 255
        assert leftovers(tmp_path, name) == [temporary]
        assert leftovers(tmp_path, "b") == []
    with atomic_path(tmp_path / "ab") as temporary:
        assert leftovers(tmp_path, "ab") == [temporary] and leftovers(tmp_path, "a") == []
