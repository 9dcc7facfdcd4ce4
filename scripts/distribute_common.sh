#!/bin/bash
# Helpers sourced by the distributed-training launchers (run_distribute_train_*.sh); not run directly.
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# usage_error MESSAGE: print "error: MESSAGE" and the launcher's usage, exit 2.
usage_error() {
    echo "error: $1" >&2
    usage
}

# parse_launcher_args MIN MAX ARGS...: an optional leading --dry-run (or DRY_RUN=1 in the environment), then
# MIN to MAX positional arguments, then train.py's --key value overrides (paths made absolute). Sets DRY_RUN,
# POSITIONAL, EXTRA.
parse_launcher_args() {
    local min=$1 max=$2; shift 2
    DRY_RUN=${DRY_RUN:-0}
    if [ "$1" = "--dry-run" ]; then DRY_RUN=1; shift; fi
    POSITIONAL=(); EXTRA=()
    while [ $# -gt 0 ] && [ "${1:0:2}" != "--" ]; do POSITIONAL+=("$1"); shift; done
    absolute_path_args "$@"
    local got=${#POSITIONAL[@]} want=$min
    [ "$max" -gt "$min" ] && want="$min to $max"
    if [ "$got" -lt "$min" ] || [ "$got" -gt "$max" ]; then
        usage_error "expected $want arguments before any --key value, got $got"
    fi
    case " ${EXTRA[*]} " in *" --dry-run "*) usage_error "--dry-run must come first";; esac
}

# whole_number NAME VALUE MIN: VALUE if it is a whole number >= MIN, else a usage error naming NAME.
whole_number() {
    if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
        usage_error "$1 must be a whole number of at least $3, got '$2'"
    fi
    echo "$2"
}

# existing_dir NAME PATH: the absolute path of folder PATH, else a usage error naming NAME.
existing_dir() {
    [ -d "$2" ] || usage_error "$1 '$(absolute "$2")' is not an existing folder"
    realpath "$2"
}

# require_command NAME HINT: exit 2 with HINT unless NAME is on PATH (not checked in a dry run).
require_command() {
    if [ "$DRY_RUN" != 1 ] && ! command -v "$1" >/dev/null; then
        echo "error: '$1' not found on PATH: $2" >&2
        exit 2
    fi
}

# quote WORD...: the words as one shell-quoted line.
quote() {
    local out=() word
    for word in "$@"; do out+=("$(printf '%q' "$word")"); done
    echo "${out[*]}"
}

# note TEXT: information for the user; a shell comment in a dry run, so the output stays a runnable script.
note() {
    if [ "$DRY_RUN" = 1 ]; then echo "# $1"; else echo "$1"; fi
}

# run_line LINE: run the shell line LINE (built with quote), or print it exactly in a dry run.
run_line() {
    if [ "$DRY_RUN" = 1 ]; then echo "$1"; else eval "$1"; fi
}
