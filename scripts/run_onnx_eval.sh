#!/bin/bash
# Evaluate an exported ONNX model with onnxruntime (config default_config_cpu.yaml or _gpu.yaml).
# Usage: bash scripts/run_onnx_eval.sh DATA_PATH DATASET_TYPE DEVICE_TYPE FILE_TYPE ONNX_PATH [--key value ...]
#   DATA_PATH     ImageNet root (its val/ or validation_preprocess/ is read) or that folder,
#                 or the CIFAR-10 folder holding cifar-10-verify-bin
#   DATASET_TYPE  imagenet or cifar10
#   DEVICE_TYPE   CPU (CPUExecutionProvider) or GPU (CUDAExecutionProvider, needs onnxruntime-gpu)
#   FILE_TYPE     ONNX
#   ONNX_PATH     model written by 'python export.py --file_format ONNX'
#   --key value   config overrides passed to eval_onnx.py, e.g. --work_nums 4
# Writes ./eval_onnx/eval_onnx.log (the accuracy lines are its last lines).
source "$(dirname "$0")/launch_common.sh"
split_args 5 "$@"
case "${POSITIONAL[2]}" in
    CPU) config=default_config_cpu.yaml ;;
    GPU) config=default_config_gpu.yaml ;;
    *) echo "error: DEVICE_TYPE must be CPU or GPU, got '${POSITIONAL[2]}'" >&2; usage ;;
esac
if [ "${POSITIONAL[3]}" != "ONNX" ]; then
    echo "error: FILE_TYPE must be ONNX (MINDIR and AIR models are evaluated by other tools), got '${POSITIONAL[3]}'" >&2
    usage
fi
root=$(cd "$(dirname "$0")/.." && pwd)
run_logged eval_onnx eval_onnx.log "${PYTHON:-python3}" "$root/eval_onnx.py" --config_path "$root/$config" \
    --dataset_path "$(realpath -m "${POSITIONAL[0]}")" --ds_type "${POSITIONAL[1]}" \
    --device_target "${POSITIONAL[2]}" --file_name "$(realpath -m "${POSITIONAL[4]}")" "${EXTRA[@]}"
