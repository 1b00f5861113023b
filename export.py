#!/usr/bin/env python3
"""Export the tagger as a TF SavedModel and ONNX, each checked against model.keras. (also: tagger export)"""

import sys

from tagger.cli import main

if __name__ == "__main__":
    sys.exit(main("export"))
