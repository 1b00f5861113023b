#!/usr/bin/env python3
"""Benchmark suite for variant discovery: sets that each break one assumption, combined vs DBSCAN.

Every set reuses cached image embeddings (coco128 with the real MobileNetV2 weights, built once
through prepare.py -> train.py -> embed.py into the work folder; and the demo's run folders), changes
only the tags, and runs the variant step's library code (CombinedVariants with the separability
probe, and DBSCANVariants) on them, as cluster_tags.py does without a trained head. Scored as
benchmarks/variant_discovery.py scores: pairwise precision, recall and F1 over the kept vocabulary;
calibration: among proposed pairs at confidence >= 0.9 (and in bins), the share that are true.

    python benchmarks/variant_suite.py [--work-dir /tmp/variant_suite] [--seeds 0,1,2] \
        [--demo-runs runs/demo,...] [--sets coco,correlated,...] [--calibrate]

--calibrate fits the confidence table of tagger/variants/calibration.py on every pair the runs show (each
group member against its canonical, and the near misses), prints it, and checks it held out: fitted on the
other folds (each coco seed with every set made at it; the demo runs), applied to the one left out.

Sets (each on coco128 at every seed unless noted):
  coco         variants of every kind injected at random (benchmarks/variant_discovery.py's injection)
  lookalike    translations and synonyms (no spelling link) of classes that have a distinct look-alike
               class (the closest class means that rarely share an image): every merge must come
               from meaning, right beside a pair that looks as alike and is not one
  correlated   variant use correlated with content: a variant is used three times as often on one
               half of its concept's images (split along their first principal component)
  broader      broader tags travelling with narrower ones (animal, vehicle, furniture, ...) added
  weak         images that say nothing (embeddings replaced by noise): spelling variants only
  translations translations and synonyms only, used at random
  nearspell    the most look-alike distinct classes renamed to near spellings of each other
               (one letter, or a plural with a different meaning) beside injected true variants
  danbooru     the four most look-alike distinct class pairs renamed to distinct Danbooru tags of near spelling
               (`shirt lift` / `skirt lift`, `black robe` / `black rose`, `white pants` / `white panties`, `legs up` /
               `leg up`: long names one letter or a plural apart, where a normalized edit distance is high) beside
               injected true variants
  nearslip     the four most look-alike distinct class pairs whose more used name has 5 letters or more, the rarer
               class renamed to that name with two inner letters swapped, a spelling no language lists (`chair` /
               `chiar`): what the slip of a word (tagger/variants/words.py) reads as a misspelling, two concepts
  together_nearspell  the four most look-alike distinct class pairs among those shown together (each on 6 images or
               more with the other and without it: `cup` and `dining table`), the rarer renamed to the other's plural:
               what the images carrying both add, on real photos at coco128's scale
  accents      translations typed with their accents and without (`schüssel` / `schuessel`, `árbol` / `arbol`,
               `fenêtre` / `fenetre`): a concept of >= 3 x min_count images keeps its own spelling beside both,
               a smaller one is typed only in its translation's two forms
  shared       variants of every kind, half the images carrying two spellings (two annotators' tags
               merged): breaks "one person tags an image with one spelling", which the overlap term and
               the probe's images-of-one-tag-only samples lean on
  reposts      variants of every kind, a quarter of the photos reposted 1-3 times (copies re-saved: the photo's
               embedding plus noise, centered cosine about 0.98, as JPEG at quality 50 gives) with the photo's tags
               and photo hash (2 bits of 64 flipped at most, as prepare.py reads re-saved copies): breaks "each image
               is an independent draw", which the probe's folds and label shuffles lean on (a spelling kept on one
               photo's copies looks like a concept of its own unless copies count once)
  midscale     features, not images (midscale_features): 30 Gaussian concepts of 40-160 images with four pairs of
               distinct look-alikes 0.3-0.6 as far apart as unrelated concepts, beside variants of every kind: the
               scale between coco128's and the scenes', where a tag stands out from the rest at a few spreads
  midscale_offaxis  midscale, the concepts differing in 24 of the 64 dimensions and each look-alike only in the
               other 40: a difference off the collection's main directions, which the probe's discriminant does not
               read (the gap does)
  midscale_lowvar  midscale, the concepts differing most in 8 dimensions where the images also vary most, and each
               look-alike only in 16 of the discriminant's directions where they vary little: a difference the gap's
               plain distance hardly weighs (the whitened discriminant does), beside translations the gap may vouch
               for
  midscale_nearspell  midscale_lowvar with each look-alike renamed to its partner's plural (`coat` / `coats`):
               spelling says one concept, only the discriminant's whitened directions say two (the plain gap
               hardly weighs them): its difference must stand alone, past what chance reaches among all pairs
  midscale_several  midscale's images made scenes of 1-3 concepts (features added, tags joined), each look-alike's
               first concept shown with its partner on 40% of its images (a coat worn over a shirt): clutter that
               weakens the discriminant, and look-alikes that share images
  midscale_several_nearspell  midscale_several with each look-alike renamed to its partner's plural: under the
               clutter neither the discriminant nor the gap may tell the images of one only apart, the images carrying
               both must (what they add on each side is the other's look)
  midscale_shared  midscale_several_nearspell with every variant typed twice on half its concept's images (two
               people tagged them): images carrying both spellings are not two things shown together
  midscale_shared_kind  midscale_several_nearspell with every variant typed twice on one kind of its concept's
               images (the 30% furthest along their first principal component: a second annotator who tags only
               some; and on 5% at random, as every midscale set): the images carrying both differ from those
               carrying one, on both sides, by that kind; not in the direction of the other spelling's own images
  midscale_attribute  midscale_shared with an attribute tag for each planted concept (`vintage`, `sketch`, ...) on
               40% of its images at random, always beside one of its spellings: a tag the images cannot tell from a
               second name typed beside the first (midscale_shared), except that it never names an image by itself
  midscale_broader  midscale_shared with four broader tags (`animal`, `vehicle`, ...), each over three concepts at
               random, on 90% of the images of any of them: a tag typed beside a concept's names on most of its
               images, as a second name typed twice is (midscale_shared), whose shared images add the concept's look
               to its other images (the broader-tag trap, where shared images may count less)
  midscale_correlated  midscale_several with variant use correlated with content, as correlated: each variant used three
               times as often on one half of its concept's images (split along their first principal component; the half
               alternates between variants). Under clutter the kind of image (which other concepts an image shows) is much
               of what varies among a concept's images, and a tag's own look a small part of each: a spelling chosen by
               kind differs from its others by a fair share of what sets the concept apart from unrelated images
  midscale_languages  midscale_several with 40% of the images tagged in German (every tag with a German name written
               so: `katze`, `hund`, `baum`): a translation keeps the company of its own language, never the concept's
               other name's, and never meets the English names of what it is shown with (look-alikes included: `tisch`
               and `chair`): breaks "a variant keeps its concept's company", which the context term leans on
  scenes       3,000 synthetic scenes (benchmarks/lookalike_scenes.py) through the same weights at 96 px: distinct
               look-alike concepts that share company and no spelling (navy / blue, disc / ring, rectangle /
               square, orange / yellow) beside variants of every kind, hundreds of images per tag, so the images
               can speak: what the meaning route does where it has the evidence coco128's few images lack
  scenes_nearspell  the scenes, each look-alike concept renamed to a spelling its partner folds to (navy -> `blues`,
               yellow -> `oranges`, disc -> `r1ng`, rectangle -> `squares`): spelling 1.0, two concepts; the images
               must keep them apart (issue 11's look-alike classes given near spellings, at a scale where they can)
  scenes_signature  scenes_nearspell, with a tag naming each look-alike's look (`navy-ish`) on 80% of its images and
               30% of its partner's: company the probe adjusts for that goes with the difference between two concepts
  scenes_correlated the scenes' variants used three times as often on one half of their concept's images (split
               along the first principal component, as correlated): at hundreds of images a tag such a spelling is
               told apart from its others beyond chance, so "not separable" cannot be what makes a variant
  scenes_fewer_tags  scenes_nearspell tagged by two kinds of people: half the images by people who type the variant
               spellings and leave out 60% of their tags, half by people who type every concept under its own
               spelling: a spelling comes with fewer tags beside it, while its images still show what they leave
               out, which breaks "an image shows what its tags name and no more", which the probe's company
               adjustment leans on
  demo         the demo's run folders, as made by data/run_demo.sh (planted variants)
"""

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from variant_discovery import (  # noqa: E402
    DEFAULT_TRAIN_FLAGS, INJECTED_KINDS, MAKERS, TRANSLATIONS, inject_variants, machine, normalize, plan_variants,
    score, true_pairs, usable,
)

from tagger import runfolder  # noqa: E402
from tagger.runfolder import Manifest  # noqa: E402
from tagger.variants.evidence import tag_mean_embeddings  # noqa: E402
from tagger.variants.grouping import CombinedVariants, DBSCANVariants  # noqa: E402
from tagger.variants.separability import MIN_IMAGES, SeparabilityProbe  # noqa: E402

COCO = Path("/work/shared/data/coco128/tags.csv")
ALL_SETS = ("coco", "lookalike", "correlated", "broader", "weak", "translations", "nearspell", "danbooru", "nearslip",
            "together_nearspell", "accents", "shared", "reposts", "midscale", "midscale_offaxis", "midscale_lowvar",
            "midscale_nearspell", "midscale_several", "midscale_several_nearspell", "midscale_shared",
            "midscale_shared_kind", "midscale_attribute", "midscale_broader", "midscale_correlated", "midscale_rare",
            "midscale_many", "midscale_languages", "scenes", "scenes_nearspell", "scenes_signature",
            "scenes_correlated", "scenes_fewer_tags", "demo")
# midscale set -> (layout of midscale_features, several concepts an image, look-alikes renamed to their partner's
# plural, which images of a variant's concept carry two of its spellings: "few" (5% at random), "half" (half at random)
# or "kind" (5% at random, and one kind of image: the 30% furthest along the concept's first principal component); or
# "habit": none, each image's one spelling chosen by its kind, three times as often on one half, as `correlated`; or
# "rare": 5% at random, concepts of RARE_SIZES images and each variant on few of them; or "many": 5% at random, every
# planted concept under four spellings, plan_many_spellings)
MIDSCALE_SETS = {"midscale": ("plain", False, False, "few"), "midscale_offaxis": ("off_axis", False, False, "few"),
                 "midscale_lowvar": ("low_variance", False, False, "few"),
                 "midscale_nearspell": ("low_variance", False, True, "few"),
                 "midscale_several": ("plain", True, False, "few"),
                 "midscale_several_nearspell": ("plain", True, True, "few"),
                 "midscale_shared": ("plain", True, True, "half"),
                 "midscale_shared_kind": ("plain", True, True, "kind"),
                 "midscale_attribute": ("plain", True, True, "half"),
                 "midscale_broader": ("plain", True, True, "half"),
                 "midscale_correlated": ("plain", True, False, "habit"),
                 "midscale_rare": ("plain", False, False, "rare"),
                 "midscale_many": ("plain", True, False, "many")}
# midscale_rare: concepts of 300-1,200 images, each variant on a few dozen of them at most (min_count each, then 2%
# of the rest between them): a typo one person made beside a word thousands typed right.
RARE_SIZES, RARE_SHARE = (300, 1200), 0.98
# Tags naming something about an image of one concept that its images do not show (midscale_attribute): no spelling
# link to any concept name.
ATTRIBUTES = ("vintage", "favourite", "blurry", "scanned", "wip", "commission", "sketch", "request", "gift", "contest",
              "old photo", "reupload")
SCENES_SETS = ("scenes", "scenes_nearspell", "scenes_signature", "scenes_correlated", "scenes_fewer_tags")
# Distinct Danbooru tags of near spelling (issue 11's examples: each pair is two concepts, used >= 1,000 times).
DANBOORU_NEAR_PAIRS = (("shirt lift", "skirt lift"), ("black robe", "black rose"), ("white pants", "white panties"),
                       ("legs up", "leg up"))
SCENES_TRAIN_FLAGS = DEFAULT_TRAIN_FLAGS.replace("--model.image_size 224", "--model.image_size 96")
BROADER = {"animal": {"dog", "cat", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "bird"},
           "vehicle": {"car", "truck", "bus", "motorcycle", "bicycle", "airplane", "train", "boat"},
           "furniture": {"chair", "couch", "bed", "dining table", "bench"},
           "tableware": {"cup", "bowl", "fork", "knife", "spoon", "wine glass", "bottle"}}
CONFIDENCE_BINS = (0.0, 0.5, 0.7, 0.9, 1.01)
# coco128's classes in a language that writes them with accents or umlauts (German, French, Spanish).
ACCENTED_TRANSLATIONS = {
    "tree": "árbol", "grass": "césped", "building": "gebäude", "pavement": "bürgersteig", "floor": "fußboden",
    "road": "straße", "light": "lumière", "fence": "clôture", "bowl": "schüssel", "window": "fenêtre",
    "handbag": "sac à main", "door": "tür", "truck": "camión", "backpack": "sac à dos", "bicycle": "vélo",
    "cell phone": "téléphone", "tv": "télé", "couch": "sofá", "refrigerator": "kühlschrank",
}
UMLAUT_SPELLINGS = ({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}, {"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})


# ---------------------------------------------------------------- cached embeddings

def coco_base(work_dir: Path, train_flags: str) -> tuple[list[list[str]], np.ndarray]:
    """coco128's clean tags per image and their embeddings (prepare/train/embed run once, cached)."""
    return embedded_base(work_dir / "coco_base", COCO, train_flags)


def scenes_base(work_dir: Path, train_flags: str) -> tuple[list[list[str]], np.ndarray]:
    """The look-alike scenes' concepts per image and their embeddings (made, then embedded once, cached)."""
    from lookalike_scenes import make_scenes

    source = work_dir / "scenes_data" / "tags.csv"
    if not source.exists():
        print("scenes base: making 3,000 images ...", flush=True)
        make_scenes(source.parent, 3000, 96)
    return embedded_base(work_dir / "scenes_base", source, train_flags)


def embedded_base(run_dir: Path, source: Path, train_flags: str) -> tuple[list[list[str]], np.ndarray]:
    work_dir = run_dir.parent
    if not (run_dir / "embeddings.npy").exists():
        steps = [("prepare.py", ["--data.source", str(source), "--data.min_tag_occurrences", "1"]),
                 ("train.py", train_flags.split()),
                 ("embed.py", ["--embed.precision", "float32"])]  # the same rows on every CPU
        for script, flags in steps:
            print(f"{run_dir.name}: {script} ...", flush=True)
            result = subprocess.run([sys.executable, str(REPO / script), "--paths.run_dir", str(run_dir), *flags],
                                    capture_output=True, text=True, cwd=work_dir)
            if result.returncode:
                sys.exit(f"{script} failed:\n{result.stderr[-2000:]}")
    manifest = runfolder.read_manifest(run_dir)
    return manifest.tags, np.asarray(runfolder.read_embeddings(run_dir, manifest), np.float32)


# ---------------------------------------------------------------- the sets

def plan_of_kinds(counts: Counter, kinds: tuple, concepts: int, min_count: int, rng: random.Random) -> dict:
    import variant_discovery

    saved = variant_discovery.INJECTED_KINDS
    variant_discovery.INJECTED_KINDS = kinds
    try:
        return plan_variants(counts, concepts, min_count, rng)
    finally:
        variant_discovery.INJECTED_KINDS = saved


def first_principal_direction(points: np.ndarray) -> np.ndarray:
    """The centered points' first principal direction, its largest component positive: the same end on every LAPACK
    build (an SVD's sign is the library's choice)."""
    direction = np.linalg.svd(points, full_matrices=False)[2][0]
    return direction * np.sign(direction[np.argmax(np.abs(direction))])


def correlated_injection(tags, embeddings, plan, min_count, rng):
    """Each concept's images split along their first principal component; its variants are used three
    times as often on one half as on the other (the half alternates between variants)."""
    rows = [list(t) for t in tags]
    for concept, spellings in plan.items():
        names = [s for s, _ in spellings]
        carriers = [i for i, t in enumerate(rows) if concept in t]
        points = embeddings[carriers] - embeddings[carriers].mean(axis=0)
        # Its sign fixed: which half each variant favours is not left to LAPACK (an image near the median may still
        # fall on either side with another build's last bits).
        direction = first_principal_direction(points)
        upper = {carriers[i] for i in np.flatnonzero(points @ direction > np.median(points @ direction))}
        order = list(carriers)
        rng.shuffle(order)
        for index, image in enumerate(order):
            if index < min_count * len(names):
                chosen = names[index % len(names)]
            else:
                weights = [2.0] + [3.0 if (image in upper) == (k % 2 == 1) else 1.0 for k in range(1, len(names))]
                chosen = rng.choices(names, weights)[0]
            rows[image][rows[image].index(concept)] = chosen
    return rows


def lookalike_pairs(tags, embeddings, min_count: int, sharing: bool = False):
    """Distinct class pairs, most look-alike first: closest centered mean embeddings, few shared images
    (pairs that travel together are company, not look-alikes); each class in one pair at most. sharing: instead,
    pairs shown together, each on MIN_IMAGES images or more with the other and without it."""
    counts = Counter(t for row in tags for t in set(row))
    vocabulary = sorted(t for t, c in counts.items() if c >= 2 * min_count)
    matrix = Manifest([], [], tags, []).tag_image_matrix(vocabulary)
    vectors = tag_mean_embeddings(matrix, embeddings, center=True)
    similarity = vectors @ vectors.T
    binary = (matrix > 0).astype(np.float32)
    shared = (binary @ binary.T).toarray()
    used = set()
    for flat in np.argsort(-similarity, axis=None):
        a, b = divmod(int(flat), len(vocabulary))
        if a >= b or a in used or b in used:
            continue
        together, fewer = shared[a, b], min(counts[vocabulary[a]], counts[vocabulary[b]])
        shown_together = together >= MIN_IMAGES and fewer - together >= MIN_IMAGES
        if (not shown_together) if sharing else together > 0.2 * fewer:
            continue
        used |= {a, b}
        yield vocabulary[a], vocabulary[b]


def renamed_lookalikes(tags, embeddings, count: int, min_count: int, near_name, sharing: bool = False) -> dict:
    """The `count` most look-alike distinct class pairs (sharing: among those shown together) for which
    near_name(the more used name, how many renames so far) gives a name no class has: the rarer class is renamed
    to it."""
    counts = Counter(t for row in tags for t in set(row))
    renames = {}
    for first, second in lookalike_pairs(tags, embeddings, min_count, sharing):
        keep, rename = sorted((first, second), key=lambda t: -counts[t])
        near = near_name(keep, len(renames))
        if near is None or normalize(near) in counts:
            continue
        renames[rename] = near
        if len(renames) == count:
            break
    return renames


def nearspell_name(keep: str, renamed: int) -> str:
    """One inner letter changed, or (every second pair) the plural (`leg up` / `legs up`)."""
    inner = len(keep) // 2
    replacement = next(c for c in "bcdfghklmnprstvw" if c != keep[inner])
    return keep + "s" if renamed % 2 else keep[:inner] + replacement + keep[inner + 1:]


def nearslip_name(keep: str, renamed: int) -> str | None:
    """For a name of 5 letters or more: two inner letters swapped (middle first), a spelling under the slip
    cut-off in every language (`chair` / `chiar`); None otherwise."""
    from tagger.variants.words import SLIP_ZIPF, listed_zipf, tag_words

    if tag_words(keep) is None or len(keep.replace(" ", "")) < 5:
        return None
    middle = len(keep) // 2
    for place in sorted(range(1, len(keep) - 2), key=lambda i: (abs(i - middle), i)):
        near = keep[:place] + keep[place + 1] + keep[place] + keep[place + 2:]
        words = tag_words(near)
        if near != keep and " " not in keep[place:place + 2] and words is not None and \
                min(listed_zipf(words).values()) < SLIP_ZIPF:
            return near
    return None


NEAR_NAMES = {"nearspell": nearspell_name, "nearslip": nearslip_name}  # set -> how it renames a look-alike


def typed_without_marks(word: str, rng: random.Random) -> str:
    """The word as typed on a keyboard without its accents; an umlaut as ue or as u (one of the two at random)."""
    import unicodedata

    word = "".join(rng.choice(UMLAUT_SPELLINGS).get(c, c) for c in word)
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def accents_plan(counts: Counter, min_count: int, rng: random.Random) -> dict:
    """Each translatable concept with images for two spellings: its translation typed with and without marks,
    beside its own spelling where it has images for three."""
    plan = {}
    for concept, translation in sorted(ACCENTED_TRANSLATIONS.items()):
        if counts[concept] >= 2 * min_count:
            own = [(concept, "original")] if counts[concept] >= 3 * min_count else []
            plan[concept] = own + [(translation, "translation"), (typed_without_marks(translation, rng), "accent")]
    return plan


def midscale_features(names: list[str], rng: random.Random, layout: str = "plain", concepts: int = 30,
                      lookalikes: int = 4, dimensions: int = 64, main: int = SeparabilityProbe().dimensions,
                      sizes: tuple[int, int] = (40, 160)) -> tuple[list[list[str]], np.ndarray, list]:
    """(rows of tags, features, the look-alike pairs of names). Features, not images: `concepts` of coco128's class
    names as Gaussian clusters, `sizes` images each (log-uniform, 40-160 by default), one tag an image. The first `lookalikes` pairs are
    distinct look-alikes: the second centre 0.3-0.6 of the typical distance between two concepts (in the directions it
    differs in) from the first, in a random direction. At these sizes a tag stands out from the rest at a few spreads. Layouts:
    plain: centres N(0, 1) in each of `dimensions`, images the centre plus N(0, 2^2);
    off_axis: the centres differ only in the first `main` dimensions (as many as the probe's discriminant reads: the
    collection's main directions), scaled so the typical distance stays, and each look-alike only in the others,
    where the images vary least;
    low_variance: the concepts differ most (and the images vary most: 6 for 6) in the first 8 dimensions, a little in
    the rest of the first `main` (1 for 1), not at all in the others (images 0.5); each look-alike differs only in
    those `main` - 8, where the gap's plain distance hardly weighs a difference that the whitened discriminant weighs
    fully."""
    random_numbers = np.random.default_rng(rng.randrange(2 ** 32))
    chosen = rng.sample(names, concepts)
    if layout == "plain":
        centre_spread, noise, differs = np.ones(dimensions), 2.0, np.arange(dimensions)
    elif layout == "off_axis":
        centre_spread = np.r_[np.full(main, np.sqrt(dimensions / main)), np.zeros(dimensions - main)]
        noise, differs = 2.0, np.arange(main, dimensions)
    elif layout == "low_variance":
        centre_spread = np.r_[np.full(8, 6.0), np.ones(main - 8), np.zeros(dimensions - main)]
        noise, differs = np.r_[np.full(8, 6.0), np.ones(main - 8), np.full(dimensions - main, 0.5)], np.arange(8, main)
    else:
        raise ValueError(layout)
    varied = int(np.count_nonzero(centre_spread))  # the first `varied` dimensions
    centres = np.zeros((concepts, dimensions))
    centres[:, :varied] = random_numbers.standard_normal((concepts, varied)) * centre_spread[:varied]
    typical = np.sqrt(2 * np.sum(np.square(centre_spread[differs]))) if layout == "low_variance" \
        else np.sqrt(2 * dimensions)
    for pair in range(lookalikes):
        direction = random_numbers.standard_normal(dimensions)
        direction[np.setdiff1d(np.arange(dimensions), differs)] = 0
        centres[2 * pair + 1] = centres[2 * pair] + \
            random_numbers.uniform(0.3, 0.6) * typical * direction / np.linalg.norm(direction)
    rows, features = [], []
    for concept, centre in zip(chosen, centres):
        size = int(np.exp(random_numbers.uniform(np.log(sizes[0]), np.log(sizes[1]))))
        features.append(centre + noise * random_numbers.standard_normal((size, dimensions)))
        rows += [[concept] for _ in range(size)]
    order = random_numbers.permutation(len(rows))
    pairs = [(chosen[2 * pair], chosen[2 * pair + 1]) for pair in range(lookalikes)]
    return [rows[i] for i in order], np.concatenate(features)[order].astype(np.float32), pairs


def several_per_image(rows, features, lookalikes, rng: random.Random, together: float = 0.4, companions=(0, 1, 2)):
    """midscale's images made scenes of several concepts (as photos of people wearing several garments): each image
    gets 0, 1 or 2 other images' concepts (their features added, their tags joined), and an image of a look-alike's
    first concept also shows its partner with chance `together` (a coat worn over a shirt)."""
    random_numbers = np.random.default_rng(rng.randrange(2 ** 32))
    concept = [row[0] for row in rows]
    images_of: dict[str, list[int]] = {}
    for index, name in enumerate(concept):
        images_of.setdefault(name, []).append(index)
    partner = {first: second for first, second in lookalikes} | {second: first for first, second in lookalikes}
    scenes, scene_features = [], []
    for index, name in enumerate(concept):
        tags, feature = {name}, features[index].astype(np.float64)
        for _ in range(int(random_numbers.choice(companions))):
            other = int(random_numbers.integers(len(concept)))
            if concept[other] not in tags:
                tags.add(concept[other])
                feature = feature + features[other]
        if name in partner and partner[name] not in tags and random_numbers.random() < together:
            tags.add(partner[name])
            feature = feature + features[int(random_numbers.choice(images_of[partner[name]]))]
        scenes.append(sorted(tags))
        scene_features.append(feature)
    return scenes, np.array(scene_features, np.float32)


def reposted(rows, embeddings, rng: np.random.Generator, share: float = 0.25, noise: float = 0.2):
    """(rows, embeddings, photo hashes): a share of the photos reposted 1-3 times, each copy with the photo's tags and
    its embedding plus noise (noise x each dimension's spread: centered cosine about 0.98 to the photo, as coco128's
    photos re-saved as JPEG at quality 50 are through MobileNetV2); the copies follow their photo. Each photo gets a
    random photo hash, and a copy the photo's with up to 2 of its 64 bits flipped (re-saved, 99% of coco128's photos
    keep theirs within 3: tagger.images.COPY_BITS)."""
    copies = np.where(rng.random(len(rows)) < share, rng.integers(1, 4, len(rows)), 0)
    index = np.repeat(np.arange(len(rows)), 1 + copies)
    copy = np.r_[False, index[1:] == index[:-1]]
    jitter = noise * embeddings.std(axis=0, keepdims=True) * rng.standard_normal((len(index), embeddings.shape[1]))
    bits = rng.integers(0, 2, (len(rows), 64), dtype=np.uint8)[index]
    for row in np.flatnonzero(copy):
        bits[row, rng.choice(64, rng.integers(0, 3), replace=False)] ^= 1
    photos = [np.packbits(row).tobytes().hex() for row in bits]
    return [list(rows[i]) for i in index], (embeddings[index] + copy[:, None] * jitter).astype(np.float32), photos


def variants_beside(rows, protected: set, concepts: int, min_count: int, rng: random.Random, typed_twice: float = 0.05,
                    habit_features: np.ndarray | None = None, own_share: float = 0.5):
    """(rows with variants injected, plan) for `concepts` of the rows' tags, none of the protected ones (the renamed
    look-alikes and their partners: a variant of either would blur which pair is distinct); typed_twice: the share of
    images given two spellings. With habit_features, each image keeps one spelling, chosen by the kind of image as
    correlated_injection chooses it (along the concept's first principal component of these features)."""
    counts = Counter(t for row in rows for t in set(row))
    plan = plan_variants(Counter({t: c for t, c in counts.items() if t not in protected}), concepts, min_count, rng)
    if habit_features is not None:
        return correlated_injection(rows, habit_features, plan, min_count, rng), plan
    return [r for _, r in inject_variants(list(enumerate(rows)), plan, min_count, typed_twice, rng, own_share)], plan


def typed_in_german(rows, min_count: int, rng: random.Random, share: float = 0.4):
    """(rows, plan): `share` of the images tagged by people who write in German, every tag that has a German name
    (TRANSLATIONS) written so on them, the rest as they were. A translation then keeps the company of its language
    (`katze` beside `hund` and `baum`, `cat` beside `dog` and `tree`), and every German tag never meets the English
    names of the other concepts it is shown with: the look-alikes' English and German names (`jacket` / `mantel`)
    never meet either. The plan: each concept with both names on min_count images."""
    german = [rng.random() < share for _ in rows]
    rows = [[TRANSLATIONS.get(tag, tag) for tag in row] if typed else list(row) for row, typed in zip(rows, german)]
    counts = Counter(tag for row in rows for tag in set(row))
    plan = {concept: [(concept, "original"), (TRANSLATIONS[concept], "translation")] for concept in sorted(counts)
            if concept in TRANSLATIONS and min(counts[concept], counts[TRANSLATIONS[concept]]) >= min_count}
    return rows, plan


def plan_many_spellings(counts: Counter, concepts: int, min_count: int, rng: random.Random, extra: int = 3) -> dict:
    """concept -> [(spelling, kind), ...] as plan_variants makes it, but each concept with `extra` variants of different
    kinds where it has images for them all (min_count each): a concept under four spellings, as issue 11's garment set
    has 27 variants of 9 concepts."""
    taken = {normalize(tag) for tag in counts}
    eligible = sorted(tag for tag, count in counts.items() if count >= (extra + 1) * min_count)
    rng.shuffle(eligible)
    plan = {}
    for concept in eligible[:concepts]:
        kinds = [k for k in INJECTED_KINDS if k != "case_separator"]
        rng.shuffle(kinds)
        spellings = [(concept, "original")]
        for kind in kinds:
            if len(spellings) > extra:
                break
            if usable(spelling := MAKERS[kind](concept, rng), kind, concept, taken):
                spellings.append((spelling, kind))
                taken.add(normalize(spelling))
        if len(spellings) > 2:
            plan[concept] = spellings
    return plan


def typed_twice_on_one_kind(rows, features, plan: dict, rng: random.Random, share: float = 0.3):
    """Each planted concept's images furthest along their first principal component (`share` of them) given a second
    of its spellings (one the image does not carry yet): two people tag one kind of image, as a second annotator
    who works only on some images. Images carrying two spellings then differ from those carrying one by that kind,
    on both sides, as two concepts shown together do."""
    rows = [list(row) for row in rows]
    for spellings in plan.values():
        names = [spelling for spelling, _ in spellings]
        carriers = [index for index, row in enumerate(rows) if any(name in row for name in names)]
        points = features[carriers].astype(np.float64) - features[carriers].astype(np.float64).mean(axis=0)
        direction = first_principal_direction(points)
        order = np.argsort(-(points @ direction), kind="stable")
        for position in order[:int(share * len(carriers))]:
            row = rows[carriers[position]]
            missing = [name for name in names if name not in row]
            if len(missing) == len(names) - 1:  # one spelling so far
                row.append(rng.choice(missing))
    return rows


def attribute_of_one_concept(rows, plan: dict, rng: random.Random, share: float = 0.4):
    """Each planted concept given an attribute tag (ATTRIBUTES) on `share` of its images at random, beside whichever
    of its spellings they carry: a tag that never names an image by itself, whose images are the concept's and look
    like the rest of them (`vintage` on some of the door images, typed `door`, `tuer` or both). Not a variant: two
    people typing a second name beside the first, on half a concept's images, leave the same traces (midscale_shared),
    except that a second name also names images by itself."""
    rows = [list(row) for row in rows]
    for attribute, spellings in zip(ATTRIBUTES, plan.values()):
        names = {spelling for spelling, _ in spellings}
        for row in rows:
            if names & set(row) and rng.random() < share:
                row.append(attribute)
    return rows


def broader_over_concepts(rows, plan: dict, rng: random.Random, groups: int = 4, size: int = 3, share: float = 0.9):
    """`groups` broader tags (BROADER's names), each over `size` of the concepts chosen at random, on `share` of the
    images of any of them at random (not everyone types it), whichever spelling they carry (`furniture` on most chair,
    chiar, couch and bed images): a tag typed beside the names of several concepts, that names no image by a look of
    its own. The images carrying it and a concept's name add nothing to that concept's other images, as a second
    name's would; they add the concept's look to the broader tag's other images."""
    spellings = {concept: {concept} | {spelling for spelling, _ in planted} for concept, planted in plan.items()}
    concepts = sorted({tag for row in rows for tag in row} - {s for names in spellings.values() for s in names}
                      | set(spellings))
    rng.shuffle(concepts)
    rows = [list(row) for row in rows]
    for broad, start in zip(BROADER, range(0, groups * size, size)):
        names = set().union(*(spellings.get(concept, {concept}) for concept in concepts[start:start + size]))
        for row in rows:
            if names & set(row) and rng.random() < share:
                row.append(broad)
    return rows


def make_set(name: str, seed: int, tags, embeddings, min_count: int):
    """(rows of tags, embeddings, {concept: [spellings]}, photo hashes or None) for one set at one seed."""
    rng = random.Random(seed)
    counts = Counter(t for row in tags for t in set(row))
    concepts = 12
    photos = None  # every image a photo of its own but in reposts
    if name == "coco":
        plan = plan_variants(counts, concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.05, rng)]
    elif name == "shared":
        plan = plan_variants(counts, concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.5, rng)]
    elif name == "reposts":
        plan = plan_variants(counts, concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.05, rng)]
        rows, embeddings, photos = reposted(rows, embeddings, np.random.default_rng(seed))
    elif name == "translations":
        plan = plan_of_kinds(counts, ("translation", "synonym"), concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.0, rng)]
    elif name == "lookalike":
        # Translations and synonyms of classes that have a distinct look-alike class: a merge of the
        # true pair must come from meaning alone, right beside a pair that looks as alike and is not one.
        import variant_discovery

        pairs = list(lookalike_pairs(tags, embeddings, min_count))[:12]
        translatable = {c for pair in pairs for c in pair
                        if c in variant_discovery.TRANSLATIONS or c in variant_discovery.SYNONYMS}
        plan = plan_of_kinds(Counter({c: n for c, n in counts.items() if c in translatable}),
                             ("translation", "synonym"), concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.0, rng)]
    elif name == "correlated":
        plan = plan_variants(counts, concepts, min_count, rng)
        rows = correlated_injection(tags, embeddings, plan, min_count, rng)
    elif name == "broader":
        plan = plan_variants(counts, concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.05, rng)]
        originals = [set(t) for t in tags]
        rows = [r + [broad for broad, narrow in BROADER.items() if narrow & original]
                for r, original in zip(rows, originals)]
    elif name == "weak":
        plan = plan_of_kinds(counts, ("misspelling", "leetspeak", "plural"), concepts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.0, rng)]
        embeddings = np.random.default_rng(seed).standard_normal(embeddings.shape).astype(np.float32)
    elif name == "midscale_languages":
        rows, embeddings, lookalikes = midscale_features(sorted(counts), rng, "plain")
        rows, embeddings = several_per_image(rows, embeddings, lookalikes, rng)
        rows, plan = typed_in_german(rows, min_count, rng)
    elif name in MIDSCALE_SETS:
        layout, several, plurals, typed_twice = MIDSCALE_SETS[name]
        rare = typed_twice == "rare"
        rows, embeddings, lookalikes = midscale_features(sorted(counts), rng, layout,
                                                         sizes=RARE_SIZES if rare else (40, 160))
        if several:
            rows, embeddings = several_per_image(rows, embeddings, lookalikes, rng)
        protected = set()
        if plurals:  # `coat` / `coats`: the spelling says one concept, only the images say two
            renames = {second: first[:-1] if first.endswith("s") else first + "s" for first, second in lookalikes}
            rows = [[renames.get(t, t) for t in row] for row in rows]
            protected = set(renames.values()) | {first for first, _ in lookalikes}
        if typed_twice == "many":
            plan = plan_many_spellings(Counter(t for row in rows for t in set(row)), concepts, min_count, rng)
            rows = [r for _, r in inject_variants(list(enumerate(rows)), plan, min_count, 0.05, rng)]
        else:
            rows, plan = variants_beside(rows, protected, concepts, min_count, rng,
                                         0.5 if typed_twice == "half" else 0.05,
                                         embeddings if typed_twice == "habit" else None, RARE_SHARE if rare else 0.5)
        if typed_twice == "kind":
            rows = typed_twice_on_one_kind(rows, embeddings, plan, rng)
        if name == "midscale_attribute":
            rows = attribute_of_one_concept(rows, plan, rng)
        if name == "midscale_broader":
            rows = broader_over_concepts(rows, plan, rng)
    elif name == "accents":
        plan = accents_plan(counts, min_count, rng)
        rows = [r for _, r in inject_variants(list(enumerate(tags)), plan, min_count, 0.0, rng)]
    elif name in ("nearspell", "danbooru", "nearslip", "together_nearspell"):
        if name == "together_nearspell":  # the partner's plural, as midscale_several_nearspell on real photos
            renames = renamed_lookalikes(tags, embeddings, 4, min_count, lambda keep, _: keep + "s", sharing=True)
        elif name in NEAR_NAMES:
            renames = renamed_lookalikes(tags, embeddings, 4, min_count, NEAR_NAMES[name])
        else:
            renames = {old: new for pair, names in zip(lookalike_pairs(tags, embeddings, min_count), DANBOORU_NEAR_PAIRS)
                       for old, new in zip(pair, names)}
        renamed = [[renames.get(t, t) for t in row] for row in tags]
        protected = set(renames.values()) | {k for row in renamed for k in row
                                             if any(normalize(k) == normalize(v) for v in renames)}
        rows, plan = variants_beside(renamed, protected, 8, min_count, rng)
    else:
        raise ValueError(name)
    return rows, embeddings, plan, photos


# ---------------------------------------------------------------- running and scoring

def logistic_head(matrix, embeddings) -> np.ndarray:
    """A stand-in for train.py's stage-1 head (which trains like logistic regression on unit-scaled
    features): one scikit-learn logistic regression per tag; its kernel, embeddings x tags."""
    from sklearn.linear_model import LogisticRegression

    features = embeddings / np.linalg.norm(embeddings, axis=1).mean()
    labels = (matrix > 0).toarray()
    return np.stack([LogisticRegression(C=1.0, solver="liblinear").fit(features, row).coef_[0] for row in labels], axis=1)


def discover(rows, embeddings, min_count: int, head_kernel=None, photos=None):
    """The variant step on these tags: vocabulary as prepare.py keeps it, then both methods (the
    combined one with a head view, as cluster_tags.py with train.py's head.npz). Returns the vocabulary in the step's
    order (the evidence's tag indices), the two fitted methods and the combined one's seconds."""
    rows = [[normalize(t) for t in row] for row in rows]
    rows = [list(dict.fromkeys(row)) for row in rows]
    counts = Counter(t for row in rows for t in row)
    vocabulary = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    matrix = Manifest([], [], rows, []).tag_image_matrix(vocabulary)
    vectors = tag_mean_embeddings(matrix, embeddings, center=True)
    if head_kernel is None:
        head_kernel = logistic_head(matrix, embeddings)
    views = vectors if head_kernel is None else [vectors, tag_mean_embeddings(matrix, embeddings, True, head_kernel)]
    tag_counts = [counts[t] for t in vocabulary]
    start = time.perf_counter()
    combined = CombinedVariants().fit(views, vocabulary, tag_counts, matrix, image_embeddings=embeddings,
                                      image_photos=photos)
    seconds = time.perf_counter() - start
    dbscan = DBSCANVariants().fit(vectors, vocabulary, tag_counts)
    return vocabulary, combined, dbscan, seconds


def as_groups(groups) -> list[dict]:
    return [{"members": [{"tag": t} for t in group.members]} for group in groups]


def proposed_confidences(groups) -> dict:
    """pair -> calibrated confidence (tagger.variants.calibration): a pair inside a group gets the lower of its
    two members' confidences."""
    confidences = {}
    for group in groups:
        for i, first in enumerate(group.members):
            for j in range(i + 1, len(group.members)):
                values = [group.confidences[k] for k in (i, j) if k > 0]
                confidences[frozenset((first, group.members[j]))] = min(values)
    return confidences


def calibration(confidences: dict, truth: dict) -> dict:
    bins = {}
    for low, high in zip(CONFIDENCE_BINS, CONFIDENCE_BINS[1:]):
        inside = [pair for pair, c in confidences.items() if low <= c < high]
        bins[f"{low:.1f}-{min(high, 1):.1f}"] = (sum(p in truth for p in inside), len(inside))
    high = [p for p, c in confidences.items() if c >= 0.9]
    return {"bins": bins, "true_share_at_0.9": sum(p in truth for p in high) / len(high) if high else None,
            "pairs_at_0.9": len(high)}


def evaluate(label: str, rows, embeddings, plan, min_count: int, head_kernel=None, photos=None) -> dict:
    truth_spellings = {c: [{"spelling": s, "kind": k} for s, k in spellings] for c, spellings in plan.items()}
    vocabulary, combined, dbscan, seconds = discover(rows, embeddings, min_count, head_kernel, photos)
    pairs, _ = true_pairs(truth_spellings, set(vocabulary))
    result = {"set": label, "true_pairs": len(pairs), "seconds": round(seconds, 1),
              "combined": score(as_groups(combined.groups_), pairs), "dbscan": score(as_groups(dbscan.groups_), pairs),
              "calibration": calibration(proposed_confidences(combined.groups_), pairs),
              "flagged_spelling_only": sum("spelling only" in f for g in combined.groups_ for f in g.flags[1:]),
              "near_misses": len(combined.near_misses_),
              "canonicals": canonical_kinds(combined.groups_, plan),
              "pairs": scored_pairs(combined, pairs)}
    return result


def canonical_kinds(groups, plan: dict) -> dict[str, int]:
    """How many of the combined method's groups each kind of spelling names (its canonical): the concept's own
    ("original"), an injected one (misspelling, leetspeak, plural, translation, ...), or a tag no plan made ("not
    planted"). Accepting a group renames its other tags to the canonical: one named by a misspelling would spread it."""
    kind_of: dict[str, str] = {}
    for spellings in plan.values():
        for spelling, kind in spellings:
            kind_of.setdefault(normalize(spelling), kind)
    return dict(sorted(Counter(kind_of.get(group.canonical, "not planted") for group in groups).items()))


def scored_pairs(combined, truth: dict) -> list[dict]:
    """Every pair cluster_tags.py would show (each group member against its canonical, and the near misses):
    its score, its flag, its spelling link in words and whether it is a true pair; what the confidence calibration is
    fitted on."""
    # Scores to 6 decimals, as cluster_tags.py writes them: another BLAS kernel moves them by 1e-15 (the probe's
    # whitening), so the suite's JSON is the same file on every machine.
    shown = [{"pair": [group.canonical, member], "score": round(float(group.scores[i]), 6), "flag": group.flags[i],
              "spelled": group.spelling_links()[i], "proposed": True,
              "true": frozenset((group.canonical, member)) in truth}
             for group in combined.groups_ for i, member in enumerate(group.members) if i > 0]
    shown += [{"pair": [m["canonical"], m["variant"]], "score": round(float(m["score"]), 6), "flag": m["flag"],
               "spelled": m["spelled"], "proposed": False, "true": frozenset((m["canonical"], m["variant"])) in truth}
              for m in combined.near_misses_]
    return shown


def demo_set(run_dir: Path, min_count: int):
    manifest = runfolder.read_manifest(run_dir)
    embeddings = np.asarray(runfolder.read_embeddings(run_dir, manifest), np.float32)
    planted = json.loads((Path(manifest.paths[0]).parent.parent / "planted_variants.json").read_text())
    plan = {c: [(s, "original" if i == 0 else "planted") for i, s in enumerate(ss)] for c, ss in planted.items()}
    vocabulary, _ = runfolder.read_vocabulary_counts(run_dir)
    kernel = runfolder.read_head_kernel(run_dir)
    kernel = kernel if kernel is not None and kernel.shape == (embeddings.shape[1], len(vocabulary)) else None
    return manifest.tags, embeddings, plan, kernel, manifest.photos


def cell(value) -> str:
    return "–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(results: list[dict]) -> None:
    print("\n| set | true pairs | combined P | R | F1 | dbscan P | R | F1 | true share at conf ≥ 0.9 (pairs) "
          "| calibration bins true/proposed (0-0.5, 0.5-0.7, 0.7-0.9, 0.9-1) | spelling-only flagged | near misses |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c, d, cal = r["combined"], r["dbscan"], r["calibration"]
        bins = ", ".join(f"{t}/{n}" for t, n in cal["bins"].values())
        print(f"| {r['set']} | {r['true_pairs']} | {cell(c['precision'])} | {cell(c['recall'])} | {cell(c['f1'])} "
              f"| {cell(d['precision'])} | {cell(d['recall'])} | {cell(d['f1'])} "
              f"| {cell(cal['true_share_at_0.9'])} ({cal['pairs_at_0.9']}) | {bins} | {r['flagged_spelling_only']} "
              f"| {r['near_misses']} |")
    named = Counter()
    for r in results:
        named.update(r.get("canonicals", {}))
    print("\ncombined groups named by (their canonical's kind): "
          + ", ".join(f"{kind} {count}" for kind, count in sorted(named.items(), key=lambda item: -item[1])))
    proposed = [pair for r in results for pair in r["combined"]["wrong_merges"]]
    print(f"\ncombined wrong merges: {len(proposed)}")
    for r in results:
        if r["combined"]["wrong_merges"] or r["combined"]["missed"]:
            print(f"  {r['set']}: wrong {[' / '.join(p) for p in r['combined']['wrong_merges']]}; "
                  f"missed {[' / '.join(p[:2]) for p in r['combined']['missed']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/variant_suite"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default=",".join(ALL_SETS))
    parser.add_argument("--min-count", type=int, default=8, help="images each spelling keeps (prepare's threshold)")
    parser.add_argument("--demo-runs", default="", help="comma-separated run folders made by data/run_demo.sh")
    parser.add_argument("--train-flags", default=DEFAULT_TRAIN_FLAGS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--calibrate", action="store_true",
                        help="fit tagger/variants/calibration.py's table on every pair shown, print it, and report "
                             "the calibration on held-out seeds (fitted on the other seeds)")
    parser.add_argument("--from-results", type=Path, help="with --calibrate: the pairs of an earlier run's JSON")
    arguments = parser.parse_args()
    if arguments.calibrate and arguments.from_results:
        calibrate(json.loads(arguments.from_results.read_text())["results"])
        return
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in arguments.seeds.split(",") if s]
    sets = arguments.sets.split(",")
    results, start = [], time.perf_counter()
    coco_sets = [s for s in sets if s not in ("demo", *SCENES_SETS)]
    if coco_sets:
        tags, embeddings = coco_base(arguments.work_dir, arguments.train_flags)
        for name in coco_sets:
            for seed in seeds:
                rows, set_embeddings, plan, photos = make_set(name, seed, tags, embeddings, arguments.min_count)
                results.append(evaluate(f"{name} s{seed}", rows, set_embeddings, plan, arguments.min_count,
                                        photos=photos))
                print(f"{results[-1]['set']}: combined F1 {cell(results[-1]['combined']['f1'])} "
                      f"({results[-1]['seconds']} s)", flush=True)
    if any(name in sets for name in SCENES_SETS):
        from lookalike_scenes import (
            spelled, spelled_near, spelled_near_with_signature, spelling_plan, typed_by_two_habits,
        )

        tags, embeddings = scenes_base(arguments.work_dir, SCENES_TRAIN_FLAGS)
        spellers = {"scenes": spelled, "scenes_nearspell": spelled_near, "scenes_signature": spelled_near_with_signature,
                    "scenes_fewer_tags": typed_by_two_habits,
                    "scenes_correlated": lambda rows, seed: correlated_injection(
                        rows, embeddings, spelling_plan(), arguments.min_count, random.Random(seed))}
        for name in (name for name in SCENES_SETS if name in sets):
            for seed in seeds:
                results.append(evaluate(f"{name} s{seed}", spellers[name](tags, seed), embeddings, spelling_plan(),
                                        arguments.min_count))
                print(f"{results[-1]['set']}: combined F1 {cell(results[-1]['combined']['f1'])} "
                      f"({results[-1]['seconds']} s)", flush=True)
    if "demo" in sets:
        for run in filter(None, arguments.demo_runs.split(",")):
            tags, embeddings, plan, kernel, photos = demo_set(Path(run), 10)
            results.append(evaluate(f"demo {Path(run).parent.name}", tags, embeddings, plan, 10, kernel, photos))
    print_table(results)
    m = machine()
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['platform']}; "
          f"total {time.perf_counter() - start:.0f} s")
    out = arguments.out or arguments.work_dir / "suite_results.json"
    out.write_text(json.dumps({"results": results, "machine": m}, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    if arguments.calibrate:
        calibrate(results)


# ---------------------------------------------------------------- confidence calibration

def pair_records(results: list[dict]) -> list[dict]:
    from tagger.variants.calibration import pair_kind

    return [{**pair, "fold": fold_of(r["set"]), "set": r["set"], "kind": pair_kind(pair["proposed"], pair["flag"])}
            for r in results for pair in r["pairs"]]


def fold_of(label: str) -> str:
    """Held-out folds: each coco seed (every set made at it), and the demo runs together."""
    return "demo" if label.startswith("demo") else label.rsplit(" ", 1)[1]


def print_spelling_links(records: list[dict]) -> None:
    """How often the pairs of each spelling link (review.csv's spelled column) are one tag: proposed and near misses,
    with the sets their false ones come from (a reviewer's prior for each word)."""
    print("\nby spelling link (spelled): true / proposed, true / near misses, the false ones' sets")
    for link in sorted({r.get("spelled") or "" for r in records}, key=lambda link: (link == "", link)):
        inside = [r for r in records if (r.get("spelled") or "") == link]
        cells = [f"{sum(r['true'] for r in inside if r['proposed'] == proposed)}/"
                 f"{sum(r['proposed'] == proposed for r in inside)}" for proposed in (True, False)]
        false_sets = Counter(r["set"].split(" ")[0] for r in inside if not r["true"])
        print(f"  {link or '(none)'}: {cells[0]} proposed, {cells[1]} near misses"
              + (f"; false: {', '.join(f'{name} {count}' for name, count in false_sets.most_common())}"
                 if false_sets else ""))


def calibrate(results: list[dict]) -> None:
    """Fits the confidence table on every pair shown, prints it, and checks it on held-out folds."""
    from tagger.variants.calibration import KINDS, confidence, fit_calibration

    records = pair_records(results)

    def fit(chosen):
        return fit_calibration([r["score"] for r in chosen], [r["true"] for r in chosen], [r["kind"] for r in chosen],
                               [r["set"].split(" ")[0] for r in chosen])

    print("\n## Confidence calibration\n")
    for kind in KINDS:
        inside = [r for r in records if r["kind"] == kind]
        by_set = Counter((r["set"].split(" ")[0], r["true"]) for r in inside)
        sets = sorted({name for name, _ in by_set})
        print(f"{kind}: {sum(r['true'] for r in inside)} true of {len(inside)} pairs ("
              + ", ".join(f"{name} {by_set[(name, True)]}/{by_set[(name, True)] + by_set[(name, False)]}"
                          for name in sets) + ")")
    print_spelling_links(records)
    print("\nheld out (fitted on the other folds): true / pairs by confidence")
    bins = (0.0, 0.5, 0.7, 0.9, 1.01)
    totals = Counter()
    for fold in sorted({r["fold"] for r in records}):
        table = fit([r for r in records if r["fold"] != fold])
        held = [(confidence(r["score"], r["kind"], table), r["true"], r["proposed"]) for r in records if r["fold"] == fold]
        cells = []
        for low, high in zip(bins, bins[1:]):
            inside = [t for c, t, _ in held if low <= c < high]
            totals[(low, "true")] += sum(inside)
            totals[(low, "all")] += len(inside)
            cells.append(f"{low:.1f}-{min(high, 1):.1f}: {sum(inside)}/{len(inside)}")
        print(f"  {fold}: " + ", ".join(cells))
    print("  all folds: " + ", ".join(f"{low:.1f}-{min(high, 1):.1f}: {totals[(low, 'true')]}/{totals[(low, 'all')]}"
                                      for low, high in zip(bins, bins[1:])))
    table = fit(records)
    print("\nCALIBRATION (paste into tagger/variants/calibration.py), fitted on every fold:")
    print("CALIBRATION: dict[str, tuple[tuple[float, float], ...]] = {")
    from tagger.variants import calibration

    # Each kind by its constant's name in calibration.py, as the table is written there.
    names = {value: name for name, value in vars(calibration).items()
             if name.isupper() and isinstance(value, str) and value in calibration.KINDS}
    for kind, blocks in table.items():
        print(f"    {names[kind]}: {blocks!r},")
    print("}")


if __name__ == "__main__":
    main()
