#!/bin/bash
# Create .venv beside this project, install requirements.txt into it (skipped when unchanged) and activate it.
# Usage: source scripts/setup_env.sh      (from any folder; `bash scripts/setup_env.sh` only installs)
# Environment: VENV=/path places the venv elsewhere; REQUIREMENTS=file installs that file instead.
# Sourcing leaves your shell's options (set -e, -u, pipefail, ...) and current folder as they were; a failure is
# reported in one line and `source` returns 1, it does not exit your shell.

# _inceptionv4_setup_env ROOT: the work; 1 with a message on the first failure. Runs where errexit is ignored.
_inceptionv4_setup_env() {
    local root=$1
    local venv=${VENV:-$root/.venv} requirements=${REQUIREMENTS:-$root/requirements.txt}
    local stamp want
    if [ ! -x "$venv/bin/python" ]; then
        echo "setup: creating $venv"
        if ! python3 -m venv "$venv"; then
            echo "setup: error: 'python3 -m venv $venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi
    if ! want=$(sha256sum "$requirements" 2>/dev/null | cut -d' ' -f1) || [ -z "$want" ]; then
        echo "setup: error: cannot read the requirements file '$requirements'" >&2
        return 1
    fi
    stamp=$venv/.requirements.sha256
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "setup: installing $requirements into $venv"
        if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
            echo "setup: error: installing '$requirements' into $venv failed (pip's message above); fix it and" \
                 "source scripts/setup_env.sh again" >&2
            return 1
        fi
        echo "$want" > "$stamp"
    fi
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
}

if _inceptionv4_setup_env "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"; then
    unset -f _inceptionv4_setup_env
    return 0 2>/dev/null || exit 0
else
    unset -f _inceptionv4_setup_env
    return 1 2>/dev/null || exit 1
fi
