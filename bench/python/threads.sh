#!/usr/bin/env bash
# 1 thread vs 2 threads through this package (bench/python/threads.py), on
# free-threaded CPython (scripts/python-freethreaded.sh, a venv of its own
# with the newest openfeature-sdk and this package) or, with PYTHON=<a venv's
# python that has both>, on any other. Against the local backend serving the
# sample state, as bench/python/run.sh.
# Usage: bench/python/threads.sh [BUILD_DIR] [N_PER_THREAD] [ROUNDS]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "${1:-$repo/build}"
build="$(cd "${1:-$repo/build}" && pwd)"
source "$repo/scripts/lib.sh"
source "$repo/bench/python/common.sh"
[[ -s $build/sample/state.pb ]] || { echo "threads.sh: $build/sample/state.pb missing (cmake --build $build)" >&2; exit 1; }
python=${PYTHON:-}
if [[ -z $python ]]; then
  venv="$build/bench-venv-freethreaded"
  ensure_venv "$venv" "$("$repo/scripts/python-freethreaded.sh" "$build")"
  # Quiet unless they fail: a failed install must not benchmark what was there before.
  quiet "$venv/bin/python" -m pip install --disable-pip-version-check openfeature-sdk
  quiet "$venv/bin/python" -m pip install --disable-pip-version-check "$repo"
  python="$venv/bin/python"
fi
secret=demo-client-secret
bench_start_backend threads 900 --secret "$secret"
(cd /tmp && env -u PYTHON_GIL "$python" -I "$repo/bench/python/threads.py" "$http" "$grpc" "$secret" "${2:-20000}" "${3:-20}")
