#!/usr/bin/env python3
"""Write the pooled embedding of every image (embeddings.npy, image_ids.npy); resumable, shardable. (also: tagger embed)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("embed"))
