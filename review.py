#!/usr/bin/env python3
"""Decide the proposed merges among their images: a local web page over review.csv. (also: tagger review)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("review"))
