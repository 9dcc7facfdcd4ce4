#!/bin/bash
# Evaluate a checkpoint on one Ascend device with default_config.yaml.
# Usage: bash scripts/run_eval_ascend.sh DEVICE_ID DATA_DIR CHECKPOINT_PATH [--key value ...]
#   DEVICE_ID        Ascend device number (0-7)
#   DATA_DIR         ImageNet root (its val/ or validation_preprocess/ is read) or that folder,
#                    or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   CHECKPOINT_PATH  .ckpt file to evaluate
#   --key value      config overrides passed to eval.py, e.g. --batch_size 64
# Writes ./eval/eval.log (the metric line is its last line).
source "$(dirname "$0")/launch_common.sh"
split_args 3 "$@"
if ! [[ "${POSITIONAL[0]}" =~ ^[0-9]+$ ]]; then
    echo "error: DEVICE_ID must be a device number (0, 1, ...), got '${POSITIONAL[0]}'" >&2
    usage
fi
export DEVICE_ID=${POSITIONAL[0]} RANK_SIZE=1
run_eval default_config.yaml Ascend "${POSITIONAL[1]}" "${POSITIONAL[2]}" --device_id "${POSITIONAL[0]}" "${EXTRA[@]}"
