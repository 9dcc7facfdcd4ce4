#!/bin/bash
# Build the inference app and say which backends it has.
# Usage: bash build.sh
# Environment:
#   MINDSPORE_PATH  folder with MindSpore's C++ inference API (include/api/model.h) and its library in lib/:
#                   libmindspore.so (MindSpore for Ascend), libmindspore-lite.so (MindSpore Lite's runtime/)
#                   or libmindspore-extendrt_python.so (mindspore_lite/ of the unpacked mindspore-lite wheel).
#                   Default: the mindspore package python3 imports (its pip wheels lack the C++ API).
#   BUILD_DIR       CMake's build folder; the app is written there as BUILD_DIR/main
#                   (default: build in ascend310_infer/build, app ascend310_infer/out/main)
# The CPU backend (OpenCV DNN on ONNX) is always built; the Ascend backend (MindSpore on MINDIR) only when
# MINDSPORE_PATH has the C++ API.
set -e
[ -n "$BUILD_DIR" ] && BUILD_DIR=$(realpath -m "$BUILD_DIR")  # relative paths: from the caller's folder
[ -n "$MINDSPORE_PATH" ] && MINDSPORE_PATH=$(realpath -m "$MINDSPORE_PATH")
cd "$(dirname "$0")"
if [ -z "$MINDSPORE_PATH" ] && command -v python3 >/dev/null; then
    MINDSPORE_PATH="$(python3 -c 'import importlib.util as u; s = u.find_spec("mindspore")
print(s.submodule_search_locations[0] if s else "")' 2>/dev/null || true)"
fi
build_dir=${BUILD_DIR:-build}
out_dir=${BUILD_DIR:-$(pwd)/out}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMINDSPORE_PATH="$MINDSPORE_PATH" -DAPP_OUT_DIR="$out_dir"
cmake --build "$build_dir" -j "$(nproc)"
echo "built $out_dir/main with:"
cat "$build_dir/backends.txt"
