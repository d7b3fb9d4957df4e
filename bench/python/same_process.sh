#!/usr/bin/env bash
# bench/python/same_process.py in the test venv (the package as run.sh or
# tests/python/run.sh installed it), against the sample state; no backend.
# Usage: bench/python/same_process.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
py="${PYTHON:-$build/python-test-venv-newest/bin/python}"
[[ -x "$py" ]] || { echo "same_process.sh: no $py (run tests/python/run.sh or bench/python/run.sh first)" >&2; exit 1; }
[[ -s "$build/sample/state.pb" ]] || { echo "same_process.sh: $build/sample/state.pb missing (cmake --build $build)" >&2; exit 1; }
cd /tmp && "$py" -I "$repo/bench/python/same_process.py" "$build/sample/state.pb" "${2:-30}"
