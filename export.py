#!/usr/bin/env python3
"""Export the trained tagger to export/saved_model (TF SavedModel) and export/model.onnx, each checked
against model.keras."""

import sys

from tagger.cli import main
from tagger.use.export import export

if __name__ == "__main__":
    sys.exit(main(export, "export.py", __doc__))
