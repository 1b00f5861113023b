"""Separability probe: can a small classifier tell tag A's images from tag B's?

A spelling used at random over one concept's images is inseparable from the concept's other
spellings (held-out AUC at chance); a different concept is separable even when its mean embedding
sits close to the other's. What "at chance" means depends on the sample sizes, the features and
the classifier, so it is measured on the collection itself: frequent tags split at random into two
pseudo-spellings of the same sizes give the null distribution of the probe's AUC.

The probe is linear discriminant analysis with the collection's own covariance: in the whitened
projection, a held-out image is scored by its distance along the line between the two training
means. Few images a side cannot estimate a covariance of their own, so the collection's (estimated on
thousands of images) stands in for it; and the fit is two means, so thousands of pairs cost
milliseconds each, in plain numpy.

The held-out AUC spends images on folds; at 10-20 images a side it cannot tell a distinct look-alike
from a variant. The gap between the two sets' mean images, tested against shuffles of the same images'
labels (exact for a spelling used at random), uses every image and is what the rule reads for "these
are two concepts" where the AUC has little power (and for "one concept" where the gap would have found a
difference: a perfect AUC at 20-30 images a side is only a few null spreads from chance, the gap's power is not
capped); where it has power, both must find the difference, unless the AUC is past what chance reaches among all
the pairs probed (ProbeResult.family_z: no chance extreme then, and the gap's plain distance may be blind to a
difference where the images vary least), and the AUC measures its share (whitened, it weighs a subtle difference of
concept as much as the kind of image, which the gap's plain distance weighs far more). The discriminant reads the
collection's main directions only; the part of the gap off them (unseen) is a difference it is blind to, so its "not
separable" says nothing there.

Both tests compare the two sets of images on what their other tags do not explain (company, residual): a spelling
one group of people uses on one kind of image (`rot` on the rings, `red` on the squares) differs from its other
spellings by that kind, which the images' other tags (`ring`, `square`) name; a distinct concept (`navy` beside
`blue`) differs on the same kinds of image. Only tags on enough images of both sides are adjusted for (a tag on one
side only is the difference itself, not a cause of it), at most one per ten images, so a few dozen images are not
fitted away; and not where the company together nearly decides which of the two tags an image carries (a colour
and a shape: every image of one carries a colour, every image of the other a shape). Where one side's images carry
fewer tags than the other's, a difference must show on the whole images too (the lesser of the two readings counts):
the company is what people typed, and people who type fewer tags leave out company their images still show, which
the adjustment alone would read as a difference.

Where the two tags share images, the images carrying both are asked what they add to those carrying one only, along
the direction in which the other tag's own images sit from images carrying neither (SeparabilityProbe.added, on the
whole images: not adjusted for company): two concepts shown together add the other's look on each side, a spelling
typed twice adds nothing. Under clutter (several concepts an image) this tells two look-alikes apart where the images
of one only do not.

Deterministic: images are sampled with generators seeded by the tags' indices, the projection comes
from a symmetric eigensolver (not a randomized SVD), folds are assigned by seeded permutations, sums
are float64, and AUCs are rounded to 4 decimals before any decision reads them.
"""

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import norm, rankdata
from threadpoolctl import threadpool_limits

from tagger.images import COPY_BITS, differing_bits, hash_bytes

# Sizes (images per side) at which the null is measured; a pair's null is read at its own size.
NULL_SIZES = (6, 12, 24, 48, 96, 192)
MIN_IMAGES = 6  # fewer images on a side than this: the probe cannot say anything, it is not asked
GAP_DIMENSIONS = 128  # principal components the gap between means is measured in
GAP_SHUFFLES = 64  # label shuffles that give each gap its own null
COMPANY_SHARE = 0.05  # a tag adjusted for is on at least this share (and 3) of each side's images
IMAGES_PER_COMPANY_TAG = 10  # at most one company tag adjusted for per this many images of the pair
MAX_SIDE_EXPLAINED = 1 / 3  # company explaining more of which side an image is on is not adjusted for
# One side's images carrying fewer tags besides the pair's, by this many spreads and this share of the other side's
# count (the midpoints of the rule's significance and share ramps): its company is incomplete (SeparabilityProbe.
# fewer_tags), and the whole images must show a difference too.
FEWER_TAGS_Z, FEWER_TAGS_SHARE = 3.0, 0.3
FAMILY_PAIRS = 5000  # pairs probed at most (CombinedVariants' max_probes default): the family chance has its tries in
FAMILY_ERROR = 0.05  # the chance of one chance extreme past family_z among them


@dataclass
class ProbeResult:
    """Held-out AUC of A-vs-B and what chance and a plainly different concept would give at the same sizes."""

    auc: np.ndarray  # cross-validated AUC, images of A only against images of B only; NaN: not probed
    null_mean: np.ndarray  # mean AUC of random splits of one tag at the same sizes
    null_std: np.ndarray  # its spread
    reference: np.ndarray  # the lower of the two tags' AUCs against images without the tag (can the images see them?)
    # The distance between the two tags' mean images (squared, in the top principal components) against its
    # own null: the same images with their labels shuffled (NaN where not probed).
    gap: np.ndarray | None = None  # observed
    gap_null_mean: np.ndarray | None = None  # mean over the label shuffles
    gap_null_std: np.ndarray | None = None  # spread over the label shuffles
    gap_reference: np.ndarray | None = None  # the lower of the two tags' gaps to images without them, less chance
    # The gap in the directions the discriminant does not read (principal components past its `dimensions`), against
    # the same label shuffles: a difference it is blind to.
    unseen: np.ndarray | None = None
    unseen_null_mean: np.ndarray | None = None
    unseen_null_std: np.ndarray | None = None
    # Where the tags share images: what the images carrying both add to those carrying one only, along the direction
    # in which the other tag's own images sit from images carrying neither: z against label shuffles, separation a
    # share of the other tag's gap reference; each the least over the two sides (NaN: not probed, fewer than
    # MIN_IMAGES images carrying both, or a side that could not be measured).
    together_z: np.ndarray | None = None
    together_separation: np.ndarray | None = None
    # The same two measures, the most over the two sides, and the least power of the two sides (an addition of the
    # other tag's whole look, in shuffle spreads): where neither side adds anything, with the power to have seen a
    # share of it, the images carrying both are one thing named twice.
    together_top_z: np.ndarray | None = None
    together_top_separation: np.ndarray | None = None
    together_power: np.ndarray | None = None
    family: int = FAMILY_PAIRS  # pairs the step may probe: how many chances chance has to reach an extreme AUC

    @property
    def family_z(self) -> float:
        """The AUC z that chance passes in one run of 20 somewhere among `family` pairs (Bonferroni): beyond it, the
        discriminant's difference is no chance extreme of one pair among many."""
        return float(norm.isf(FAMILY_ERROR / max(self.family, 1)))

    @property
    def z(self) -> np.ndarray:
        """How many null spreads the pair's AUC sits above chance."""
        return (self.auc - self.null_mean) / np.maximum(self.null_std, 1e-3)

    @property
    def reference_z(self) -> np.ndarray:
        """How many null spreads the tags stand out from the rest of the collection: the probe's power."""
        return (self.reference - self.null_mean) / np.maximum(self.null_std, 1e-3)

    @property
    def separation(self) -> np.ndarray:
        """Share of the way from chance to "as different as unrelated images": 0 same, 1 distinct."""
        span = np.maximum(self.reference - self.null_mean, 1e-3)
        return np.clip((self.auc - self.null_mean) / span, 0.0, 1.0)

    @property
    def gap_z(self) -> np.ndarray:
        """How many shuffle spreads the gap between the means sits above what shuffled labels give."""
        return shuffle_spreads(self.gap, self.gap_null_mean, self.gap_null_std)

    @property
    def gap_power(self) -> np.ndarray:
        """How many shuffle spreads the tags' own gap to unrelated images reaches: can the images see them?"""
        return self.gap_reference / np.maximum(self.gap_null_std, 1e-12)

    @property
    def unseen_z(self) -> np.ndarray:
        """How many shuffle spreads the gap off the discriminant's directions sits above chance."""
        return shuffle_spreads(self.unseen, self.unseen_null_mean, self.unseen_null_std)

    @property
    def unseen_separation(self) -> np.ndarray:
        """The gap off the discriminant's directions beyond chance, as a share of the distance that sets the tags
        apart from unrelated images (as gap_separation)."""
        excess = np.maximum(self.unseen - self.unseen_null_mean, 0.0)
        return np.clip(np.sqrt(excess / np.maximum(self.gap_reference, 1e-12)), 0.0, 1.0)

    @property
    def gap_separation(self) -> np.ndarray:
        """The distance between the means beyond chance as a share of the distance that sets the tags apart
        from unrelated images (square roots of the squared gaps: a share of distance, as the AUC's is)."""
        excess = np.maximum(self.gap - self.gap_null_mean, 0.0)
        return np.clip(np.sqrt(excess / np.maximum(self.gap_reference, 1e-12)), 0.0, 1.0)


def whitening(rows: np.ndarray, dimensions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, top principal directions (columns) and their spreads, from the covariance's eigenvectors.

    The covariance (D x D) and a symmetric eigensolver rather than an SVD of the sample: a tenth of the
    time at 4,096 x 1,280, and deterministic. A direction's sign cannot change any AUC (the probe's
    decisions are distances, and a flip of an axis flips both means' coordinates)."""
    mean = rows.mean(axis=0)
    centered = rows - mean
    covariance = centered.T @ centered / max(len(rows) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    top = np.argsort(-eigenvalues, kind="stable")[:dimensions]
    return mean, eigenvectors[:, top], np.maximum(np.sqrt(np.maximum(eigenvalues[top], 0.0)), 1e-12)


def mann_whitney_auc(labels: np.ndarray, decision: np.ndarray) -> float:
    """AUC of decision for labels 1 over labels 0 (ties count a half), from ranks."""
    ranks = rankdata(decision)
    positives = labels.astype(bool)
    count_positive, count_negative = int(positives.sum()), int((~positives).sum())
    rank_sum = float(ranks[positives].sum())
    return (rank_sum - count_positive * (count_positive + 1) / 2) / (count_positive * count_negative)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold of each row: each class's rows in a seeded random order, dealt round the folds."""
    assignment = np.empty(len(labels), np.int64)
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        order = np.random.default_rng([seed, value, len(rows)]).permutation(len(rows))
        assignment[rows[order]] = np.arange(len(rows)) % folds
    return assignment


class SeparabilityProbe:
    """Cross-validated discriminant probe on a PCA projection of the image embeddings.

    per_side: images sampled per tag (bounds the cost of one probe); dimensions: PCA components the
    probe sees (few, so a few dozen images cannot be fitted by chance); folds: cross-validation folds.
    """

    def __init__(self, per_side: int = 192, dimensions: int = 24, folds: int = 4, seed: int = 0,
                 null_tags: int = 8, null_repeats: int = 4):
        if per_side < MIN_IMAGES:
            raise ValueError(f"per_side must be at least {MIN_IMAGES}; received per_side={per_side}")
        self.per_side = per_side
        self.dimensions = dimensions
        self.folds = folds
        self.seed = seed
        self.null_tags = null_tags
        self.null_repeats = null_repeats

    @threadpool_limits.wrap(limits=1, user_api="blas")  # small products: threads only wait for each other
    def fit(self, embeddings: np.ndarray, tag_images: sparse.csr_matrix,
            photos: list[str] | None = None) -> "SeparabilityProbe":
        """Fits the projection on a sample of images and measures the null on the most used tags.

        photos: each image's photo hash (tagger.images.photo_hash; "" unknown), so that copies of one photo count
        once (see one_per_photo); None: every image is a photo of its own."""
        if photos is not None and len(photos) != tag_images.shape[1]:
            raise ValueError(f"need one photo hash per image; received {len(photos)} for {tag_images.shape[1]} images")
        self.photo_bytes_, self.photo_known_ = (None, None) if photos is None else hash_bytes(photos)
        self.tag_images_ = (tag_images > 0).tocsr()
        self.image_tags_ = self.tag_images_.T.tocsr()  # each image's tags: the company a pair is adjusted for
        image_count = self.tag_images_.shape[1]
        random = np.random.default_rng(self.seed)
        sample = np.sort(random.permutation(image_count)[:4096])
        dimensions = max(1, min(self.dimensions, len(sample) - 1, embeddings.shape[1]))
        gap_dimensions = max(dimensions, min(GAP_DIMENSIONS, len(sample) - 1, embeddings.shape[1]))
        self.mean_, components, scale = whitening(np.asarray(embeddings[sample], np.float64), gap_dimensions)
        self.components_, self.scale_ = components[:, :dimensions], scale[:dimensions]
        self.gap_components_ = components  # not whitened: the gap weighs directions as the embeddings do
        self.embeddings_ = embeddings
        self._null_sizes, self._null_mean, self._null_scale = self._measure_null()
        return self

    def features(self, images: np.ndarray) -> np.ndarray:
        """The images' embeddings in the whitened projection (rows in sorted image order)."""
        rows = np.asarray(self.embeddings_[np.sort(images)], np.float64)
        return (rows - self.mean_) @ self.components_ / self.scale_

    def one_per_photo(self, images: np.ndarray) -> np.ndarray:
        """The images less copies of an earlier one (photo hashes within COPY_BITS), in their order: each test counts
        a photo once.

        Both tests take each image for an independent draw: held-out folds that put one copy in training and its
        twin in test, and label shuffles that move copies apart, read a spelling kept on one photo's copies (a
        repost carries the photo's tags) as a concept of its own. Copies on the two sides of a pair are kept (the
        same photo named both ways says they are one)."""
        if self.photo_bytes_ is None or len(images) < 2:
            return images
        known = self.photo_known_[images]
        close = differing_bits(self.photo_bytes_[images]) <= COPY_BITS
        copies = np.triu(close & known[:, None] & known[None, :], k=1)
        if not copies.any():
            return images
        kept = np.ones(len(images), bool)
        for later in np.flatnonzero(copies.any(axis=0)):
            kept[later] = not np.any(copies[:later, later] & kept[:later])
        return images[kept]

    def images_of(self, tag: int) -> np.ndarray:
        row = self.tag_images_[tag]
        return row.indices[row.data > 0]

    def sample(self, images: np.ndarray, key: tuple, size: int | None = None) -> np.ndarray:
        """At most size (default per_side) of the images, one per photo (one_per_photo), the same ones for the same
        key on every run."""
        size = size or self.per_side
        if len(images) <= size:
            return self.one_per_photo(np.sort(images))
        random = np.random.default_rng([self.seed, *key])
        return self.one_per_photo(np.sort(random.choice(np.sort(images), size, replace=False)))

    def auc(self, first_images: np.ndarray, second_images: np.ndarray, company: np.ndarray | None = None) -> float:
        """Held-out AUC of telling the two sets of images apart (out-of-fold decision values, pooled); with company
        (rows: the first images, then the second), on what those tags do not explain."""
        features = residual(np.concatenate([self.features(first_images), self.features(second_images)]), company)
        labels = np.r_[np.zeros(len(first_images)), np.ones(len(second_images))]
        folds = min(self.folds, len(first_images), len(second_images))
        fold = stratified_folds(labels, folds, self.seed)
        decision = np.empty(len(labels))
        for held_out in range(folds):
            train, test = fold != held_out, fold == held_out
            first_mean = features[train & (labels == 0)].mean(axis=0)
            second_mean = features[train & (labels == 1)].mean(axis=0)
            # Distance along the line between the means, from their midpoint (LDA, shared covariance).
            decision[test] = (features[test] - (first_mean + second_mean) / 2) @ (second_mean - first_mean)
        # Rounded so that a last-bit difference between CPU kernels cannot move a decision.
        return round(mann_whitney_auc(labels, decision), 4)

    def _measure_null(self):
        """AUC of random halves of the most used tags at each size in NULL_SIZES that they allow.

        The mean is kept per size (cross-validation biases small samples below 0.5); the spread is
        pooled over all sizes as k / sqrt(size), the AUC's own law, so that a few dozen values give a
        stable estimate rather than one that moves with each size's handful of splits."""
        counts = np.diff(self.tag_images_.indptr)
        frequent = np.argsort(-counts, kind="stable")[:self.null_tags]
        sizes, means, scaled_squares = [], [], []
        for size in NULL_SIZES:
            if size > self.per_side:
                break
            values = []
            for tag in frequent:
                images = self.images_of(tag)
                if len(images) < 2 * size:
                    continue
                for repeat in range(self.null_repeats):
                    random = np.random.default_rng([self.seed, 7, int(tag), size, repeat])
                    shuffled = random.permutation(np.sort(images))
                    chosen = self.one_per_photo(shuffled[:2 * size])
                    if len(chosen) < 2 * size:  # copies among them: halves of as many photos, if the tag has them
                        chosen = self.one_per_photo(shuffled[:4 * size])[:2 * size]
                        if len(chosen) < 2 * size:
                            continue
                    values.append(self.auc(np.sort(chosen[:size]), np.sort(chosen[size:])))
            if len(values) >= 2:
                sizes.append(size)
                means.append(float(np.mean(values)))
                scaled_squares += [(value - means[-1]) ** 2 * size for value in values]
        if not sizes:  # a collection too small to measure chance on: the textbook null of AUC
            return np.array([MIN_IMAGES], float), np.array([0.5]), float(np.sqrt(1 / 6))
        return np.array(sizes, float), np.array(means), float(np.sqrt(np.mean(scaled_squares)))

    def null_at(self, size: float) -> tuple[float, float]:
        """Null mean (interpolated in log size) and spread (k / sqrt(size)) at an effective per-side size."""
        mean = float(np.interp(np.log(size), np.log(self._null_sizes), self._null_mean))
        return mean, self._null_scale / float(np.sqrt(size))

    def tag_reference(self, tag: int) -> tuple[float, float]:
        """The tag's images against images without it: (AUC, gap less chance), cached per tag, both from the
        same samples.

        The images without it are drawn at random from the whole collection and those carrying the
        tag put back, so the cost does not grow with the collection (no set difference over it)."""
        cache = self.__dict__.setdefault("references_", {})
        if tag not in cache:
            images = self.images_of(tag)
            others, sample = self.images_without(images, (4, tag)), self.sample(images, (3, tag))
            if min(len(sample), len(others)) >= MIN_IMAGES:
                observed, null_mean = self.gap(sample, others, (3, tag))[:2]
                cache[tag] = (self.auc(sample, others), observed - null_mean)
            else:
                cache[tag] = (np.nan, np.nan)
        return cache[tag]

    def gap(self, first_images: np.ndarray, second_images: np.ndarray, key: tuple,
            company: np.ndarray | None = None) -> tuple[float, float, float, float, float, float]:
        """Squared distance between the two sets' mean images, and its mean and spread over label shuffles; then
        the same three for the directions the discriminant does not read (components past its own).

        No held-out folds: a two-sample test on all the images, with the null of exchangeable labels (exact for a
        spelling used at random; close to it on the features less their company), so it has the power the
        cross-validated AUC loses to its folds.
        A difference of means is a product of the weights and the features: a shuffle costs n x dimensions."""
        rows = np.concatenate([self.embeddings_[np.sort(first_images)], self.embeddings_[np.sort(second_images)]])
        features = residual((np.asarray(rows, np.float64) - self.mean_) @ self.gap_components_, company)
        weights, shuffled = self.label_shuffles(len(first_images), len(features), (11, *key))
        squares, null_squares = np.square(weights @ features), np.square(shuffled @ features)
        main = self.components_.shape[1]  # the discriminant's directions come first
        null, unseen_null = null_squares.sum(axis=1), null_squares[:, main:].sum(axis=1)
        return (float(squares.sum()), float(null.mean()), float(null.std()),
                float(squares[main:].sum()), float(unseen_null.mean()), float(unseen_null.std()))

    def label_shuffles(self, first_count: int, count: int, key: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Weights whose product with `count` rows is the mean of the first `first_count` less the mean of the rest,
        and GAP_SHUFFLES seeded permutations of them: a difference of means and its null of exchangeable labels."""
        weights = np.r_[np.full(first_count, 1 / first_count), np.full(count - first_count, -1 / (count - first_count))]
        shuffled = np.random.default_rng([self.seed, *key]).permuted(np.tile(weights, (GAP_SHUFFLES, 1)), axis=1)
        return weights, shuffled

    def projected(self, images: np.ndarray) -> np.ndarray:
        """The images' embeddings less the sample's mean, in the gap's principal components (rows in sorted order)."""
        return (np.asarray(self.embeddings_[np.sort(images)], np.float64) - self.mean_) @ self.gap_components_

    def added(self, carrying_both: np.ndarray, one_only: np.ndarray, other_only: np.ndarray, unrelated: np.ndarray,
              other_reference: float, key: tuple) -> tuple[float, float, float]:
        """What images carrying both tags add to images carrying one of them only, along the direction in which the
        other tag's own images sit from images carrying neither: (z against label shuffles of the first two sets, the
        difference as a share of the other tag's distance from images without it (its gap reference), and the power:
        the other tag's whole distance in shuffle spreads, what adding all of its look would reach). Each set of
        images comes as its rows in the gap's components (projected), the images carrying neither as their mean.

        Two concepts shown together (a coat worn over a shirt) add the other one: its whole look, in its direction.
        A spelling typed twice names one thing, so nothing is added, and if the images carrying both are one kind of
        image (a second annotator who tags only some), they differ from the rest by that kind, not along the other
        tag's direction. A projection on one fixed direction: its shuffles give its null exactly. Not adjusted for
        company: what the images carrying both add is the question, whatever other tags name it."""
        direction = other_only.mean(axis=0) - unrelated
        length = np.linalg.norm(direction)
        if length == 0 or not other_reference > 0:
            return np.nan, np.nan, np.nan
        along = np.concatenate([carrying_both, one_only]) @ (direction / length)
        weights, shuffled = self.label_shuffles(len(carrying_both), len(along), (12, *key))
        observed, null = float(weights @ along), shuffled @ along
        spread, distance = max(float(null.std()), 1e-12), float(np.sqrt(other_reference))
        return ((observed - float(null.mean())) / spread, float(np.clip(max(observed, 0.0) / distance, 0.0, 1.0)),
                distance / spread)

    def together(self, first: tuple, second: tuple) -> tuple[float, float, float, float, float]:
        """What the images carrying both tags of a pair add (added), each side given as (tag, its images, their sample
        without the other tag, its gap reference): (z, separation) the least over the two sides, then the most over
        them, then the least power; NaN where fewer than MIN_IMAGES images carry both or carry neither, or a side
        could not be measured."""
        (a, images_a, sample_a, reference_a), (b, images_b, sample_b, reference_b) = first, second
        low, high = min(a, b), max(a, b)
        unmeasured = (np.nan,) * 5
        both = np.intersect1d(images_a, images_b)
        if len(both) < MIN_IMAGES:
            return unmeasured
        neither = self.images_without(np.union1d(images_a, images_b), (6, low, high))
        if len(neither) < MIN_IMAGES:
            return unmeasured
        both = self.sample(both, (5, low, high))
        if len(both) < MIN_IMAGES:
            return unmeasured
        # Each set of images gathered and projected once, for both sides.
        carrying_both, rows_a, rows_b = (self.projected(images) for images in (both, sample_a, sample_b))
        unrelated = self.projected(neither).mean(axis=0)
        sides = [self.added(carrying_both, rows_a, rows_b, unrelated, reference_b, (low, high, b)),
                 self.added(carrying_both, rows_b, rows_a, unrelated, reference_a, (low, high, a))]
        # Both sides must add (NaN where one could not be measured: np.min keeps it, min() would not); neither may add
        # for one thing named twice (np.max), each side with its power.
        (z, separation, power), (top_z, top_separation, _) = np.min(sides, axis=0), np.max(sides, axis=0)
        return float(z), float(separation), float(top_z), float(top_separation), float(power)

    def company(self, first_images: np.ndarray, second_images: np.ndarray, pair: tuple[int, ...]) -> np.ndarray | None:
        """The tags the two sets of images keep besides the pair's (rows: the first images, then the second; columns
        centered), or None: tags on at least COMPANY_SHARE (and 3) of each side's images, the most shared first, at
        most one per IMAGES_PER_COMPANY_TAG images."""
        first_tags, second_tags = self.image_tags_[np.sort(first_images)], self.image_tags_[np.sort(second_images)]
        on_first = np.bincount(first_tags.indices, minlength=first_tags.shape[1])
        on_second = np.bincount(second_tags.indices, minlength=second_tags.shape[1])
        enough = (on_first >= max(3, COMPANY_SHARE * len(first_images))) & \
            (on_second >= max(3, COMPANY_SHARE * len(second_images)))
        enough &= on_first + on_second < len(first_images) + len(second_images)  # on every image: explains nothing
        enough[list(pair)] = False
        columns = np.flatnonzero(enough)
        limit = (len(first_images) + len(second_images)) // IMAGES_PER_COMPANY_TAG
        columns = np.sort(columns[np.argsort(-np.minimum(on_first, on_second)[columns], kind="stable")[:limit]])
        if not len(columns):
            return None
        company = np.concatenate([first_tags[:, columns].toarray(), second_tags[:, columns].toarray()]).astype(np.float64)
        company -= company.mean(axis=0)
        # Tags that tell which of the two the image carries (rings on one side, squares on the other) are what a
        # spelling habit looks like; tags that nearly decide it (every `ring` image also carries a colour, every
        # `orange` one a shape: their sum is the side itself) would explain any difference away. Beyond a third
        # of the side explained, the two are compared on the whole images.
        side = np.r_[np.zeros(len(first_images)), np.ones(len(second_images))]
        side -= side.mean()
        explained = 1 - np.sum(np.square(residual(side[:, None], company))) / np.sum(np.square(side))
        if round(explained, 6) > MAX_SIDE_EXPLAINED:  # rounded: 0/1 data often gives a third exactly
            return None
        return company

    def fewer_tags(self, first_images: np.ndarray, second_images: np.ndarray, pair: tuple[int, ...]) -> bool:
        """Whether one side's images carry fewer tags besides the pair's than the other's, beyond chance and by a fair
        share (the midpoints of the rule's ramps: 3 spreads of the difference of means, 0.3 of the larger mean):
        their company is incomplete, not comparable with the other side's."""
        counts = []
        for images in (first_images, second_images):
            tags = self.image_tags_[np.sort(images)]
            counts.append(np.diff(tags.indptr) - tags[:, list(pair)].getnnz(axis=1))
        (low, high) = sorted(counts, key=np.mean)
        spread = np.sqrt(np.var(low, ddof=1) / len(low) + np.var(high, ddof=1) / len(high))
        shortfall = high.mean() - low.mean()
        # No spread at all (every image of each side with the same count): any shortfall is beyond chance.
        significant = shortfall > 0 if spread == 0 else shortfall / spread >= FEWER_TAGS_Z
        return bool(significant and shortfall >= FEWER_TAGS_SHARE * high.mean())

    def images_without(self, images: np.ndarray, key: tuple) -> np.ndarray:
        """per_side images not in images (sorted, one per photo), the same ones for the same key on every run."""
        total = self.tag_images_.shape[1]
        available = total - len(images)
        if available <= 4 * self.per_side:  # a tag on nearly every image: the rest is small, list it
            return self.sample(np.setdiff1d(np.arange(total), images), key)
        random = np.random.default_rng([self.seed, *key])
        chosen: np.ndarray = np.zeros(0, np.int64)
        while len(chosen) < self.per_side:
            draw = random.choice(total, 2 * self.per_side, replace=False)
            draw = draw[~np.isin(draw, images, assume_unique=True)]
            chosen = np.concatenate([chosen, draw[~np.isin(draw, chosen)]])
        return self.one_per_photo(np.sort(chosen[:self.per_side]))

    def probe(self, first: np.ndarray, second: np.ndarray) -> ProbeResult:
        """Probes each pair (tag indices): A-only vs B-only images, and each tag against the rest."""
        pairs = zip(np.asarray(first).tolist(), np.asarray(second).tolist())
        return self._probe_sides([((a,), (b,)) for a, b in pairs])

    def probe_groups(self, left: list[int], right: list[int]) -> ProbeResult:
        """Probes two groups of tags as two tags (one row): the images carrying a tag of one group and none of the
        other's against the reverse. A tag that would join a group is asked against the whole group: its own images
        less those carrying the group's other spellings, which alone may be the group's concept under another name
        (a descriptor typed on both spellings of one concept and on some of a look-alike's images is, against one
        spelling, mostly that concept again)."""
        return self._probe_sides([(tuple(sorted(left)), tuple(sorted(right)))])

    @threadpool_limits.wrap(limits=1, user_api="blas")
    def _probe_sides(self, pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> ProbeResult:
        """Probes each pair of sides (each a tuple of tag indices, one tag a side for pairs of tags): a side's images
        are those carrying any of its tags, its key (seeds, order) its most used tag (the lowest index), its
        reference that tag's."""
        count = len(pairs)
        auc, null_mean, null_std, reference = (np.full(count, np.nan) for _ in range(4))
        gap, gap_null_mean, gap_null_std, gap_reference = (np.full(count, np.nan) for _ in range(4))
        unseen, unseen_null_mean, unseen_null_std = (np.full(count, np.nan) for _ in range(3))
        together_z, together_separation, together_top_z, together_top_separation, together_power = (
            np.full(count, np.nan) for _ in range(5))
        for index, (tags_a, tags_b) in enumerate(pairs):
            a, b = tags_a[0], tags_b[0]
            images_a, images_b = self.images_of_tags(tags_a), self.images_of_tags(tags_b)
            only_a, only_b = np.setdiff1d(images_a, images_b), np.setdiff1d(images_b, images_a)
            if min(len(only_a), len(only_b)) < MIN_IMAGES:
                continue
            low, high = min(a, b), max(a, b)  # the same samples whichever way round the pair is asked
            sample_a, sample_b = self.sample(only_a, (1, low, high, a)), self.sample(only_b, (1, low, high, b))
            if min(len(sample_a), len(sample_b)) < MIN_IMAGES:
                continue
            first_sample, second_sample = (sample_a, sample_b) if a < b else (sample_b, sample_a)
            company = self.company(first_sample, second_sample, tags_a + tags_b)
            auc[index] = self.auc(first_sample, second_sample, company)
            effective = 2 * len(sample_a) * len(sample_b) / (len(sample_a) + len(sample_b))
            null_mean[index], null_std[index] = self.null_at(effective)
            gaps = self.gap(first_sample, second_sample, (2, low, high), company)
            if company is not None and self.fewer_tags(first_sample, second_sample, tags_a + tags_b):
                # The company is what people typed: people who type fewer tags (often the same people who type
                # their own spelling) leave out company their images still show, which the adjustment would turn
                # into a difference. Where one side's images carry fewer tags, the whole images must show the
                # difference too.
                auc[index] = min(auc[index], self.auc(first_sample, second_sample))
                gaps = least_gaps(gaps, self.gap(first_sample, second_sample, (2, low, high)))
            (gap[index], gap_null_mean[index], gap_null_std[index], unseen[index], unseen_null_mean[index],
             unseen_null_std[index]) = gaps
            (reference_a, gap_reference_a), (reference_b, gap_reference_b) = self.tag_reference(a), self.tag_reference(b)
            reference[index], gap_reference[index] = min(reference_a, reference_b), min(gap_reference_a, gap_reference_b)
            (together_z[index], together_separation[index], together_top_z[index], together_top_separation[index],
             together_power[index]) = self.together(
                (a, images_a, sample_a, gap_reference_a), (b, images_b, sample_b, gap_reference_b))
        return ProbeResult(auc=auc, null_mean=null_mean, null_std=null_std, reference=reference, gap=gap,
                           gap_null_mean=gap_null_mean, gap_null_std=gap_null_std, gap_reference=gap_reference,
                           unseen=unseen, unseen_null_mean=unseen_null_mean, unseen_null_std=unseen_null_std,
                           together_z=together_z, together_separation=together_separation,
                           together_top_z=together_top_z, together_top_separation=together_top_separation,
                           together_power=together_power)

    def images_of_tags(self, tags: tuple[int, ...]) -> np.ndarray:
        """The images carrying any of the tags (sorted)."""
        if len(tags) == 1:
            return self.images_of(tags[0])
        return np.unique(np.concatenate([self.images_of(tag) for tag in tags]))


def shuffle_spreads(observed, null_mean, null_std):
    """How many spreads of its label shuffles an observed gap sits above their mean (ProbeResult.gap_z, unseen_z)."""
    return (observed - null_mean) / np.maximum(null_std, 1e-12)


def least_gaps(adjusted: tuple, whole: tuple) -> tuple:
    """Of two gap() answers, on the features less their company and on the whole images, the gap and the unseen part
    each as the one standing out less from its null (in its shuffle spreads), with that null."""
    gap = whole[:3] if shuffle_spreads(*whole[:3]) < shuffle_spreads(*adjusted[:3]) else adjusted[:3]
    unseen = whole[3:] if shuffle_spreads(*whole[3:]) < shuffle_spreads(*adjusted[3:]) else adjusted[3:]
    return gap + unseen


def residual(features: np.ndarray, company: np.ndarray | None) -> np.ndarray:
    """The features less what the company tags explain (least squares on the centered tags); unchanged without."""
    if company is None:
        return features
    coefficients = np.linalg.lstsq(company, features - features.mean(axis=0), rcond=None)[0]
    return features - company @ coefficients
