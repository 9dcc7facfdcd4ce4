#!/bin/bash
# Train on one Ascend device with default_config.yaml.
# Usage: bash scripts/run_standalone_train_ascend.sh DEVICE_ID DATA_DIR [--key value ...]
#   DEVICE_ID     Ascend device to use (0-7)
#   DATA_DIR      ImageNet root (its train/ is read) or train/ folder,
#                 or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   --key value   config overrides passed to train.py
# Runs in ./train_standalone<DEVICE_ID>/: log in log.txt there, checkpoints under <ckpt_path>/ckpt_0/.
source "$(dirname "$0")/launch_common.sh"
split_args 2 "$@"
case "${POSITIONAL[0]}" in
    ''|*[!0-9]*) echo "error: DEVICE_ID must be a device number, got '${POSITIONAL[0]}'" >&2; usage ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
export DEVICE_ID=${POSITIONAL[0]} RANK_ID=0 RANK_SIZE=1
run_logged "train_standalone$DEVICE_ID" log.txt "${PYTHON:-python3}" "$root/train.py" \
    --config_path "$root/default_config.yaml" --device_id "$DEVICE_ID" \
    --dataset_path "$(realpath -m "${POSITIONAL[1]}")" "${EXTRA[@]}"
