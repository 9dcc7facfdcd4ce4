#!/bin/bash
# Build the C++ inference app, run it on a folder of images, then compute the accuracy.
# Usage: bash scripts/run_infer_cpp.sh MODEL_PATH DATA_PATH LABEL_FILE DEVICE_TYPE [DEVICE_ID] [--key value ...]
#   MODEL_PATH   exported model: ONNX for DEVICE_TYPE=CPU, MINDIR for DEVICE_TYPE=Ascend (310/310P)
#   DATA_PATH    folder of images, flat or with one sub-folder per class
#   LABEL_FILE   <image-stem>:<class index> lines (python -m src.tools.make_label_file writes one)
#   DEVICE_TYPE  CPU or Ascend;  DEVICE_ID  Ascend device (default 0)
#   --key value  --crop_pct, --image_mean, --image_std, --interpolation go to the app and replace the
#                preprocessing recorded in the model file (e.g. --crop_pct 0.875); others go to postprocess.py,
#                e.g. --config_path default_config_cpu.yaml; num_classes is the model's output size
#                (model_info.txt), a --num_classes that differs is reported and replaced
# Writes build.log, infer.log, model_info.txt, acc.log, result_Files/ and time_Result/ in the current folder.
# The app is built into ascend310_infer/out/main, or BUILD_DIR/main when the environment sets BUILD_DIR.
usage() {
    sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
positional=()
while [ $# -gt 0 ] && [ "${1:0:2}" != "--" ]; do positional+=("$1"); shift; done
app_args=()
post_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --crop_pct=* | --image_mean=* | --image_std=* | --interpolation=*) app_args+=("$1"); shift ;;
        --crop_pct | --image_mean | --image_std | --interpolation)
            if [ $# -lt 2 ]; then echo "error: $1 needs a value" >&2; usage; fi
            app_args+=("$1=$2"); shift 2 ;;
        *) post_args+=("$1"); shift ;;
    esac
done
if [ ${#positional[@]} -lt 4 ] || [ ${#positional[@]} -gt 5 ]; then usage; fi
device_type=${positional[3]}
device_id=${positional[4]:-0}
if [ "$device_type" != "CPU" ] && [ "$device_type" != "Ascend" ]; then
    echo "error: DEVICE_TYPE must be CPU or Ascend, got '$device_type'" >&2; usage
fi
if ! [[ "$device_id" =~ ^[0-9]+$ ]]; then
    echo "error: DEVICE_ID must be a non-negative integer, got '$device_id'" >&2; usage
fi
model=$(realpath -m "${positional[0]}")
data_path=$(realpath -m "${positional[1]}")
label_file=$(realpath -m "${positional[2]}")
if [ ! -f "$label_file" ]; then
    echo "error: label file '$label_file' does not exist (write one with python -m src.tools.make_label_file)" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
echo "model: $model"; echo "dataset: $data_path"; echo "label file: $label_file"
echo "device: $device_type $device_id"

if ! bash "$root/ascend310_infer/build.sh" > build.log 2>&1; then
    echo "error: compiling the inference app failed, see $(pwd)/build.log:" >&2; tail -n 15 build.log >&2
    exit 1
fi
rm -rf result_Files time_Result model_info.txt
app=$root/ascend310_infer/out/main
[ -n "$BUILD_DIR" ] && app=$(realpath -m "$BUILD_DIR")/main  # build.sh's BUILD_DIR: the app is built there
if ! "$app" --model_path="$model" --dataset_path="$data_path" \
        --device_type="$device_type" --device_id="$device_id" "${app_args[@]}" > infer.log 2>&1; then
    echo "error: inference failed, see $(pwd)/infer.log:" >&2; tail -n 5 infer.log >&2
    exit 1
fi
grep -e "^preprocessing: " -e "NN inference cost" infer.log
num_classes=$(sed -n 's/^num_classes: //p' model_info.txt)
given=""
for ((i = 0; i < ${#post_args[@]}; i++)); do
    case "${post_args[i]}" in
        --num_classes) given=${post_args[i + 1]} ;;
        --num_classes=*) given=${post_args[i]#*=} ;;
    esac
done
if [ -n "$given" ] && [ "$given" != "$num_classes" ]; then
    echo "warning: --num_classes $given differs from the model's $num_classes outputs: using $num_classes" >&2
fi
echo "num_classes: $num_classes (the model's output size, from model_info.txt)"
if ! "${PYTHON:-python3}" "$root/postprocess.py" --result_path ./result_Files --label_file "$label_file" \
        "${post_args[@]}" --num_classes "$num_classes" > acc.log 2>&1; then
    echo "error: computing the accuracy failed, see $(pwd)/acc.log:" >&2; tail -n 5 acc.log >&2
    exit 1
fi
cat acc.log
