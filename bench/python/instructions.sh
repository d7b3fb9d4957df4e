#!/usr/bin/env bash
# Instructions per resolve_string_details (direct) or get_string_value
# (client), this package beside OpenFeature's no-op provider, counted by
# callgrind in both runs: (Ir(2N) - Ir(N)) / N. All threads count, so ours
# includes the drainer thread's work (the apply dedup, the exposure's encoding).
# Usage: bench/python/instructions.sh [BUILD_DIR] [N]   (needs valgrind and the
# package installed in BUILD_DIR/python-test-venv-newest, as run.sh leaves it,
# or PYTHON=<a venv's python with the package and openfeature-sdk>)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
n=${2:-4000}
py="${PYTHON:-$build/python-test-venv-newest/bin/python}"
[[ -x "$py" ]] || { echo "instructions.sh: no $py (run tests/python/run.sh or bench/python/run.sh first)" >&2; exit 1; }
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" "$repo/bench/python/instructions.py" "$@" \
    "$build/sample/state.pb" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for how in direct client; do
  for impl in noop native; do
    a=$(ir "$impl" "$n" "$how")
    b=$(ir "$impl" $((2 * n)) "$how")
    echo "$how $impl: $(((b - a) / n)) instructions per evaluation"
  done
done
