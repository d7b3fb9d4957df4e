#!/usr/bin/env bash
# Instructions per resolve_string_details (direct) or get_string_value
# (client), this package beside OpenFeature's no-op provider, counted by
# callgrind in both runs: (Ir(2N) - Ir(N)) / N, on the evaluating thread only
# (how much of its work the drainer thread gets done within a run depends on
# how valgrind schedules it, so counting all threads varied by 2,500).
# Usage: bench/python/instructions.sh [BUILD_DIR] [N]   (needs valgrind and the
# package installed in BUILD_DIR/python-test-venv-newest, as run.sh leaves it,
# or PYTHON=<a venv's python with the package and openfeature-sdk>)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
n=${2:-4000}
py="${PYTHON:-$build/python-test-venv-newest/bin/python}"
[[ -x "$py" ]] || { echo "instructions.sh: no $py (run tests/python/run.sh or bench/python/run.sh first)" >&2; exit 1; }
# Instructions of thread $1 (1: the main thread, which evaluates) in a run
# of instructions.py with the remaining args.
ir() {
  local thread=$1 out
  shift
  out=$(mktemp -d)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg" "$py" \
    "$repo/bench/python/instructions.py" "$@" "$build/sample/state.pb" >/dev/null 2>&1
  sed -n 's/^summary: *//p' "$out/cg-0$thread" 2>/dev/null || echo 0
  rm -rf "$out"
}
for how in direct client; do
  for impl in noop native; do
    a=$(ir 1 "$impl" "$n" "$how")
    b=$(ir 1 "$impl" $((2 * n)) "$how")
    echo "$how $impl: $(((b - a) / n)) instructions per evaluation on the evaluating thread"
  done
done
