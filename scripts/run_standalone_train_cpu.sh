#!/bin/bash
# Train on the CPU with default_config_cpu.yaml.
# Usage: bash scripts/run_standalone_train_cpu.sh DATA_PATH [--key value ...]
#   DATA_PATH     ImageNet root (its train/ is read) or train/ folder,
#                 or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   --key value   config overrides passed to train.py, e.g. --epoch_size 5 --eval_dataset_path VAL_DIR
# Runs in ./train_cpu/: log in train_cpu/log.txt, checkpoints in <ckpt_path>/ckpt_0/ (default train_cpu/ckpt/).
# Paths, also in --key value settings, are taken from the current folder.
source "$(dirname "$0")/launch_common.sh"
split_args 1 "$@"
root=$(cd "$(dirname "$0")/.." && pwd)
run_logged train_cpu log.txt "${PYTHON:-python3}" "$root/train.py" --config_path "$root/default_config_cpu.yaml" \
    --dataset_path "$(realpath -m "${POSITIONAL[0]}")" "${EXTRA[@]}"
