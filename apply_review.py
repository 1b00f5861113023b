#!/usr/bin/env python3
"""Turn the accepted rows of review.csv into aliases.txt for prepare.py; remember rejections. (also: tagger apply_review)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("apply_review"))
