#!/bin/bash
# Create .venv beside this project and install requirements.txt into it (skipped when unchanged).
# Usage: source scripts/setup_env.sh        (leaves the venv active; VENV=/path overrides its place)
set -e
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="${VENV:-$_root/.venv}"
if [ ! -x "$_venv/bin/python" ]; then
    echo "setup: creating $_venv"
    python3 -m venv "$_venv"
fi
_stamp="$_venv/.requirements.sha256"
_want="$(sha256sum "$_root/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    echo "setup: installing requirements.txt into $_venv"
    "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$_root/requirements.txt"
    echo "$_want" > "$_stamp"
fi
# shellcheck disable=SC1091
source "$_venv/bin/activate"
cd "$_root"
set +e
