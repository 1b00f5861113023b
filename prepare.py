#!/usr/bin/env python3
"""Step 1: read images and tags, normalize tags, check images, split train/validation."""

import sys

from tagger.cli import main
from tagger.prepare.step import prepare

if __name__ == "__main__":
    sys.exit(main(prepare, "prepare.py", __doc__))
