#!/usr/bin/env python3
"""Train the tagger: a head on cached frozen features, then optional fine-tuning. (also: tagger train)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("train"))
