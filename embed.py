#!/usr/bin/env python3
"""Step 3: penultimate-layer embeddings of every image (embeddings.npy + image_ids.npy)."""

import sys

from tagger.cli import main
from tagger.embed.step import embed, lock_name

if __name__ == "__main__":
    sys.exit(main(embed, "embed.py", __doc__, lock_name=lock_name))
