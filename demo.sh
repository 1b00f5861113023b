#!/usr/bin/env bash
# Sets up and runs the whole pipeline on the demo data, offline, in a few minutes on 2 CPU cores:
# prepare -> train -> embed -> cluster_tags, into runs/demo/.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
data/run_demo.sh .venv/bin/python runs/demo data/demo
echo "demo finished: outputs in runs/demo/; variant groups in runs/demo/synonyms.html (and .json, .csv); decide them with .venv/bin/python review.py --paths.run_dir runs/demo"
