#!/usr/bin/env python3
"""Tag image files and folders with the trained model: .txt sidecars and/or a scores file. (also: tagger tag)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("tag"))
