"""The review loop keeps every decision a person made: across rounds, across re-runs, and in odd files.

Run folders are real (prepare.py and cluster_tags.py run in-process through tagger.cli.main, as the scripts
call it); the embeddings are planted, so the groups cluster_tags.py proposes are known without TensorFlow.
"""

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from tagger import runfolder
from tagger.cli import main
from tagger.errors import TaggerError
from tagger.tagtext import (
    TagNormalizer,
    parse_aliases,
    read_aliases,
    write_aliases_text,
)
from tagger.variants.review import REVIEW_COLUMNS

CONCEPTS = ["dog", "cat", "car", "tree", "sky"]
SPELLINGS = {"dog": ["dog", "dogs", "d0g"], "car": ["car", "auto"]}


def planted_collection(seed=0):
    """600 images of two concepts each; 'dog' is spelled dog/dogs/d0g and 'car' car/auto."""
    random = np.random.default_rng(seed)
    centres = {name: random.normal(size=64) for name in CONCEPTS}
    embeddings, image_tags = [], []
    for _ in range(600):
        concepts = random.choice(CONCEPTS, size=2, replace=False)
        embeddings.append(sum(centres[c] for c in concepts) + random.normal(scale=0.8, size=64))
        image_tags.append([str(random.choice(SPELLINGS.get(c, [c]))) for c in concepts])
    return np.array(embeddings, np.float32), image_tags


@pytest.fixture
def collection(tmp_path):
    """tags.csv of the planted collection, and each image's planted embedding."""
    embeddings, image_tags = planted_collection()
    lines = ["image,tags"] + [f'img{index}.png,"{", ".join(tags)}"' for index, tags in enumerate(image_tags)]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path, {f"img{index}.png": row for index, row in enumerate(embeddings)}


def prepare_and_cluster(root, embedding_of, *flags):
    """prepare.py then cluster_tags.py on run/, with the planted embeddings in manifest order."""
    run_dir = root / "run"
    assert main("prepare", ["--paths.run_dir", str(run_dir), "--data.source", str(root / "tags.csv"),
                            "--data.check_images", "false", "--data.min_tag_occurrences", "3", *flags]) == 0
    manifest = runfolder.read_manifest(run_dir)
    np.save(run_dir / runfolder.EMBEDDINGS, np.stack([embedding_of[i] for i in manifest.image_ids]))
    runfolder.write_image_ids(run_dir, manifest.image_ids)
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    return run_dir


def review_rows(run_dir) -> list[dict]:
    with (run_dir / "review.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def decide(run_dir, decisions: dict[str, str], canonicals: dict[str, str] | None = None) -> None:
    """Fills the decision (and canonical) cells of review.csv by variant, as a person does in a spreadsheet."""
    rows = review_rows(run_dir)
    for row in rows:
        row["decision"] = decisions.get(row["variant"], row["decision"])
        row["canonical"] = (canonicals or {}).get(row["variant"], row["canonical"])
    write_review_file(run_dir / "review.csv", rows)


def write_review_file(path, rows, header=REVIEW_COLUMNS) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def proposed(run_dir) -> set[tuple[str, str]]:
    return {(row["variant"], row["canonical"]) for row in review_rows(run_dir)}


def test_accepted_merges_accumulate_across_review_rounds(collection, capsys):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    # d0g is typed on the most images, yet the group is named by the more used of its words
    assert {("dog", "dogs"), ("d0g", "dogs")} <= proposed(run_dir)

    decide(run_dir, {"d0g": "accept"})  # round 1: one merge
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    run_dir_aliases = str(run_dir / "aliases.txt")
    capsys.readouterr()
    prepare_and_cluster(root, embedding_of, "--data.aliases", run_dir_aliases)
    typed = sum("d0g" in line.split('"')[1].split(", ") for line in (root / "tags.csv").read_text().splitlines()[1:])
    assert (f"aliases: 1 merge read from {run_dir_aliases}; 1 of their variants found in {root / 'tags.csv'}, "
            f"renamed to their canonical tags on {typed} images") in capsys.readouterr().out
    assert "d0g" not in runfolder.read_vocabulary(run_dir)
    assert ("dog", "dogs") in proposed(run_dir) and not any(variant == "d0g" for variant, _ in proposed(run_dir))

    decide(run_dir, {"dog": "accept"})  # round 2: another merge; the first must stay
    capsys.readouterr()
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert "2 accepted merges" in capsys.readouterr().out
    entries = parse_aliases((run_dir / "aliases.txt").read_text(encoding="utf-8"), run_dir / "aliases.txt")
    assert [(variant, canonical) for _, variant, canonical in entries] == [("d0g", "dogs"), ("dog", "dogs")]
    prepare_and_cluster(root, embedding_of, "--data.aliases", run_dir_aliases)
    assert {"dog", "d0g"}.isdisjoint(runfolder.read_vocabulary(run_dir))
    assert "dogs" in runfolder.read_vocabulary(run_dir)

    # Undoing a merge is done on purpose, in aliases.txt; an accepted row cannot silently change it.
    rows = review_rows(run_dir)
    rows.append({**rows[0], "canonical": "cat", "variant": "d0g", "decision": "accept"})
    write_review_file(run_dir / "review.csv", rows)
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 1
    assert (f"line {len(rows) + 1}: 'd0g' was merged into 'dogs' in an earlier round; to undo an earlier merge, "
            "delete its line from aliases.txt first" in capsys.readouterr().err)


def test_rejecting_a_pair_an_earlier_apply_merged_is_refused_until_its_alias_line_goes(collection, capsys):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    decide(run_dir, {"d0g": "accept"})
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    aliases, rejected = (run_dir / "aliases.txt").read_bytes(), (run_dir / "rejected.csv").read_bytes()

    decide(run_dir, {"d0g": "reject"})  # the person changes their mind before the next prepare.py
    line = 2 + [row["variant"] for row in review_rows(run_dir)].index("d0g")
    capsys.readouterr()
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 1
    assert (f"line {line}: 'd0g' / 'dogs' is rejected, yet the merges still join them (into 'dogs'); to undo an "
            "earlier merge, delete its line from aliases.txt, or accept it again") in capsys.readouterr().err
    assert (run_dir / "aliases.txt").read_bytes() == aliases and (run_dir / "rejected.csv").read_bytes() == rejected

    (run_dir / "aliases.txt").write_text("", encoding="utf-8")  # the undo the message names
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert parse_aliases((run_dir / "aliases.txt").read_text(encoding="utf-8"), run_dir / "aliases.txt") == []
    assert ["d0g", "dogs"] in [row[:2] for row in csv.reader(io.StringIO((run_dir / "rejected.csv").read_text()))]


def test_a_chain_of_accepted_merges_applies_again_and_survives_a_re_run(collection):
    """Accepting sky -> tree and tree -> car writes sky -> car (chains resolved); the row sky -> tree is the same
    decision, so applying again, or after cluster_tags.py ran again, neither refuses it nor changes aliases.txt."""
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    rows = review_rows(run_dir)
    blank = {name: "" for name in REVIEW_COLUMNS}
    rows += [{**blank, "canonical": "tree", "variant": "sky", "decision": "accept"},
             {**blank, "canonical": "car", "variant": "tree", "decision": "accept"}]
    write_review_file(run_dir / "review.csv", rows)
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    written = (run_dir / "aliases.txt").read_text(encoding="utf-8")
    assert read_aliases(run_dir / "aliases.txt", TagNormalizer()) == {"sky": "car", "tree": "car"}
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0  # the same review.csv again
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert (run_dir / "aliases.txt").read_text(encoding="utf-8") == written


def test_a_canonical_a_person_edited_survives_a_re_run_of_cluster_tags(collection):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    decide(run_dir, {"dog": "accept", "d0g": "accept", "car": "reject"}, canonicals={"dog": "doggo", "d0g": "doggo"})
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    by_variant = {row["variant"]: (row["canonical"], row["decision"]) for row in review_rows(run_dir)}
    assert by_variant["dog"] == ("doggo", "accept") and by_variant["d0g"] == ("doggo", "accept")
    assert "car" not in by_variant  # rejected: remembered in rejected.csv, never proposed again
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert read_aliases(run_dir / "aliases.txt", TagNormalizer()) == {"dog": "doggo", "d0g": "doggo"}


def test_a_canonical_a_person_chose_names_the_group_in_every_later_run(collection):
    """The rule names the group `dogs` (the more used of its words); the person accepts `dog` into `d0g` instead. Every
    later cluster_tags.py keeps their choice for the whole group: `dogs` is proposed into `d0g`, never `d0g` into
    `dogs`, which would turn their merge around; also once applied, when prepare.py has merged `dog` away and its row
    has left review.csv (aliases.txt holds it)."""
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    assert {("dog", "dogs"), ("d0g", "dogs")} <= proposed(run_dir)
    decide(run_dir, {"dog": "accept"}, canonicals={"dog": "d0g"})
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    rows = {(row["variant"], row["canonical"]): row["decision"] for row in review_rows(run_dir)}
    assert rows[("dog", "d0g")] == "accept" and rows[("dogs", "d0g")] == ""
    assert not any(canonical == "dogs" for _, canonical in rows)

    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    for _ in range(2):  # the next round, and the one after it (the accepted row gone from review.csv)
        prepare_and_cluster(root, embedding_of, "--data.aliases", str(run_dir / "aliases.txt"))
        assert "dog" not in runfolder.read_vocabulary(run_dir)
        assert ("dogs", "d0g") in proposed(run_dir) and ("d0g", "dogs") not in proposed(run_dir)


def test_a_chain_of_accepted_rows_chooses_the_canonical_at_its_end(tmp_path):
    from tagger.variants.review import chosen_canonicals

    decisions = {("dog", "dogs"): "accept", ("dogs", "d0g"): "accept", ("cat", "kitty"): "reject"}
    assert chosen_canonicals(tmp_path, decisions) == {"d0g"}
    (tmp_path / "aliases.txt").write_text(write_aliases_text({"car": "auto"}), encoding="utf-8")
    assert chosen_canonicals(tmp_path, decisions) == {"d0g", "auto"}


def test_accepted_rows_not_proposed_again_are_kept_until_applied(collection):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    rows = review_rows(run_dir)
    rows.append({**{name: "" for name in REVIEW_COLUMNS}, "canonical": "tree", "variant": "sky", "decision": "yes"})
    write_review_file(run_dir / "review.csv", rows)
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    kept = [row for row in review_rows(run_dir) if row["variant"] == "sky"]
    assert [(row["canonical"], row["decision"], row["flag"]) for row in kept] == [
        ("tree", "accept", "kept from the earlier review.csv: not proposed this run")]


@pytest.mark.parametrize("cut, message", [
    (lambda text: text[:text.rindex(",accept")] + ",acc",  # ends mid-row
     "ends in the middle of line {last} (no line break after it): it looks cut short"),
    (lambda text: text[:text.rindex("\n", 0, len(text) - 1)] + '\n1,"dog,\n',  # inside a quoted cell
     "line {last}: unexpected end of data (a quoted cell is never closed): it looks cut short"),
    (lambda text: text[:text.rindex(",dog,") + 5] + "\n",  # a cut that happens to end at a line break
     "line {last}: 4 cells where the header has 15"),
    (lambda text: "", "review.csv is empty, its header too: restore it from the spreadsheet, or delete it and run "
                      "cluster_tags.py again (the decisions in it are lost)"),
    # Saved by a spreadsheet set to a language that separates cells with semicolons.
    (lambda text: text.replace(",", ";"), "review.csv is separated by semicolons (a spreadsheet's setting in some "
                                          "languages): save it as comma-separated (CSV UTF-8)"),
    (lambda text: "".join(f'"{line.replace(",", chr(34) + ";" + chr(34))}"\n' for line in text.splitlines()),
     "review.csv is separated by semicolons"),  # every text cell quoted, as LibreOffice may save it
    (lambda text: text.replace("decision", "decided", 1), "review.csv: column decision is missing; it must keep the "
                                                          "header cluster_tags.py wrote"),
])
def test_a_truncated_review_csv_is_refused_and_nothing_is_written(collection, capsys, cut, message):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    decide(run_dir, {row["variant"]: "accept" for row in review_rows(run_dir)})
    review = run_dir / "review.csv"
    review.write_text(cut(review.read_text(encoding="utf-8")), encoding="utf-8")
    last = review.read_text(encoding="utf-8").count("\n") + (0 if review.read_text().endswith("\n") else 1)
    capsys.readouterr()
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 1
    assert message.format(last=last) in capsys.readouterr().err
    assert not (run_dir / "aliases.txt").exists()
    before = review.read_bytes()
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 1  # nor is the person's file replaced
    assert review.read_bytes() == before


def test_every_accepted_row_is_applied_or_refused_with_its_line(collection, capsys):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    rows = [{**{name: "" for name in REVIEW_COLUMNS}, "canonical": canonical, "variant": variant, "decision": decision}
            for canonical, variant, decision in [("d0g", "dogs", "accept"), ("", "dog", "accept"),
                                                 ("car", "autos", "accept"), ("cat", "cat", "accept"),
                                                 ("car", "", "accept"), ("sky", "tree", "")]]
    write_review_file(run_dir / "review.csv", rows)
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"apply_review.py: error: {run_dir / 'review.csv'}: 4 accepted rows cannot be applied, nothing was written: "
        "line 3: accepted, but its canonical cell is empty: fill in the tag to merge 'dog' into, or clear the "
        "decision; line 4: 'autos' is not a tag of vocabulary.csv or rare_tags.csv (its variant cell was edited, or "
        "prepare.py ran on other data since cluster_tags.py): restore the cell, run cluster_tags.py again, or clear the "
        "decision; "
        "line 5: merges 'cat' into itself: "
        "name another canonical, or clear the decision; line 6: accepted, but its variant cell is empty: "
        "restore it, or clear the decision")
    assert not (run_dir / "aliases.txt").exists()


def test_a_windows_1252_review_csv_is_read_with_a_warning(collection, capsys):
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    rows = [{**{name: "" for name in REVIEW_COLUMNS}, "canonical": "caf\u00e9", "variant": "dogs", "decision": "accept"}]
    write_review_file(run_dir / "review.csv", rows)
    (run_dir / "review.csv").write_bytes((run_dir / "review.csv").read_text(encoding="utf-8").encode("cp1252"))
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert "review.csv is not UTF-8 (line 2 has byte 0xe9); read it as Windows-1252" in capsys.readouterr().err
    assert read_aliases(run_dir / "aliases.txt", TagNormalizer()) == {"dogs": "caf\u00e9"}


HOSTILE_TAGS = ["left -> right", "left", '"quoted"', "# not a comment", "alias a -> b", "->", "a->b",
                "x\u202ey", "zero\u200bwidth", "caf\u00e9", "=cmd()", "'quote"]


def test_the_aliases_file_holds_any_tag_and_reads_back_exactly(collection):
    root, _ = collection
    accepted = {HOSTILE_TAGS[i]: HOSTILE_TAGS[(i + 1) % len(HOSTILE_TAGS)] for i in range(0, len(HOSTILE_TAGS), 2)}
    path = root / "aliases.txt"
    path.write_text(write_aliases_text(accepted), encoding="utf-8")
    entries = parse_aliases(path.read_text(encoding="utf-8"), path)
    assert {variant: canonical for _, variant, canonical in entries} == accepted
    assert read_aliases(path, TagNormalizer(trim=False, casefold=False, fold_separators=False)) == accepted
    assert 'alias "left -> right" -> left\n' in path.read_text(encoding="utf-8")


def test_accepting_a_tag_holding_an_arrow_renames_only_that_tag(collection):
    """The issue's case: accepting 'left -> rightt' -> 'left -> right' must not rename 'left'."""
    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    rows = [{**{name: "" for name in REVIEW_COLUMNS}, "canonical": "left -> right", "variant": "left -> rightt",
             "decision": "accept"}]
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    runfolder.write_vocabulary(run_dir, [*zip(vocabulary, counts), ("left -> rightt", 3)])
    write_review_file(run_dir / "review.csv", rows)
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert read_aliases(run_dir / "aliases.txt", TagNormalizer()) == {"left -> rightt": "left -> right"}


def test_a_malformed_aliases_line_is_refused_with_its_number(tmp_path):
    path = tmp_path / "aliases.txt"
    path.write_text('# comment\nalias a -> b\nalias "unterminated -> c\n', encoding="utf-8")
    with pytest.raises(TaggerError, match="aliases.txt line 3: expected 'alias <variant> -> <canonical>'"):
        read_aliases(path, TagNormalizer())


def test_apply_review_prints_the_commands_that_train_again_as_the_run_last_ran(collection, capsys):
    """The hint after apply_review.py can be copied and run: each step with the settings it last ran with in the run
    folder (a train.py given the demo's small backbone trains again with it, not with the default it would
    download), prepare.py reading the aliases; none where nothing was accepted."""
    import shlex

    from tagger.settings import ModelSettings, Settings, TrainSettings

    root, embedding_of = collection
    run_dir = prepare_and_cluster(root, embedding_of)
    trained = Settings(model=ModelSettings(backbone="mobilenetv2", image_size=64, weights="none"),
                       train=TrainSettings(patience=20))
    runfolder.write_settings(run_dir, "train", trained)
    capsys.readouterr()
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    assert "no accepted merges: the tags stay as they are, nothing to train again" in capsys.readouterr().out

    decide(run_dir, {"d0g": "accept"})
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("next, to train on the merged tags (each step as it last ran here, prepare.py reading the "
                        "aliases):")
    commands = [line.strip() for line in lines[start + 1:start + 5]]
    run, source, aliases = (shlex.quote(str(path)) for path in (run_dir, root / "tags.csv", run_dir / "aliases.txt"))
    assert commands == [
        f"python prepare.py --paths.run_dir {run} --data.source {source} --data.min_tag_occurrences 3 "
        f"--data.check_images false --data.aliases {aliases}",
        f"python train.py --paths.run_dir {run} --model.backbone mobilenetv2 --model.image_size 64 "
        f"--model.weights none --train.patience 20",
        f"python embed.py --paths.run_dir {run}",
        f"python cluster_tags.py --paths.run_dir {run}"]
    # The prepare.py line runs as printed, and merges the accepted variant.
    words = shlex.split(commands[0])
    assert main("prepare", words[2:]) == 0
    assert "d0g" not in runfolder.read_vocabulary(run_dir) and "dogs" in runfolder.read_vocabulary(run_dir)


def test_a_retrain_command_runs_from_another_folder_than_prepare_py_ran_in(collection, tmp_path, monkeypatch):
    """prepare.py given a relative data.source records it absolute, and the printed commands name the run folder
    and aliases.txt absolute: each names the same files wherever the person runs it (they carried `tags.csv` and
    `run`, relative to where prepare.py and apply_review.py ran)."""
    import shlex

    from tagger.rerun import retrain_commands

    root, _ = collection
    monkeypatch.chdir(root)
    assert main("prepare", ["--paths.run_dir", "run", "--data.source", "tags.csv", "--data.check_images", "false",
                            "--data.min_tag_occurrences", "3"]) == 0
    assert runfolder.read_settings(root / "run", "prepare")["data"]["source"] == str(root / "tags.csv")
    (root / "run" / "aliases.txt").write_text("alias d0g -> dog\n", encoding="utf-8")
    command = shlex.split(retrain_commands(Path("run"), Path("run/aliases.txt"))[0])  # as apply_review.py run here
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert [command[command.index(flag) + 1] for flag in ("--paths.run_dir", "--data.source", "--data.aliases")] == [
        str(root / "run"), str(root / "tags.csv"), str(root / "run" / "aliases.txt")]
    assert main("prepare", command[2:]) == 0
    assert "d0g" not in runfolder.read_vocabulary(root / "run") and not (elsewhere / "run").exists()


def test_the_retrain_commands_read_old_names_leave_out_sharding_and_survive_a_damaged_record(tmp_path):
    """Settings recorded under their names before a rename count under today's; how one machine split embed.py into
    shards is the next run's own choice; a record that cannot be read gives its step's defaults (the step says why
    when it runs), never a failed apply. The steps and their sections are tagger.steps'."""
    import json

    from tagger.rerun import RETRAIN_STEPS, retrain_commands
    from tagger.steps import STEPS

    assert {name: (script, sections) for name, (script, sections, _) in RETRAIN_STEPS.items()} == \
        {name: (STEPS[name].script, STEPS[name].sections) for name in RETRAIN_STEPS}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "settings.train.json").write_text(json.dumps({"train": {"head_epochs": 3, "patience": 20}}))
    (run_dir / "settings.embed.json").write_text(json.dumps({"embed": {"num_shards": 4, "shard_index": 2,
                                                                       "merge_only": True}}))
    (run_dir / "settings.prepare.json").write_text('{"data": {"source": "tags.csv"')  # cut short
    assert retrain_commands(run_dir, run_dir / "aliases.txt") == [
        f"python prepare.py --paths.run_dir {run_dir} --data.aliases {run_dir / 'aliases.txt'}",
        f"python train.py --paths.run_dir {run_dir} --train.head.epochs 3 --train.patience 20",
        f"python embed.py --paths.run_dir {run_dir}",
        f"python cluster_tags.py --paths.run_dir {run_dir}"]


def test_cluster_tags_run_after_apply_but_before_prepare_says_the_aliases_are_not_read_yet(tmp_path, capsys):
    embeddings, image_tags = planted_collection()
    lines = ["image,tags"] + [f'img{index}.png,"{", ".join(tags)}"' for index, tags in enumerate(image_tags)]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = prepare_and_cluster(tmp_path, {f"img{index}.png": row for index, row in enumerate(embeddings)})
    assert "aliases.txt merges" not in "".join(capsys.readouterr())
    decide(run_dir, {"d0g": "accept", "dog": "accept"})
    assert main("apply_review", ["--paths.run_dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main("cluster_tags", ["--paths.run_dir", str(run_dir)]) == 0
    assert [line for line in "".join(capsys.readouterr()).splitlines() if "aliases.txt merges" in line] == [
        f"warning: aliases.txt merges 2 tags vocabulary.csv still holds (like 'd0g'): prepare.py has not read it since "
        f"apply_review.py wrote it; run prepare.py with --data.aliases {run_dir / 'aliases.txt'} and the steps after "
        "it (the commands apply_review.py printed), or those pairs come up again"]
