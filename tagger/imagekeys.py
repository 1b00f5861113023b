"""Each image's content key, so computed rows (embeddings) are reused for an unchanged image and redone for a
changed one, whatever its place in the manifest.

The key is a SHA-256 of the file's bytes. Reading every file again on each run would cost a collection its
disk time, so a digest is reused while the file's path, size and modification time are those it was computed
for; any change of those and the content decides (a touched but unchanged file keeps its rows).
"""

import hashlib
import os
from dataclasses import dataclass, field

UNREADABLE = ""  # the key of a file that cannot be read: never matches, so it is computed (and fails) each run


@dataclass
class ImageKeys:
    paths: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)  # st_mtime_ns
    digests: list[str] = field(default_factory=list)


def image_keys(paths: list[str], known: ImageKeys | None = None) -> ImageKeys:
    """The key of every path, in order; digests in `known` are reused where path, size and mtime still match."""
    reusable = {}
    if known is not None:
        reusable = {(path, size, mtime): digest
                    for path, size, mtime, digest in zip(known.paths, known.sizes, known.mtimes, known.digests)}
    keys = ImageKeys()
    for path in paths:
        try:
            status = os.stat(path)
            size, mtime = status.st_size, status.st_mtime_ns
            digest = reusable.get((path, size, mtime)) or file_digest(path)
        except OSError:
            size, mtime, digest = -1, -1, UNREADABLE
        keys.paths.append(path)
        keys.sizes.append(size)
        keys.mtimes.append(mtime)
        keys.digests.append(digest)
    return keys


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
