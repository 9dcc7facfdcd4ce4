#!/bin/bash
# Set everything up on a fresh machine and run the whole test suite (slow end-to-end tests included).
# Usage: bash scripts/run_tests.sh [pytest arguments]
set -e
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-test.txt
bash scripts/install_system_deps.sh
python -m pytest -ra "$@"
