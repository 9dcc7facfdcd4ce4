#!/bin/bash
# Evaluate a checkpoint on the CPU with default_config_cpu.yaml.
# Usage: bash scripts/run_eval_cpu.sh DATA_DIR CHECKPOINT_PATH [--key value ...]
#   DATA_DIR         ImageNet root (its val/ or validation_preprocess/ is read) or that folder,
#                    or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   CHECKPOINT_PATH  .ckpt file to evaluate
#   --key value      config overrides passed to eval.py, e.g. --batch_size 16
# Writes ./eval/eval.log (the metric line is its last line).
source "$(dirname "$0")/launch_common.sh"
split_args 2 "$@"
run_eval default_config_cpu.yaml CPU "${POSITIONAL[@]}" "${EXTRA[@]}"
