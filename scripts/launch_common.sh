#!/bin/bash
# Helpers sourced by the launchers in scripts/; not run directly.

# Print the launcher's usage (its header comment, from line 2 up to the first non-comment line) and exit 2.
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# split_args N ARGS...: the first N arguments go to POSITIONAL, the rest to EXTRA; usage unless there are
# exactly N arguments before the first --key and the rest are --key value pairs.
split_args() {
    local want=$1; shift
    POSITIONAL=(); EXTRA=()
    while [ $# -gt 0 ] && [ "${1:0:2}" != "--" ]; do POSITIONAL+=("$1"); shift; done
    EXTRA=("$@")
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
