#!/usr/bin/env python3
"""Read images and tags, normalize the tags, check every image, split train/validation. (also: tagger prepare)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("prepare"))
