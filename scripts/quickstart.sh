#!/bin/bash
# The main job on the embedded demo data, from a fresh clone: set up the venv, build the demo digits
# dataset, train Inception-v4 on the CPU, evaluate it in eval mode on the held-out images, export ONNX
# and evaluate the ONNX file with onnxruntime, then quantize it to INT8 and compare accuracy and speed.
# Outputs go to runs/quickstart/ (OUT=... to change).
# Usage: bash scripts/quickstart.sh [--key value ...]   (extra train.py settings, e.g. --epoch_size 2)
set -eo pipefail
source "$(dirname "$0")/launch_common.sh"
OUT=$(absolute "${OUT:-$(dirname "$0")/../runs/quickstart}")
absolute_path_args "$@"
set -- "${EXTRA[@]}"
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
DATA=data/demo/cifar10
mkdir -p "$OUT"
start=$(date +%s)

t=$SECONDS
python -m src.tools.make_demo_data --output_dir data/demo
echo "quickstart: demo data took $(( SECONDS - t )) s"

# Demo settings (docs/measurements.md, "Demo digits (the quickstart), CPU": how they were chosen): 75x75 inputs (the network's minimum), batch 16,
# no augmentation, 4 epochs of RMSProp with epsilon 1e-3 (per-parameter step sizes; the ImageNet recipe's
# 1.0 makes it plain momentum SGD, which needs 8 epochs here), BatchNorm statistics that follow the data
# within a few hundred steps (bn_momentum 0.9) so that the eval-mode network is honest after a short run,
# and an evaluation on the held-out digits after every epoch (the curve in curves.png).
SHAPE=(--config_path default_config_cpu.yaml --ds_type cifar10 --num_classes 10 --width 75 --height 75)
rm -rf "$OUT/ckpt"
t=$SECONDS
python train.py "${SHAPE[@]}" --dataset_path "$DATA" --eval_dataset_path "$DATA" --eval_interval 1 \
    --batch_size 16 --epoch_size 4 --epsilon 0.001 --lr_init 0.00001 --lr_max 0.0001 --lr_end 0.000001 \
    --bn_momentum 0.9 --augment False --image_mean 0.485,0.456,0.406 --image_std 0.229,0.224,0.225 --keep_checkpoint_max 1 --ckpt_path "$OUT/ckpt" "$@" | tee "$OUT/train.log"
echo "quickstart: training took $(( SECONDS - t )) s"
ckpt=$(ls -t "$OUT"/ckpt/ckpt_0/inceptionv4-train-*.ckpt | head -n 1)

t=$SECONDS
python eval.py "${SHAPE[@]}" --dataset_path "$DATA" --checkpoint_path "$ckpt" | tee "$OUT/eval.log"
echo "quickstart: eval.py took $(( SECONDS - t )) s"
t=$SECONDS
python export.py "${SHAPE[@]}" --ckpt_file "$ckpt" --file_format ONNX --export_batch_size 16 \
    --file_name "$OUT/inceptionv4" | tee "$OUT/export.log"
echo "quickstart: export.py took $(( SECONDS - t )) s"
t=$SECONDS
python eval_onnx.py "${SHAPE[@]}" --dataset_path "$DATA" --file_name "$OUT/inceptionv4.onnx" \
    | tee "$OUT/eval_onnx.log"
echo "quickstart: eval_onnx.py took $(( SECONDS - t )) s"
# INT8 (docs/export.md, "INT8 ONNX model"): onnxruntime's static quantization of the ONNX export, calibrated on
# training images, for this CPU (INT8_TARGET=vnni makes it for a VNNI CPU from any machine). Where the tool
# writes it (it keeps float32 where INT8 is not 1.2x as fast on this CPU, and when INT8 would lose top-1),
# it is evaluated like the float32 file and both files' speed is measured in onnxruntime.
t=$SECONDS
rm -f "$OUT/inceptionv4_int8.onnx" "$OUT/eval_onnx_int8.log"
python -m src.tools.quantize_onnx "${SHAPE[@]}" --file_name "$OUT/inceptionv4.onnx" --calib_dataset_path "$DATA" \
    --target_cpu "${INT8_TARGET:-auto}" --output "$OUT/inceptionv4_int8.onnx" 2>&1 | tee "$OUT/quantize.log" \
    || true  # it refuses (one error line, no file) when INT8 would lose more than 1 point: float32 stays
models=("$OUT/inceptionv4.onnx")
if [ -f "$OUT/inceptionv4_int8.onnx" ]; then
    python eval_onnx.py "${SHAPE[@]}" --dataset_path "$DATA" --file_name "$OUT/inceptionv4_int8.onnx" \
        | tee "$OUT/eval_onnx_int8.log"
    models+=("$OUT/inceptionv4_int8.onnx")
fi
python benchmarks/bench_inference.py onnx "${models[@]}" --rounds 3 | tee "$OUT/onnx_speed.log"
echo "quickstart: INT8 quantization, evaluation and speed took $(( SECONDS - t )) s"

echo "quickstart: held-out accuracy of the trained network (eval mode) and of its ONNX export:"
grep "^metric:" "$OUT/eval.log"
grep -i "accuracy" "$OUT/eval_onnx.log"
accuracy() { grep -o "^accuracy: [0-9.]*" "$1" | cut -d' ' -f2; }
speed() { awk -F'|' -v m="$1" '$2 ~ " "m" " {gsub(/ /, "", $4); gsub(/ /, "", $6); print $4 " img/s, " $6 " MB"}' \
    "$OUT/onnx_speed.log"; }
cpu=$(grep -o "this CPU has [^;]*" "$OUT/quantize.log" | cut -d' ' -f4-)
echo "quickstart: onnxruntime on the held-out digits, float32 vs INT8 (accuracy, images/s, file size; CPU: $cpu):"
echo "  float32  $(accuracy "$OUT/eval_onnx.log"), $(speed inceptionv4.onnx)"
if [ -f "$OUT/eval_onnx_int8.log" ]; then
    echo "  INT8     $(accuracy "$OUT/eval_onnx_int8.log"), $(speed inceptionv4_int8.onnx)"
else
    reason=$(tail -n 1 "$OUT/quantize.log" | sed -E 's/^(error: |quantize_onnx: [^;]*; target [^:]*: )//')
    echo "  INT8     not made: $reason"
fi
echo "quickstart: training curves in $OUT/ckpt/ckpt_0/curves.png (per-epoch numbers in metrics.csv beside it)"
echo "quickstart: done in $(( $(date +%s) - start )) s; outputs in $OUT"
