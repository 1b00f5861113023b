"""The images behind the review page: found by image id in manifest.csv only, sampled per tag, made small.

A URL names an image id, never a path: an id not in manifest.csv is not found, so a request cannot
reach any other file on the machine.
"""

import io
import threading
from collections import OrderedDict
from pathlib import Path

import warnings

from PIL import Image, ImageOps

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.images import to_rgb
from tagger.variants.samples import pair_sample

SIZES = {"thumb": 128, "large": 768}
CACHE_ITEMS = 2000  # encoded thumbnails kept in memory (about 5 KB each)


class UnknownImage(TaggerError):
    """An image id that is not in manifest.csv (or whose file cannot be read any more)."""


class Gallery:
    """Which images carry which tag, sampled thumbnails per review group, and the image bytes by id."""

    def __init__(self, run_dir: Path, per_tag: int):
        manifest = runfolder.read_manifest(run_dir)
        self.per_tag = per_tag
        self.image_ids = manifest.image_ids
        self.paths = dict(zip(manifest.image_ids, manifest.paths))
        self.tag_images: dict[str, list[int]] = {}
        for index, tags in enumerate(manifest.tags):
            for tag in tags:
                self.tag_images.setdefault(tag, []).append(index)
        # A rare spelling listed for review (rare_tags.csv) shows its images in the manifest too.
        row_of = {image: index for index, image in enumerate(manifest.image_ids)}
        for tag, images in (runfolder.read_rare_tags(run_dir) or {}).items():
            self.tag_images.setdefault(tag, [row_of[image] for image in images if image in row_of])
        try:
            self.embeddings = runfolder.read_embeddings(run_dir, manifest)
        except TaggerError:  # not embedded (yet, or for this manifest): samples spread over the manifest instead
            self.embeddings = None
        self._encoded: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def group_samples(self, canonical: str, variants: list[str]) -> dict:
        """Per tag of a group: how many images carry it, how many also carry the other side, and a sample."""
        canonical_images = set(self.tag_images.get(canonical, []))
        variant_images = set().union(*(self.tag_images.get(variant, []) for variant in variants))
        samples = {canonical: self._tag_sample(canonical, variant_images)}
        for variant in variants:
            samples[variant] = self._tag_sample(variant, canonical_images)
        return samples

    def _tag_sample(self, tag: str, other_images: set) -> dict:
        images = self.tag_images.get(tag, [])
        return {"count": len(images), "both": len(other_images.intersection(images)),
                "images": [{"id": self.image_ids[index], "both": both}
                           for index, both in pair_sample(images, other_images, self.per_tag, self.embeddings)]}

    def image_bytes(self, image_id: str, size: str) -> bytes:
        """The image as a JPEG at most the named size (thumb or large) on its longer side, upright."""
        if size not in SIZES:
            raise UnknownImage(f"size must be one of {', '.join(SIZES)}")
        path = self.paths.get(image_id)
        if path is None:
            raise UnknownImage(f"no image {image_id!r} in {runfolder.MANIFEST}")
        key = (image_id, size)
        with self._lock:
            if key in self._encoded:
                self._encoded.move_to_end(key)
                return self._encoded[key]
        try:
            picture = small_picture(path, SIZES[size])
        except Exception as error:  # moved, deleted or broken since prepare.py: say so, keep serving the rest
            raise UnknownImage(f"image {image_id!r} cannot be read: {type(error).__name__}") from None
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=85)
        with self._lock:
            self._encoded[key] = buffer.getvalue()
            while len(self._encoded) > CACHE_ITEMS:
                self._encoded.popitem(last=False)
        return buffer.getvalue()


def small_picture(path: str, side: int) -> Image.Image:
    """The image upright, in RGB, its longer side at most side pixels (aspect kept: a person judges it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            image.draft("RGB", (side, side))
            picture = to_rgb(ImageOps.exif_transpose(image))
    picture.thumbnail((side, side))
    return picture
