"""cluster_tags.py: variant groups from image embeddings, written for review and as aliases."""

import logging
from collections import Counter

import numpy as np

from tagger import runfolder
from tagger.result import StepResult
from tagger.settings import Settings
from tagger.logs import counted
from tagger.tagtext import visible
from tagger.variants.evidence import tag_mean_embeddings
from tagger.variants.grouping import NEAR_MISSES_LISTED, CombinedVariants, DBSCANVariants
from tagger.variants.legend import LEGACY_NAMES, format_evidence, measures_text, with_text_column
from tagger.variants.rare import RareTags, rare_spellings
from tagger.variants.separability import SeparabilityProbe
from tagger.variants.rule import (
    GROUPS_DISAGREE, IMAGES_DIFFER, NEAR_MISS, NEVER_TOGETHER, RARE_SPELLING, SPELLED_ALIKE, TYPED_TOGETHER,
)
from tagger.variants.review import (
    chosen_canonicals, earlier_aliases, previous_decisions, write_rejected, write_review,
)
from tagger.variants.synonyms_page import write_synonyms_page

log = logging.getLogger(__name__)


def cluster_tags(settings: Settings) -> StepResult:
    """Proposes variant groups with their evidence: synonyms.json/.csv/.html and review.csv (decisions kept)."""
    run_dir, options = settings.paths.run_dir, settings.cluster
    manifest = runfolder.read_manifest(run_dir)
    vocabulary, counts = runfolder.read_vocabulary_counts(run_dir)
    embeddings = runfolder.read_embeddings(run_dir, manifest)

    warn_of_aliases_not_prepared(run_dir, vocabulary)
    decisions, rejected = previous_decisions(run_dir)
    rare_images: dict[str, list[int]] = {}  # the listed rare spellings' images (manifest rows), for the report
    chosen = chosen_canonicals(run_dir, decisions)
    tag_images = manifest.tag_image_matrix(vocabulary)
    tag_count, kept = len(vocabulary), distinguishable_tags(tag_images)
    vocabulary, counts, tag_images = [vocabulary[i] for i in kept], [counts[i] for i in kept], tag_images[kept]
    if len(vocabulary) < 2:  # one tag (or tags that always travel together) has no variants to find
        groups, near_misses, left_out = [], [], {}
    elif options.method == "dbscan":
        tag_vectors = tag_mean_embeddings(tag_images, embeddings, options.center)
        groups = DBSCANVariants(options.eps, options.min_samples).fit(
            tag_vectors, vocabulary, counts, rejected, chosen).groups_
        near_misses, left_out = [], {}
    else:
        head_kernel = trained_head_kernel(run_dir, embeddings.shape[1], tag_count) if options.use_head else None
        head_kernel = None if head_kernel is None else head_kernel[:, kept]  # its columns follow vocabulary.csv
        tag_vectors = tag_mean_embeddings(tag_images, embeddings, options.center)
        if head_kernel is not None:  # a second view: the tags as the trained model sees them
            tag_vectors = [tag_vectors, tag_mean_embeddings(tag_images, embeddings, options.center, head_kernel)]
        accepted = {frozenset(pair) for pair, decision in decisions.items() if decision == "accept"}
        variants = combined_variants(settings, vocabulary).fit(
            tag_vectors, vocabulary, counts, tag_images, rejected, embeddings if options.probe else None,
            manifest.photos, accepted, chosen)
        groups, near_misses, left_out = variants.groups_, variants.near_misses_, variants.near_misses_left_out_
        rare, rare_images = listed_rare_spellings(run_dir, manifest, embeddings, vocabulary, counts, tag_images,
                                                  tag_vectors, head_kernel, variants, rejected, options)
        near_misses = near_misses + rare
    write_groups(run_dir, groups, near_misses)
    write_rejected(run_dir, rejected)
    write_review(run_dir, groups, decisions, near_misses)
    write_synonyms_page(run_dir, groups, manifest, options.method, settings.review.thumbnails, embeddings,
                        near_misses, rare_images)
    runfolder.write_settings(run_dir, "cluster", settings)
    log_groups(groups)
    log_near_misses(near_misses, left_out)
    log.info(f"wrote {run_dir / runfolder.SYNONYMS_HTML}, {runfolder.SYNONYMS_JSON}, {runfolder.SYNONYMS_CSV} "
             f"and {runfolder.REVIEW}")
    if groups or near_misses or decisions:  # nothing proposed, listed or decided before: nothing to decide
        log.info(f"next: decide in the browser with review.py --paths.run_dir {run_dir} (its Apply writes the "
                 f"aliases), or fill the decision column of {run_dir / runfolder.REVIEW} (accept or reject), then run "
                 f"apply_review.py --paths.run_dir {run_dir}")
    return StepResult([run_dir / name for name in (runfolder.SYNONYMS_JSON, runfolder.SYNONYMS_CSV, runfolder.SYNONYMS_HTML,
                                                   runfolder.REVIEW, runfolder.REJECTED)], groups)


def warn_of_aliases_not_prepared(run_dir, vocabulary: list[str]) -> None:
    """aliases.txt merges tags vocabulary.csv still holds: apply_review.py ran, prepare.py has not read its aliases
    since, and the pairs just decided would come up again as if never decided."""
    pending = sorted(set(earlier_aliases(run_dir)) & set(vocabulary))
    if pending:
        log.warning(f"{runfolder.ALIASES} merges {counted(len(pending), 'tag')} {runfolder.VOCABULARY} still holds "
                    f"(like {visible(pending[0])!r}): prepare.py has not read it since apply_review.py wrote it; run "
                    f"prepare.py with --data.aliases {run_dir / runfolder.ALIASES} and the steps after it (the commands "
                    "apply_review.py printed), or those pairs come up again")


def listed_rare_spellings(run_dir, manifest, embeddings, vocabulary, counts, tag_images, tag_vectors, head_kernel,
                          variants: CombinedVariants, rejected, options) -> tuple[list[dict], dict[str, list[int]]]:
    """The tags under data.min_tag_occurrences spelled as a kept tag (tagger.variants.rare), as near misses, and their
    images as manifest rows; none for a run folder prepared before rare_tags.csv."""
    uses = runfolder.read_rare_tags(run_dir)
    if not uses:
        return [], {}
    rare = RareTags.from_uses(uses, manifest.image_ids)

    def vectors_of(rare_images):  # in the kept tags' views
        vectors = tag_mean_embeddings(rare_images, embeddings, options.center)
        return vectors if head_kernel is None else [
            vectors, tag_mean_embeddings(rare_images, embeddings, options.center, head_kernel)]
    group_of = {member: group.canonical for group in variants.groups_ for member in group.members}
    listed, more = rare_spellings(vocabulary, counts, tag_images, rare, options.min_score, variants.canonical_ranks_,
                                  rejected, group_of, tag_vectors, vectors_of)
    if options.text_evidence:  # a column of its own in every row; the text tower read the kept tags' names only
        for miss in listed:
            miss["text"] = None
    shown = len({miss["variant"] for miss in listed})
    if not shown:
        log.info(f"{runfolder.RARE_TAGS}: none of its {len(uses)} tags is spelled as a kept tag closely enough to list")
    else:
        log.info(f"{runfolder.RARE_TAGS}: {shown + more} of {counted(len(uses), 'tag')} "
                 f"{'is' if shown + more == 1 else 'are'} spelled as a kept tag closely enough for the spelling alone "
                 "to merge; " + (f"the {shown} most used" if more else "all") + " listed for review")
    return listed, rare.image_rows({miss["variant"] for miss in listed})


def distinguishable_tags(tag_images) -> np.ndarray:
    """Indices of the tags to compare: of tags carried by exactly the same images, only the first (the most
    used). Tags that only ever appear together carry no evidence of being variants, and 5,000 tags on one
    image would otherwise cost 5,000 squared pairs."""
    rows = tag_images.tocsr()
    rows.sort_indices()
    first_with: dict[bytes, int] = {}
    for tag in range(rows.shape[0]):
        first_with.setdefault(rows.indices[rows.indptr[tag]:rows.indptr[tag + 1]].tobytes(), tag)
    return np.array(sorted(first_with.values()), np.int64)


def combined_variants(settings: Settings, vocabulary: list[str]) -> CombinedVariants:
    """The combined method with the separability probe, and the tag names' text evidence when asked for."""
    options = settings.cluster
    probe = SeparabilityProbe(options.probe_images, seed=0) if options.probe else None
    if not options.text_evidence:
        return CombinedVariants(options.min_score, options.neighbours, probe, options.max_probes)
    from tagger.variants.text_evidence import TextAwareVariants, tag_text_vectors

    text_vectors = tag_text_vectors(runfolder.trained_model_settings(settings.paths.run_dir), vocabulary)
    return TextAwareVariants(options.min_score, options.neighbours, probe, options.max_probes,
                             text_vectors=text_vectors)


# synonyms.csv's columns: the first five in their old order ("similarity": the visual evidence's old name, the
# canonical's against itself included), then "visual", its name everywhere else (tagger.variants.legend), and
# the flag that asks a person to look twice. With cluster.text_evidence, the tag names' text cosine before the flag.
# The calibrated confidence came later still: before the flag; and then what the separability probe found ("probe"),
# and the spelling link in words ("spelled").
EVIDENCE_FIELDS = ("score", LEGACY_NAMES["visual"], "context", "spelling", "overlap", "visual", "confidence", "probe",
                   "spelled", "flag")


def member_rows(group) -> list[dict]:
    """Each member with its count and its evidence against the canonical (None where not measured); the tag
    names' text cosine only where the run measured it (cluster.text_evidence)."""
    rows = []
    evidence = group.evidence
    answers = evidence.probe_answers() if evidence is not None else None
    spelled = group.spelling_links()
    names = ("context", "spelling", "overlap", "text") if measures_text([group]) else ("context", "spelling", "overlap")
    for index, tag in enumerate(group.members):
        measured = index > 0  # the canonical's evidence against itself says nothing
        values = {
            "score": group.scores[index] if group.scores and measured else None,
            "confidence": group.confidences[index] if group.confidences and measured else None,
            "visual": group.similarities[index] if measured else None,
            **{name: None if evidence is None or not measured else float(getattr(evidence, name)[index])
               for name in names},
            LEGACY_NAMES["visual"]: group.similarities[index],
        }
        rows.append({"tag": tag, "count": group.counts[index],
                     **{name: None if value is None or value != value else round(value, 6)
                        for name, value in values.items()},
                     "probe": answers[index] if answers is not None and measured else None,
                     "spelled": (spelled[index] or None) if spelled is not None else None,
                     "flag": (group.flags[index] if group.flags else "") or None})
    return rows


def trained_head_kernel(run_dir, width: int, tag_count: int) -> np.ndarray | None:
    """The tag layer's kernel saved by train.py, when it fits these embeddings and this vocabulary."""
    kernel = runfolder.read_head_kernel(run_dir)
    if kernel is None:
        return None
    if kernel.shape != (width, tag_count):
        log.warning(f"{runfolder.HEAD} does not fit the current vocabulary (train.py again?); "
                    "comparing tags by embeddings alone")
        return None
    return kernel


def write_groups(run_dir, groups, near_misses=()) -> None:
    """synonyms.json (groups, then near misses: pairs just under the cut-off, not merged) and synonyms.csv."""
    runfolder.write_json(run_dir / runfolder.SYNONYMS_JSON, {"groups": [
        {"canonical": group.canonical, "members": member_rows(group)} for group in groups
    ], "near_misses": [{name: None if isinstance(value, float) and value != value else
                        round(value, 6) if isinstance(value, float) else value for name, value in miss.items()}
                       for miss in near_misses]})
    fields = with_text_column(EVIDENCE_FIELDS, after="visual") if measures_text(groups) else EVIDENCE_FIELDS
    runfolder.write_csv(run_dir / runfolder.SYNONYMS_CSV, ["canonical", "tag", "count", *fields], [
        [group.canonical, row["tag"], row["count"], *("" if row.get(name) is None else row[name] for name in fields)]
        for group in groups for row in member_rows(group)
    ])


# Each kind of near miss as log_near_misses counts it (any other flag counts as "other").
NEAR_MISS_KINDS = {GROUPS_DISAGREE: "scored as one and kept apart by another pair", NEAR_MISS: "just under the cut-off",
                   IMAGES_DIFFER: "told apart by their images", SPELLED_ALIKE: "spelled alike, the images unsure",
                   TYPED_TOGETHER: "spelled alike and typed together", NEVER_TOGETHER: "alike and never on one image",
                   RARE_SPELLING: "rare spellings of a kept tag"}


def log_near_misses(near_misses, left_out: dict | None = None) -> None:
    """One line: how many pairs are listed for a look without being merged, of each kind; and one more where a kind
    had more than the list holds (left_out: flag -> pairs not listed, CombinedVariants.near_misses_left_out_)."""
    if near_misses:
        kinds = Counter(miss["flag"] if miss["flag"] in NEAR_MISS_KINDS else "other" for miss in near_misses)
        log.info(f"{len(near_misses)} near misses listed in review.csv, not merged: "
                 + ", ".join(f"{kinds[flag]} {words}" for flag, words in {**NEAR_MISS_KINDS, "other": "other"}.items()
                             if kinds[flag]))
    if left_out:
        log.info(f"{sum(left_out.values())} more not listed (the best {NEAR_MISSES_LISTED} of each kind are): "
                 + ", ".join(f"{count} {flag}" for flag, count in sorted(left_out.items())))


def log_groups(groups) -> None:
    """One line per group (news of the run: the groups themselves are in synonyms.json, .csv and .html)."""
    if not groups:
        log.info("no variant groups found")
    for group in groups:
        rows = member_rows(group)
        members = "; ".join(
            f"{visible(row['tag'])} ({row['count']} images, {format_evidence(row, ('confidence', 'score', 'visual'))}"
            + "".join(f", {name}: {row[name]}" for name in ("probe", "spelled") if row[name]) + ")"
            + (f" [{row['flag']}]" if row["flag"] else "") for row in rows[1:])
        log.info(f"{visible(group.canonical)} ({group.counts[0]} images) <- {members}")
