#!/bin/bash
# Data-parallel training with msrun, MindSpore's own launcher (Ascend, GPU or CPU; no rank table, no MPI).
# Starts this machine's workers and waits for them: rank 0's log is shown, every worker's is in
# LOG_DIR/worker_<rank>.log (the scheduler's in LOG_DIR/scheduler.log), checkpoints go to ckpt_path/ckpt_<rank>/.
# Usage: bash scripts/run_distribute_train_msrun.sh [--dry-run] DATA_PATH WORKER_NUM [CONFIG] [--key value ...]
#   DATA_PATH    ImageNet root (its train/ is read) or train/ folder,
#                or the CIFAR-10 folder with --ds_type cifar10 --num_classes 10
#   WORKER_NUM   workers (devices) of the whole job, over all machines
#   CONFIG       Ascend, GPU or CPU for default_config.yaml, default_config_gpu.yaml or default_config_cpu.yaml
#                (default Ascend), or the path of a config file
#   --key value  config overrides passed to train.py, e.g. --epoch_size 90
#   --dry-run    print the command instead of running it (or set DRY_RUN=1)
# Environment (several machines: run this on each with the same WORKER_NUM and MASTER_ADDR):
#   LOCAL_WORKER_NUM  workers on this machine (default WORKER_NUM)
#   NODE_RANK         index of this machine, 0 on the master; ranks are NODE_RANK * LOCAL_WORKER_NUM + local
#                     index (default: msrun numbers the workers as they join)
#   MASTER_ADDR       IP address of the machine that runs msrun's scheduler, the master (default 127.0.0.1)
#   MASTER_PORT       the scheduler's TCP port (default 8118)
#   LOG_DIR           folder of the logs (default ./msrun_log)
#   CLUSTER_TIME_OUT  seconds to wait for all workers to join (default 600)
source "$(dirname "$0")/distribute_common.sh"
parse_launcher_args 2 3 "$@"
data_dir=$(existing_dir DATA_PATH "${POSITIONAL[0]}") || exit 2
worker_num=$(whole_number WORKER_NUM "${POSITIONAL[1]}" 1) || exit 2
case "${POSITIONAL[2]:-Ascend}" in
    Ascend) config=$ROOT/default_config.yaml ;;
    GPU) config=$ROOT/default_config_gpu.yaml ;;
    CPU) config=$ROOT/default_config_cpu.yaml ;;
    *) [ -f "${POSITIONAL[2]}" ] ||
           usage_error "CONFIG must be Ascend, GPU, CPU or an existing config file, got '${POSITIONAL[2]}'"
       config=$(realpath "${POSITIONAL[2]}") ;;
esac
local_num=$(whole_number LOCAL_WORKER_NUM "${LOCAL_WORKER_NUM:-$worker_num}" 1) || exit 2
[ "$local_num" -le "$worker_num" ] || usage_error "LOCAL_WORKER_NUM ($local_num) exceeds WORKER_NUM ($worker_num)"
port=$(whole_number MASTER_PORT "${MASTER_PORT:-8118}" 1024) || exit 2
[ "$port" -le 65535 ] || usage_error "MASTER_PORT must be at most 65535, got '$port'"
timeout=$(whole_number CLUSTER_TIME_OUT "${CLUSTER_TIME_OUT:-600}" 1) || exit 2
log_dir=$(realpath -m "${LOG_DIR:-msrun_log}")
require_command msrun "it comes with MindSpore 2.3 or later: activate the environment that has MindSpore"

command=(msrun "--worker_num=$worker_num" "--local_worker_num=$local_num" "--master_addr=${MASTER_ADDR:-127.0.0.1}"
         "--master_port=$port")
if [ -n "${NODE_RANK:-}" ]; then
    node_rank=$(whole_number NODE_RANK "$NODE_RANK" 0) || exit 2
    command+=("--node_rank=$node_rank")
fi
command+=("--log_dir=$log_dir" --join=True "--cluster_time_out=$timeout" --tail_worker_log=0
          "$ROOT/train.py" --config_path "$config" --dataset_path "$data_dir" "${EXTRA[@]}")
note "starting $local_num of $worker_num workers; logs in $log_dir/worker_<rank>.log"
run_line "$(quote "${command[@]}")" || {
    status=$?
    echo "error: the distributed job failed (msrun exit status $status): see the logs in $log_dir" >&2
    exit "$status"
}
