#!/usr/bin/env python3
"""List the images of the collection most like an image id of the run or any image file. (also: tagger similar)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("similar"))
