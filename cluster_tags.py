#!/usr/bin/env python3
"""Propose groups of tag variants with their evidence, for review (synonyms.html, review.csv). (also: tagger cluster_tags)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("cluster_tags"))
