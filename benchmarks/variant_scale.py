#!/usr/bin/env python3
"""Scale of the combined variant method: 50,000 tags x 1,280 dimensions, co-occurrence from
1,000,000 images of 10 tags each (synthetic, Zipf-distributed tag use as in real collections).

Prints the time of each part, the total, and the process's peak memory; target: < 2 min, < 4 GB.
With the separability probe on (the default, as cluster_tags.py), per-image embeddings (each image
the sum of its tags' vectors plus noise) are written to a memory-mapped .npy first, as embed.py's
embeddings.npy is read; the probe only touches the images it samples.

    python benchmarks/variant_scale.py [--tags 50000] [--images 1000000] [--dims 1280] [--no-probe]
        [--compare-logistic]

--compare-logistic also runs the probe as it was before (cross-validated liblinear logistic
regression, each tag's reference drawn from a set difference over all images) on the same data
in the same process, and prints the ratio.
"""

import argparse
import atexit
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import sparse

# This checkout's tagger, whichever one the environment installed (an editable install of another clone measured
# that clone's code).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tagger.variants.grouping import CombinedVariants  # noqa: E402
from tagger.variants.separability import MIN_IMAGES, SeparabilityProbe  # noqa: E402


class LogisticProbe(SeparabilityProbe):
    """The probe before it became a discriminant in numpy: liblinear per fold, references by set difference."""

    def auc(self, first_images, second_images) -> float:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold

        features = np.concatenate([self.features(first_images), self.features(second_images)])
        labels = np.r_[np.zeros(len(first_images)), np.ones(len(second_images))]
        decision = np.empty(len(labels))
        splitter = StratifiedKFold(min(self.folds, len(first_images), len(second_images)), shuffle=True,
                                   random_state=self.seed)
        for train, test in splitter.split(features, labels):
            model = LogisticRegression(C=1.0, solver="liblinear", random_state=self.seed)
            decision[test] = model.fit(features[train], labels[train]).decision_function(features[test])
        return round(float(roc_auc_score(labels, decision)), 4)

    def tag_reference(self, tag: int) -> float:
        cache = self.__dict__.setdefault("references_", {})
        if tag not in cache:
            images = self.images_of(tag)
            others = np.setdiff1d(np.arange(self.tag_images_.shape[1]), images)
            cache[tag] = (self.auc(self.sample(images, (3, tag)), self.sample(others, (4, tag)))
                          if min(len(images), len(others)) >= MIN_IMAGES else np.nan)
        return cache[tag]


class AnonymousMemoryPeak:
    """Peak of the process's anonymous memory (RssAnon), sampled every 50 ms in a thread.

    ru_maxrss also counts the pages of the memory-mapped embeddings.npy the probe has read (and the
    kernel maps up to 64 KB around each row read): page cache the kernel drops when memory is short,
    not memory the step holds. Both are printed."""

    def __enter__(self):
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.05):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def synthetic_tag_images(tags: int, images: int, per_image: int, random) -> sparse.csr_matrix:
    # Zipf-like popularity: a few tags on many images, most on a few hundred or fewer.
    popularity = 1.0 / np.arange(1, tags + 1) ** 0.8
    popularity /= popularity.sum()
    columns = random.choice(tags, size=(images, per_image), p=popularity)
    rows = np.repeat(np.arange(images), per_image)
    matrix = sparse.csr_matrix((np.ones(rows.size, np.float32), (columns.ravel(), rows)), shape=(tags, images))
    matrix.data[:] = 1.0  # an image listing a tag twice still carries it once
    return matrix


def synthetic_embeddings(tag_images: sparse.csr_matrix, vectors: np.ndarray, folder: Path, random) -> np.ndarray:
    """Per-image embeddings (sum of the image's tag vectors + noise) in a memory-mapped .npy, in chunks."""
    image_tags = tag_images.T.tocsr()
    path = folder / "embeddings.npy"
    embeddings = np.lib.format.open_memmap(path, "w+", np.float32, (image_tags.shape[0], vectors.shape[1]))
    for start in range(0, image_tags.shape[0], 50_000):
        block = image_tags[start:start + 50_000] @ vectors
        embeddings[start:start + len(block)] = block + 0.5 * random.standard_normal(block.shape, dtype=np.float32)
    embeddings.flush()
    del embeddings
    return np.load(path, mmap_mode="r")


def synthetic_vocabulary(count: int, random) -> list[str]:
    """Distinct made-up words of 4-12 letters, one or two per tag, like real tag vocabularies."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: set[str] = set()
    while len(words) < count:
        parts = ["".join(random.choice(letters, size=random.integers(4, 13))) for _ in range(random.integers(1, 3))]
        words.add(" ".join(parts))
    return sorted(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=50_000)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--dims", type=int, default=1280)
    parser.add_argument("--no-probe", action="store_true", help="leave the separability probe off")
    parser.add_argument("--compare-logistic", action="store_true", help="also run the probe as it was before")
    parser.add_argument("--no-photos", action="store_true", help="no photo hashes (a manifest from before the column)")
    arguments = parser.parse_args()
    random = np.random.default_rng(0)

    vectors = random.standard_normal((arguments.tags, arguments.dims), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tag_images = synthetic_tag_images(arguments.tags, arguments.images, arguments.per_image, random)
    vocabulary = synthetic_vocabulary(arguments.tags, random)
    counts = np.asarray(tag_images.sum(axis=1)).ravel().astype(int).tolist()
    print(f"machine: {platform.processor() or platform.machine()}, cores: {__import__('os').cpu_count()}")
    print(f"data: {arguments.tags:,} tags x {arguments.dims} dims, {arguments.images:,} images x "
          f"{arguments.per_image} tags ({tag_images.nnz:,} tag uses)")

    embeddings = None
    if not arguments.no_probe:
        # Removed at exit: each run writes gigabytes (runs that leave them behind fill the disk).
        folder = Path(tempfile.mkdtemp(prefix="variant_scale_"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        clock = time.perf_counter()
        # Written by a child process, so that its pages do not count towards this process's peak memory.
        import multiprocessing
        child = multiprocessing.get_context("fork").Process(
            target=synthetic_embeddings, args=(tag_images, vectors, folder, np.random.default_rng(1)))
        child.start()
        child.join()
        embeddings = np.load(folder / "embeddings.npy", mmap_mode="r")
        print(f"wrote synthetic embeddings.npy ({embeddings.nbytes / 1e9:.1f} GB, memory-mapped) in "
              f"{time.perf_counter() - clock:.0f} s (not counted)")
    photos = None
    if embeddings is not None and not arguments.no_photos:
        # As manifest.csv's photo column gives them: 16 hex digits an image, every 20th image a copy of the one before.
        hashes = random.integers(0, 256, (arguments.images, 8), dtype=np.uint8)
        hashes[19::20] = hashes[18::20]
        photos = [row.tobytes().hex() for row in hashes]
        print(f"photo hashes: {len(photos):,} (every 20th image a copy of the one before)")
    probes = [("discriminant probe (today)", SeparabilityProbe())]
    if arguments.compare_logistic and embeddings is not None:
        probes.append(("logistic probe (before)", LogisticProbe()))
    totals = []
    for label, probe in probes:
        start = time.perf_counter()
        with AnonymousMemoryPeak() as anonymous:
            model = CombinedVariants(probe=probe).fit(vectors, vocabulary, counts, tag_images,
                                                      image_embeddings=embeddings, image_photos=photos)
        totals.append(time.perf_counter() - start)
        print(f"-- {label if embeddings is not None else 'no probe'}")
        for name, seconds in model.timings_.items():
            print(f"{name:<20} {seconds:7.1f} s")
        print(f"candidate pairs: {len(model.scores_):,}; co-occurring tag pairs: "
              f"{model.cooccurrence_.together.nnz // 2:,}; groups proposed: {len(model.groups_):,}; "
              f"pairs probed: {model.probes_asked_:,}")
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"fit: {totals[-1]:.1f} s of the 120 s target ({totals[-1] / 120:.0%}); peak anonymous memory "
              f"{anonymous.peak / 1024**3:.2f} GB of 4 GB (peak resident, with the mapped embeddings.npy pages "
              f"read: {peak_gb:.2f} GB)")
    if len(totals) == 2:
        print(f"before / today: {totals[1] / totals[0]:.1f}x the time")

if __name__ == "__main__":
    main()
