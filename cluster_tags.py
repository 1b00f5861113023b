#!/usr/bin/env python3
"""Step 4: group tag variants from image embeddings; writes synonyms.json/.csv and aliases.txt."""

import sys

from tagger.cli import main
from tagger.variants.step import cluster_tags

if __name__ == "__main__":
    sys.exit(main(cluster_tags, "cluster_tags.py", __doc__))
