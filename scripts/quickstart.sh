#!/bin/bash
# The main job on the embedded demo data, from a fresh clone: set up the venv, build the demo digits
# dataset, train Inception-v4 on the CPU, evaluate it in eval mode on the held-out images, export ONNX
# and evaluate the ONNX file with onnxruntime. Outputs go to runs/quickstart/ (OUT=... to change).
# Usage: bash scripts/quickstart.sh [--key value ...]   (extra train.py settings, e.g. --epoch_size 2)
set -e
source "$(dirname "$0")/setup_env.sh"
set -eo pipefail
OUT=${OUT:-runs/quickstart}
DATA=data/demo/cifar10
mkdir -p "$OUT"
start=$(date +%s)

python -m src.tools.make_demo_data --output_dir data/demo

# Demo settings (README, "Demo data"): 75x75 inputs (the network's minimum), batch 16, no augmentation,
# 8 epochs of RMSProp with a small learning rate, and BatchNorm statistics that follow the data within
# a few hundred steps (bn_momentum 0.9) so that the eval-mode network is honest after a short run.
SHAPE=(--config_path default_config_cpu.yaml --ds_type cifar10 --num_classes 10 --width 75 --height 75)
rm -rf "$OUT/ckpt"
python train.py "${SHAPE[@]}" --dataset_path "$DATA" --eval_dataset_path "$DATA" --eval_interval 2 \
    --batch_size 16 --epoch_size 8 --lr_init 0.0002 --lr_max 0.002 --lr_end 0.00001 --bn_momentum 0.9 \
    --augment False --keep_checkpoint_max 1 --ckpt_path "$OUT/ckpt" "$@" | tee "$OUT/train.log"
ckpt=$(ls -t "$OUT"/ckpt/ckpt_0/inceptionv4-train-*.ckpt | head -n 1)

python eval.py "${SHAPE[@]}" --dataset_path "$DATA" --checkpoint_path "$ckpt" | tee "$OUT/eval.log"
python export.py "${SHAPE[@]}" --ckpt_file "$ckpt" --file_format ONNX --batch_size 16 \
    --file_name "$OUT/inceptionv4" | tee "$OUT/export.log"
python eval_onnx.py "${SHAPE[@]}" --dataset_path "$DATA" --file_name "$OUT/inceptionv4.onnx" \
    | tee "$OUT/eval_onnx.log"

echo "quickstart: held-out accuracy of the trained network (eval mode) and of its ONNX export:"
grep "^metric:" "$OUT/eval.log"
grep -i "accuracy" "$OUT/eval_onnx.log"
echo "quickstart: done in $(( $(date +%s) - start )) s; outputs in $OUT"
