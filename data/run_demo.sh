#!/usr/bin/env bash
# The four steps on the demo set, with the demo's settings.
# Usage: data/run_demo.sh [python] [run_dir] [demo_data_dir]   (demo.sh calls it after setting up)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
RUN=(--paths.run_dir "${2:-runs/demo}")
DATA=${3:-data/demo}

$PY data/make_demo.py --out "$DATA"
$PY prepare.py "${RUN[@]}" --data.source "$DATA/tags.csv"
# An untrained backbone's features mean nothing, so the demo trains a small one end to end
# (weights none: no download); with real photos keep --model.weights imagenet. 40 epochs: at 20, how well the model
# saw the shapes hung on the machine's CPU kernels and thread count (a square told from other images at 1.6 to 6.8
# null spreads over four runs), and on one a chance difference between `square` and `sqaure` split them; at 40, 3.6
# to 8.3.
$PY train.py "${RUN[@]}" --model.backbone mobilenetv2 --model.weights none --model.image_size 64 \
  --train.head.epochs 1 --train.finetune.unfreeze_layers 1000 --train.finetune.epochs 40 \
  --train.finetune.learning_rate 0.002 --train.finetune.backbone_learning_rate_scale 1 --train.patience 20 \
  --train.augment.colour false --train.augment.crop false --train.augment.rotation false
$PY embed.py "${RUN[@]}"
$PY cluster_tags.py "${RUN[@]}"
