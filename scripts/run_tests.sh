#!/bin/bash
# Set everything up on a fresh machine and run the whole test suite (slow end-to-end tests included).
# Usage: bash scripts/run_tests.sh [pytest arguments]
set -e
source "$(dirname "$0")/setup_env.sh"
set -e
bash scripts/install_system_deps.sh
python -m pytest -ra "$@"
