#!/bin/bash
# Download the mindspore-lite 2.0.0 wheel (~170 MB, Python 3.7 only; never installed) and unpack its C++ API
# headers and libraries into a cache folder outside the project; print the folder to pass as MINDSPORE_PATH
# to ascend310_infer/build.sh. Does nothing but print it when it is already unpacked.
# Usage: MINDSPORE_PATH=$(bash scripts/fetch_mindspore_lite.sh [CACHE_DIR]) bash ascend310_infer/build.sh
#   CACHE_DIR  default ${XDG_CACHE_HOME:-~/.cache}/inceptionv4;  PYTHON: the python whose pip downloads
set -eo pipefail
version=2.0.0
python=${PYTHON:-python3}
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/inceptionv4}
target=$cache/mindspore-lite-$version

# unpack WHEEL: its mindspore_lite/include and mindspore_lite/lib into $target (complete or absent).
unpack() {
    rm -rf "$target.partial"
    "$python" - "$1" "$target.partial" <<'PY' || return 1
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [name for name in wheel.namelist()
                                   if name.startswith(("mindspore_lite/include/", "mindspore_lite/lib/"))])
PY
    rm -rf "$target"
    mv "$target.partial" "$target"
}

for attempt in 1 2; do
    [ -f "$target/mindspore_lite/include/api/model.h" ] && break
    mkdir -p "$cache/download"
    echo "fetch: downloading mindspore-lite==$version into $cache/download" >&2
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps --python-version 3.7 \
        --only-binary=:all: -d "$cache/download" "mindspore-lite==$version" >&2
    wheel=$(ls "$cache/download"/mindspore_lite-"$version"-*.whl)
    echo "fetch: unpacking include/ and lib/ of $wheel into $target" >&2
    if ! unpack "$wheel"; then
        echo "fetch: $wheel is damaged; removed$([ "$attempt" = 1 ] && echo ", downloading it again")" >&2
        rm -f "$wheel"
    fi
done
[ -f "$target/mindspore_lite/include/api/model.h" ] || { echo "error: could not fetch mindspore-lite" >&2; exit 1; }
echo "$target/mindspore_lite"
