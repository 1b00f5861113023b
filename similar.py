#!/usr/bin/env python3
"""The images most similar to a given one (an image id of the run, or any image file), by their embeddings."""

import sys

from tagger.cli import main
from tagger.use.similar import similar

if __name__ == "__main__":
    sys.exit(main(similar, "similar.py", __doc__, lock_run_dir=False))  # reads the run folder only
