"""cluster_tags.py: variant groups from image embeddings, written for review and as aliases."""

import numpy as np
import pandas as pd

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.settings import Settings
from tagger.spreadsheet import spreadsheet_safe
from tagger.variants import CombinedVariants, DBSCANVariants, tag_image_matrix, tag_mean_embeddings


def cluster_tags(settings: Settings) -> list:
    run_dir, options = settings.paths.run_dir, settings.cluster
    manifest = runfolder.read_manifest(run_dir)
    vocabulary_table = pd.read_csv(runfolder.require(run_dir / runfolder.VOCABULARY, "prepare.py"),
                                   dtype={"tag": str}, keep_default_na=False)
    vocabulary, counts = vocabulary_table["tag"].tolist(), vocabulary_table["count"].tolist()
    embeddings = np.load(runfolder.require(run_dir / runfolder.EMBEDDINGS, "embed.py"), mmap_mode="r",
                         allow_pickle=False)
    image_ids = np.load(runfolder.require(run_dir / runfolder.IMAGE_IDS, "embed.py"), allow_pickle=False)
    if image_ids.tolist() != manifest.image_ids or len(embeddings) != len(image_ids):
        raise TaggerError(f"{runfolder.EMBEDDINGS} does not match {runfolder.MANIFEST} "
                          "(prepare.py ran again since): run embed.py again")

    tag_images = tag_image_matrix(manifest.tags, vocabulary)
    tag_vectors = tag_mean_embeddings(tag_images, embeddings, options.center)
    if options.method == "dbscan":
        groups = DBSCANVariants(options.eps, options.min_samples).fit(tag_vectors, vocabulary, counts).groups_
    else:
        groups = CombinedVariants(options.min_score, options.neighbours).fit(
            tag_vectors, vocabulary, counts, tag_images).groups_
    write_groups(run_dir, groups)
    runfolder.write_settings(run_dir, "cluster", settings)
    print_groups(groups)
    print(f"wrote {run_dir / runfolder.SYNONYMS_JSON}, {runfolder.SYNONYMS_CSV}, {runfolder.ALIASES}")
    return groups


def write_groups(run_dir, groups) -> None:
    runfolder.write_json(run_dir / runfolder.SYNONYMS_JSON, {"groups": [
        {"canonical": group.canonical,
         "members": [{"tag": tag, "count": count, "similarity": round(similarity, 6)}
                     for tag, count, similarity in zip(group.members, group.counts, group.similarities)]}
        for group in groups
    ]})
    runfolder.write_csv(run_dir / runfolder.SYNONYMS_CSV, ["canonical", "tag", "count", "similarity"], [
        (spreadsheet_safe(group.canonical), spreadsheet_safe(tag), count, f"{similarity:.6f}")
        for group in groups for tag, count, similarity in zip(group.members, group.counts, group.similarities)
    ])
    runfolder.write_text(run_dir / runfolder.ALIASES, "".join(
        f"alias {tag} -> {group.canonical}\n" for group in groups for tag in group.members[1:]
    ))


def print_groups(groups) -> None:
    if not groups:
        print("no variant groups found")
    for group in groups:
        members = ", ".join(f"{tag} ({count}, {similarity:.2f})"
                            for tag, count, similarity in zip(group.members[1:], group.counts[1:],
                                                              group.similarities[1:]))
        print(f"{group.canonical} ({group.counts[0]}) <- {members}")
