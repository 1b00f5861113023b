#!/usr/bin/env python3
"""Turn the accepted rows of review.csv into aliases.txt (for prepare.py --data.aliases); remember rejections."""

import sys

from tagger.cli import main
from tagger.variants.review import apply_review

if __name__ == "__main__":
    sys.exit(main(apply_review, "apply_review.py", __doc__))
