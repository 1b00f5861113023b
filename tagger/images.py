"""Reading images: one PIL decode path for the check in prepare.py and for tf.data pipelines.

PIL rather than tf.io.decode_image because it handles what users' collections hold and
TensorFlow does not: EXIF rotation, CMYK JPEGs, 16-bit PNGs, palette and transparent images.
Its decoders release the GIL, so tf.data still decodes in parallel.
"""

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tagger.files import IMAGE_EXTENSIONS, path_text
from tagger.runfolder import PHOTO_HASH

log = logging.getLogger(__name__)

# A tiny file that decodes to hundreds of megapixels is refused, not decoded.
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

PAD_COLOUR = (255, 255, 255)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_files_under(folder: Path, recursive: bool = True, not_files: list[Path] | None = None) -> list[Path]:
    """Every file named like an image anywhere under folder (only in folder itself unless recursive), sorted;
    not_files, when given, gets the names like an image that are no file (a link to nothing).

    os.walk does not enter symlinked folders (followlinks=False), so a link loop cannot trap the walk.
    """
    found = []
    for parent, subfolders, files in os.walk(folder):
        subfolders.sort()
        if not recursive:
            subfolders.clear()
        named = [Path(parent) / name for name in files if is_image_name(Path(name))]
        found += [path for path in named if path.is_file()]
        if not_files is not None:
            not_files += [path for path in named if not path.is_file()]
    return sorted(found)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency becomes white, 16-bit is scaled down, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if pixels.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        image = Image.fromarray(np.clip(pixels / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, PAD_COLOUR)
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def load_image(path: str | Path, size: int) -> np.ndarray:
    """The image as a size x size x 3 uint8 array: upright, aspect kept, padded with white."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            refuse_bombs(image)
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when the image is large
            image = ImageOps.exif_transpose(image)
            image = to_rgb(image)
    return np.asarray(ImageOps.pad(image, (size, size), Image.Resampling.BILINEAR, color=PAD_COLOUR))


def refuse_bombs(image: Image.Image) -> None:
    """Raise DecompressionBombError for an image of more than MAX_IMAGE_PIXELS, before it is decoded. Pillow only warns
    there (an error under the callers' warning filter), and filters are process-wide: images are read on several
    threads, whose catch_warnings blocks can restore them under each other, and a bomb is then decoded."""
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise Image.DecompressionBombError(f"{image.width * image.height:,} pixels")


def image_problem(path: Path) -> str | None:
    """Why this image cannot be used, or None when it decodes."""
    return inspect_image(path)[0]


def inspect_image(path: Path) -> tuple[str | None, str]:
    """(why this image cannot be used or None when it decodes, its photo hash or "" when it does not)."""
    if not path.exists():
        return "file not found", ""
    if not path.is_file():
        return "not a file", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                refuse_bombs(image)
                image.load()
                if image.width < 1 or image.height < 1:
                    return "image has no pixels", ""
                return None, photo_hash(to_rgb(ImageOps.exif_transpose(image)))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return f"more than {MAX_IMAGE_PIXELS:,} pixels (decompression bomb?)", ""
    except PermissionError:
        return "permission denied", ""
    except Image.UnidentifiedImageError:
        return "not an image PIL can read", ""
    except Exception as error:  # Pillow's decoders raise many kinds; any of them means "skip this file"
        return (f"does not decode: {type(error).__name__}: {error}" if str(error)
                else f"does not decode: {type(error).__name__}"), ""


def photo_hash(image: Image.Image) -> str:
    """The upright image's difference hash (dHash), 16 hex digits: its grey levels at 9 x 8, one bit per neighbouring
    pair, set where the right one is brighter. A copy re-saved, recompressed or resized keeps it within a few bits
    (COPY_BITS); what a photo shows, not its file, so reposts of one photo can be counted once."""
    grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
    return np.packbits(grey[:, 1:] > grey[:, :-1]).tobytes().hex()


# Copies of one photo: photo hashes at most this many bits of 64 apart. Measured on coco128's photos: re-saved as JPEG
# at quality 50, or halved in size, 99% within 3 bits and all within 5; the closest two distinct photos 7 apart (1% of
# the photos have a distinct one within 9). Cropped and mirrored copies are not caught.
COPY_BITS = 4


def hash_bytes(hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(each photo_hash as a row of 8 bytes, whether it is one): "" (an image prepare did not decode) is no hash,
    and its row zeros."""
    known = np.array([bool(PHOTO_HASH.match(value)) for value in hashes], bool)
    text = "".join(value if ok else "0" * 16 for value, ok in zip(hashes, known))
    return np.frombuffer(bytes.fromhex(text), np.uint8).reshape(len(hashes), 8), known


def differing_bits(rows: np.ndarray) -> np.ndarray:
    """How many of the 64 bits differ, for every two of these hashes (rows of 8 bytes, as hash_bytes gives)."""
    bits = np.unpackbits(rows, axis=1).astype(np.float64)  # a BLAS product: exact for sums of 0 and 1
    return bits @ (1 - bits).T + (1 - bits) @ bits.T


def _load_or_blank(path: bytes, size: int) -> np.ndarray:
    try:
        return load_image(os.fsdecode(path), size)
    except Exception as error:  # a file changed after prepare.py checked it: keep the run going
        log.warning(f"{path_text(os.fsdecode(path))}: {error}; using a blank image")
        return np.full((size, size, 3), 255, np.uint8)


def _load_flagged(path: bytes, size: int) -> tuple[np.ndarray, np.bool_]:
    try:
        return load_image(os.fsdecode(path), size), np.bool_(True)
    except Exception:  # the caller reports it: any decoder error means "this image failed"
        return np.full((size, size, 3), 255, np.uint8), np.bool_(False)


def image_dataset(paths: list[str], size: int, batch_size: int, labels: np.ndarray | None = None,
                  shuffle_seed: int | None = None, flag_failures: bool = False):
    """Batches of uint8 pixels (and labels), decoded in parallel and prefetched.

    With flag_failures, batches are (pixels, decoded): decoded is False where an image failed and
    its pixels are blank, so a caller over arbitrary files can skip and report it.
    """
    import tensorflow as tf

    def decode(path):
        pixels = tf.numpy_function(lambda p: _load_or_blank(p, size), [path], tf.uint8, stateful=False)
        pixels.set_shape((size, size, 3))
        return pixels

    def decode_flagged(path):
        pixels, decoded = tf.numpy_function(lambda p: _load_flagged(p, size), [path], (tf.uint8, tf.bool),
                                            stateful=False)
        pixels.set_shape((size, size, 3))
        decoded.set_shape(())
        return pixels, decoded

    if not isinstance(paths, tf.Tensor):  # a tensor of paths (training's epoch order) is bytes already
        # As the file system's bytes: a name that is not UTF-8 (caf\xe9.jpg) is no TensorFlow string, its bytes are.
        paths = [os.fsencode(path) for path in paths]
    if flag_failures:
        dataset = tf.data.Dataset.from_tensor_slices(paths)
        dataset = dataset.map(decode_flagged, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    elif labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(paths)
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((paths, labels.astype(np.float32)))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        dataset = dataset.map(lambda p, y: (decode(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
