#!/bin/bash
# Inference on Ascend 310/310P with the exported MINDIR model (the model zoo's interface).
# Usage: bash scripts/run_infer_310.sh MINDIR_PATH DATA_PATH LABEL_FILE [DEVICE_ID] [--key value ...]
# Same as: bash scripts/run_infer_cpp.sh MINDIR_PATH DATA_PATH LABEL_FILE Ascend [DEVICE_ID] [--key value ...]
positional=()
while [ $# -gt 0 ] && [ "${1:0:2}" != "--" ]; do positional+=("$1"); shift; done
if [ ${#positional[@]} -lt 3 ] || [ ${#positional[@]} -gt 4 ]; then
    sed -n '3,4p' "$0" | sed 's/^# //' >&2
    exit 2
fi
exec bash "$(dirname "$0")/run_infer_cpp.sh" "${positional[@]:0:3}" Ascend "${positional[3]:-0}" "$@"
