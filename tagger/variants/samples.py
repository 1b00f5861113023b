"""Which images to show for a tag: a sample spread over the range of its images, not its first files.

With the run's embeddings, farthest-point sampling: the image nearest the tag's mean first (the typical one),
then each time the image least like those already chosen. Without them, images evenly spaced over the
manifest. Deterministic, so the review app and synonyms.html show the same images.
"""

import numpy as np

MAX_CANDIDATES = 2000  # a tag on more images is first thinned evenly, to bound the work per tag


def evenly_spaced(items: np.ndarray, count: int) -> np.ndarray:
    """count items at evenly spaced positions (all of them when there are not more)."""
    if len(items) <= count:
        return items
    positions = np.linspace(0, len(items) - 1, count).round().astype(int)
    return items[np.unique(positions)]


def sample_images(image_indices, count: int, embeddings: np.ndarray | None = None) -> list[int]:
    """Up to count manifest indices out of image_indices, spread over what the tag's images show."""
    indices = np.asarray(sorted(image_indices), np.int64)
    if len(indices) <= count:
        return indices.tolist()
    if embeddings is None:
        return evenly_spaced(indices, count).tolist()
    candidates = evenly_spaced(indices, MAX_CANDIDATES)
    vectors = np.asarray(embeddings[candidates], np.float32)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    chosen = [int(np.argmax(vectors @ vectors.mean(axis=0)))]
    distance = 1.0 - vectors @ vectors[chosen[0]]
    distance[chosen[0]] = -np.inf  # never chosen twice
    while len(chosen) < min(count, len(candidates)):
        next_index = int(np.argmax(distance))
        chosen.append(next_index)
        distance = np.minimum(distance, 1.0 - vectors @ vectors[next_index])
        distance[chosen] = -np.inf
    return candidates[chosen].tolist()


def pair_sample(member_images, canonical_images, count: int, embeddings=None) -> list[tuple[int, bool]]:
    """A member's sample as (manifest index, carries the canonical too); one shared image is always shown."""
    member_images, canonical_images = set(member_images), set(canonical_images)
    chosen = sample_images(member_images, count, embeddings)
    shared = sorted(member_images & canonical_images)
    if shared and not canonical_images.intersection(chosen):
        chosen = [shared[len(shared) // 2], *chosen[:count - 1]]
    return [(index, index in canonical_images) for index in chosen]
