#!/usr/bin/env python3
"""Decide the proposed variant merges among their images: a local web page over review.csv (Ctrl-C stops)."""

import sys

from tagger.cli import main
from tagger.review.command import review

if __name__ == "__main__":
    # Only reads the run folder while it serves; its Apply button takes the run folder's lock for its moment.
    sys.exit(main(review, "review.py", __doc__, lock_run_dir=False))
