#!/bin/bash
# Build the inference app into ascend310_infer/out/main.
# Usage: bash build.sh            (MINDSPORE_PATH=<dir> bash build.sh to choose the MindSpore install)
# The Ascend backend is compiled in when MINDSPORE_PATH, or else the mindspore package importable by
# python3, ships the C++ inference API (include/api/model.h and lib/libmindspore.so); the CPU backend
# (OpenCV DNN on ONNX) is always built.
set -e
cd "$(dirname "$0")"
if [ -z "$MINDSPORE_PATH" ] && command -v python3 >/dev/null; then
    MINDSPORE_PATH="$(python3 -c 'import importlib.util as u; s = u.find_spec("mindspore")
print(s.submodule_search_locations[0] if s else "")' 2>/dev/null || true)"
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMINDSPORE_PATH="$MINDSPORE_PATH"
cmake --build build -j "$(nproc)"
echo "built $(pwd)/out/main"
