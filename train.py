#!/usr/bin/env python3
"""Step 2: train the tagger (head on cached frozen features, then optional fine-tuning)."""

import sys

from tagger.cli import main
from tagger.train.step import train

if __name__ == "__main__":
    sys.exit(main(train, "train.py", __doc__))
