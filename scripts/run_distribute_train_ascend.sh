#!/bin/bash
# Data-parallel training on the Ascend devices of an HCCL rank table with default_config.yaml: one process per
# device of this server, in the background, each in ./train_parallel<rank>/ with its log there in log.txt.
# Usage: bash scripts/run_distribute_train_ascend.sh [--dry-run] RANK_TABLE_FILE DATA_DIR [--key value ...]
#   RANK_TABLE_FILE  HCCL rank table (JSON) listing the devices of every server, e.g. made by hccl_tools.py
#   DATA_DIR         ImageNet root (its train/ is read) or train/ folder,
#                    or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   --key value      config overrides passed to train.py, e.g. --epoch_size 90
#   --dry-run        print the commands instead of running them (or set DRY_RUN=1)
# Environment:
#   HCCL_CONNECT_TIMEOUT  seconds HCCL waits for all devices to connect (set to 600 unless given)
#   SERVER_ID             this machine's server_id in a multi-server table (default: found by IP address)
#   BIND_CORES=0          do not bind each process to its own CPU cores with taskset
source "$(dirname "$0")/distribute_common.sh"
parse_launcher_args 2 2 "$@"
rank_table=$(realpath -m "${POSITIONAL[0]}")
data_dir=$(existing_dir DATA_DIR "${POSITIONAL[1]}") || exit 2
python=${PYTHON:-python3}

devices=$(cd "$ROOT" && "$python" -m src.tools.rank_table "$rank_table" --server_id "${SERVER_ID:-}" \
    --local_ips "$(hostname -I 2>/dev/null)") || exit 2
rank_size=$(head -n 1 <<< "$devices" | cut -d' ' -f2)
devices=$(tail -n +2 <<< "$devices")
first_rank=$(head -n 1 <<< "$devices" | cut -d' ' -f1)
local_num=$(wc -l <<< "$devices")
timeout=${HCCL_CONNECT_TIMEOUT:-600}
note "HCCL_CONNECT_TIMEOUT=$timeout: HCCL waits $timeout s for all devices (its default 120 s can run out while"\
" Inception-v4 compiles)"

# taskset: each process gets its own block of at least 2 cores, when the cores are not already restricted.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
all_cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc --all)
per_rank=$((cores / local_num))
bind=0
if [ "${BIND_CORES:-1}" != 0 ] && [ "$cores" -eq "$all_cores" ] && [ "$per_rank" -ge 2 ]; then
    bind=1
    note "binding each process to $per_rank of the $cores CPU cores with taskset (BIND_CORES=0 disables)"
fi

note "starting $local_num of $rank_size ranks on this server; logs: $(pwd)/train_parallel<rank>/log.txt"
index=0
while read -r rank device; do
    dir=$(pwd)/train_parallel$rank
    command=(env "RANK_TABLE_FILE=$rank_table" "RANK_SIZE=$rank_size" "RANK_ID=$rank" "DEVICE_ID=$device"
             "HCCL_CONNECT_TIMEOUT=$timeout")
    if [ "$bind" = 1 ]; then
        command+=(taskset -c "$((index * per_rank))-$((index * per_rank + per_rank - 1))")
    fi
    command+=("$python" "$ROOT/train.py" --config_path "$ROOT/default_config.yaml" --dataset_path "$data_dir"
              --device_id "$device" "${EXTRA[@]}")
    note "rank $rank on device $device: log $dir/log.txt"
    run_line "mkdir -p $(quote "$dir") && cd $(quote "$dir") && $(quote "${command[@]}") < /dev/null > log.txt 2>&1 &"
    index=$((index + 1))
done <<< "$devices"
note "the processes run in the background: follow one with tail -f $(pwd)/train_parallel${first_rank}/log.txt"
