#!/usr/bin/env python3
"""Tag images with the trained model: a .txt of tags beside each image and/or one JSON/CSV of scores."""

import sys

from tagger.cli import main
from tagger.use.tag import tag

if __name__ == "__main__":
    sys.exit(main(tag, "tag.py", __doc__, lock_run_dir=False))  # reads the run folder only
