#!/bin/bash
# Helpers sourced by the launchers in scripts/; not run directly.

# Print the launcher's usage (its header comment, from line 2 up to the first non-comment line) and exit 2.
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# absolute PATH: PATH made absolute against the current folder ('' and URLs such as s3://... unchanged).
absolute() {
    case "$1" in
        '' | *://*) echo "$1" ;;
        *) realpath -m -- "$1" ;;
    esac
}

# is_path_key KEY: whether config key KEY names a file or folder (the launchers change folder before running
# Python, so such values given on their command line are made absolute first).
is_path_key() {
    case "$1" in
        *_path | *_file | *_dir | resume | pretrained | file_name) return 0 ;;
        *) return 1 ;;
    esac
}

# absolute_path_args ARGS...: EXTRA = the --key value (or --key=value) arguments ARGS with the value of every
# path key made absolute, so each names what it names in the user's shell.
absolute_path_args() {
    EXTRA=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --*=*)
                local key=${1%%=*}
                key=${key#--}
                if is_path_key "$key"; then EXTRA+=("--$key=$(absolute "${1#*=}")"); else EXTRA+=("$1"); fi
                shift ;;
            --*)
                EXTRA+=("$1")
                if is_path_key "${1#--}" && [ $# -gt 1 ]; then EXTRA+=("$(absolute "$2")"); shift; fi
                shift ;;
            *) EXTRA+=("$1"); shift ;;
        esac
    done
}

# split_args N ARGS...: the first N arguments go to POSITIONAL, the rest (paths made absolute) to EXTRA; usage
# unless there are exactly N arguments before the first --key and the rest are --key value pairs.
split_args() {
    local want=$1; shift
    POSITIONAL=(); EXTRA=()
    while [ $# -gt 0 ] && [ "${1:0:2}" != "--" ]; do POSITIONAL+=("$1"); shift; done
    absolute_path_args "$@"
    if [ ${#POSITIONAL[@]} -ne "$want" ]; then
        echo "error: expected $want arguments before any --key value, got ${#POSITIONAL[@]}" >&2
        usage
    fi
}

# run_logged RUN_DIR LOG_NAME COMMAND...: run COMMAND inside RUN_DIR (created if needed), showing its output
# and saving it to RUN_DIR/LOG_NAME; exit with the command's status.
run_logged() {
    local run_dir=$1 log=$2; shift 2
    mkdir -p "$run_dir" && cd "$run_dir" || exit 1
    echo "run directory: $(pwd), log: $(pwd)/$log"
    "$@" 2>&1 | tee "$log"
    exit "${PIPESTATUS[0]}"
}

# run_eval CONFIG DEVICE_TARGET DATA_DIR CHECKPOINT_PATH [ARGS...]: eval.py with the project's config file CONFIG
# on DEVICE_TARGET, DATA_DIR and CHECKPOINT_PATH made absolute, in ./eval/ with its output in eval/eval.log (the
# three run_eval_*.sh launchers).
run_eval() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    run_logged eval eval.log "${PYTHON:-python3}" "$root/eval.py" --config_path "$root/$1" --device_target "$2" \
        --dataset_path "$(realpath -m "$3")" --checkpoint_path "$(realpath -m "$4")" "${@:5}"
}
