#!/usr/bin/env python3
"""What spelling alone proposes on a real tag vocabulary: Danbooru's general tags and their community aliases.

Where the images say nothing (a weak model, a few images a tag), the variant step proposes what spelling links, flagged
(`spelling only: check`; issue 11, Deliver 2). The suite's sets plant their variants and their look-alikes by rules of
our own; this script asks the same question of a vocabulary people made. Danbooru's moderators keep its tags apart
(`fang` / `fangs`, `shirt lift` / `skirt lift` are two tags each) and alias the spellings that name one of them
(`thighhigh`, `thighhgihs` and `stockings` to `thighhighs`). Every general tag and each of its aliases is made a tag of
one collection whose images say nothing: each tag on images of its own, no company, tag vectors at random (the meaning
route sees nothing). The variant step (cluster_tags.py's CombinedVariants, the probe off as there are no images) then
proposes what spelling alone proposes. An alias and its tag are one concept; two tags are two.

Printed: precision and recall of the proposed pairs (pairwise, as benchmarks/variant_discovery.py scores them), the
recall among the alias pairs spelling can reach at all (spelling similarity 0.6 or more: `paper money` /
`banknote` is for the images to find), both by the spelling link the step names, and the false pairs, each with its
link, for a reader to judge.

Input: a CSV in the format of a1111-sd-webui-tagcomplete's tags/danbooru.csv (name,category,count,"alias,alias"; one
tag a line, most used first): https://github.com/DominikDoom/a1111-sd-webui-tagcomplete/blob/main/tags/danbooru.csv
(not shipped: third-party data). Aliases beginning with `/` are that tool's shortcuts, not Danbooru's, and are left out.

    python benchmarks/real_aliases.py danbooru.csv [--tags 3000] [--min-count 1000]
"""

import argparse
import csv
import itertools
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tagger.tagtext import TagNormalizer  # noqa: E402
from tagger.variants.grouping import CombinedVariants  # noqa: E402
from tagger.variants.spelling import spelling_similarity  # noqa: E402

GENERAL = "0"  # Danbooru's category of general tags (1 artist, 3 copyright, 4 character, 5 meta)
IMAGES_A_TAG = 8  # each tag's own images: enough to be kept, too few to say anything


def read_concepts(path: Path, most: int, min_count: int) -> dict[str, list[str]]:
    """{tag: [its aliases]} for the `most` most used general tags used at least min_count times, as prepare.py keeps
    them (its default normalization: case and separators folded, so `long-hair` is `long hair` there already, one
    tag). A name that is two concepts' (an alias listed under two tags, or a tag's own name listed as another's
    alias) is left out: no truth to score it by."""
    normalize = TagNormalizer()
    concepts: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 3 or row[1] != GENERAL or not row[2].isdigit() or int(row[2]) < min_count:
                continue
            name = normalize(row[0])
            aliases = [normalize(a) for a in (row[3].split(",") if len(row) > 3 else []) if a and a[0] != "/"]
            concepts[name] = list(dict.fromkeys(a for a in aliases if a != name))
            if len(concepts) == most:
                break
    owners = Counter(name for tag, aliases in concepts.items() for name in {tag, *aliases})
    return {tag: [a for a in aliases if owners[a] == 1] for tag, aliases in concepts.items() if owners[tag] == 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tags_csv", type=Path)
    parser.add_argument("--tags", type=int, default=3000, help="the most used general tags read (with their aliases)")
    parser.add_argument("--min-count", type=int, default=1000, help="posts a tag is used on, at least")
    parser.add_argument("--show", type=int, default=200, help="missed pairs printed, at most")
    arguments = parser.parse_args()
    concepts = read_concepts(arguments.tags_csv, arguments.tags, arguments.min_count)
    concept_of = {name: tag for tag, aliases in concepts.items() for name in (tag, *aliases)}
    vocabulary = list(concept_of)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(vocabulary), 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    images = np.arange(len(vocabulary) * IMAGES_A_TAG)
    tag_images = sparse.csr_matrix((np.ones(len(images), np.float32), (images // IMAGES_A_TAG, images)),
                                   shape=(len(vocabulary), len(images)))
    counts = [IMAGES_A_TAG] * len(vocabulary)
    start = time.perf_counter()
    fitted = CombinedVariants().fit(vectors, vocabulary, counts, tag_images)
    seconds = time.perf_counter() - start

    truth = {frozenset(pair) for tag, aliases in concepts.items() for pair in itertools.combinations([tag, *aliases], 2)}
    reachable = {pair for pair in truth if spelling_similarity(*pair) >= 0.6}
    proposed, link_of = set(), {}
    for group in fitted.groups_:
        links = group.spelling_links()
        for index, member in enumerate(group.members):
            if index:
                link_of[frozenset((group.canonical, member))] = links[index]
        for pair in itertools.combinations(group.members, 2):
            proposed.add(frozenset(pair))
    found = proposed & truth
    print(f"{len(concepts):,} general tags, {sum(map(len, concepts.values())):,} aliases; {len(truth):,} alias pairs, "
          f"{len(reachable):,} of them within spelling 0.6; the step: {seconds:.1f} s\n")
    print(f"proposed {len(proposed):,} pairs: precision {len(found) / max(len(proposed), 1):.3f}, recall "
          f"{len(found) / max(len(truth), 1):.3f}, recall within spelling 0.6 "
          f"{len(found & reachable) / max(len(reachable), 1):.3f}\n")
    by_link: dict[str, Counter] = defaultdict(Counter)
    for pair, link in link_of.items():
        by_link[link or "(none)"][pair in truth] += 1
    print("by the spelling link the step names (each member against its group's canonical): true / proposed")
    for link, tally in sorted(by_link.items(), key=lambda item: -sum(item[1].values())):
        print(f"  {link}: {tally[True]}/{tally[True] + tally[False]}")
    # Every candidate pair the spelling links (0.6 or more, or the rule's own words), proposed or not: how often each
    # link is one tag, whatever the step did with it (`two words` and `another number` are not proposed alone).
    evidence, scores = fitted.evidence_, fitted.scores_
    by_candidate: dict[str, Counter] = defaultdict(Counter)
    for index, (a, b) in enumerate(zip(evidence.first.tolist(), evidence.second.tolist())):
        link = evidence.spelling_link(index, vocabulary[a], vocabulary[b])
        if link:
            by_candidate[link][(frozenset((vocabulary[a], vocabulary[b])) in truth, scores[index] >= 0.5)] += 1
    print("\nevery candidate pair by its spelling link: one tag / pairs (of them scoring 0.5 or more)")
    for link, tally in sorted(by_candidate.items(), key=lambda item: -sum(item[1].values())):
        true, pairs = tally[(True, True)] + tally[(True, False)], sum(tally.values())
        print(f"  {link}: {true}/{pairs} ({tally[(True, True)]}/{tally[(True, True)] + tally[(False, True)]})")
    missed = sorted(tuple(sorted(pair)) for pair in reachable - proposed)
    print(f"\nmissed within spelling 0.6 ({len(missed):,}; spelling similarity, near miss flag if listed):")
    listed = {frozenset((m["canonical"], m["variant"])): m["flag"] for m in fitted.near_misses_}
    for first, second in missed[:arguments.show]:
        similarity = spelling_similarity(first, second)
        print(f"  {first} / {second}: {similarity:.2f}  {listed.get(frozenset((first, second)), '')}")
    print("\nfalse pairs (canonical / member: link):")
    for pair, link in sorted(link_of.items(), key=lambda item: sorted(item[0])):
        if pair not in truth:
            first, second = sorted(pair)
            print(f"  {first} / {second}: {link}  [{concept_of[first]} | {concept_of[second]}]")


if __name__ == "__main__":
    main()
