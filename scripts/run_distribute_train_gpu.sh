#!/bin/bash
# Data-parallel training on DEVICE_NUM GPUs of this machine with mpirun and NCCL, with default_config_gpu.yaml,
# in the background in ./train_parallel/: the log is log.txt there, each rank's output log_output/1/rank.<r>/.
# Usage: bash scripts/run_distribute_train_gpu.sh [--dry-run] DATA_PATH [DEVICE_NUM] [--key value ...]
#   DATA_PATH    ImageNet root (its train/ is read) or train/ folder,
#                or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   DEVICE_NUM   number of GPUs, one process each (default 8); CUDA_VISIBLE_DEVICES chooses which GPUs
#   --key value  config overrides passed to train.py, e.g. --epoch_size 90
#   --dry-run    print the command instead of running it (or set DRY_RUN=1)
# Needs OpenMPI's mpirun; several machines: use run_distribute_train_msrun.sh.
source "$(dirname "$0")/distribute_common.sh"
parse_launcher_args 1 2 "$@"
data_dir=$(existing_dir DATA_PATH "${POSITIONAL[0]}") || exit 2
device_num=$(whole_number DEVICE_NUM "${POSITIONAL[1]:-8}" 1) || exit 2
require_command mpirun "install OpenMPI (4.x) for GPU training, or use scripts/run_distribute_train_msrun.sh"

mpirun=(mpirun)
[ "$(id -u)" = 0 ] && mpirun+=(--allow-run-as-root)
mpirun+=(-n "$device_num" --output-filename log_output --merge-stderr-to-stdout
         "${PYTHON:-python3}" "$ROOT/train.py" --config_path "$ROOT/default_config_gpu.yaml"
         --dataset_path "$data_dir" "${EXTRA[@]}")
dir=$(pwd)/train_parallel
note "starting $device_num processes (NCCL); log $dir/log.txt, per rank $dir/log_output/1/rank.<rank>/stdout"
run_line "mkdir -p $(quote "$dir") && cd $(quote "$dir") && $(quote "${mpirun[@]}") < /dev/null > log.txt 2>&1 &"
