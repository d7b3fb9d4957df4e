#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan (library included) in
# build-fuzz and runs each one for SECONDS (default 30) on seeds generated
# from ../shared/conformance. Exits non-zero on any crash, leak, timeout or
# out-of-memory, printing the reproducer path(s).
#
# usage: scripts/fuzz-smoke.sh [SECONDS]
# environment:
#   BUILD_DIR        build directory (default: build-fuzz)
#   FUZZ_JOBS        targets run at once (default 2)
#   FUZZ_TARGETS     space-separated subset of targets (default: all)
#   FUZZ_TIMEOUT     per-input timeout in seconds (default 25)
#   FUZZ_CORPUS_DIR  keep and grow corpora here (default: a temporary dir)
#   FUZZ_ARTIFACTS   where crash/leak/timeout inputs go (default: BUILD_DIR/fuzz-artifacts)
#   CONFIDENCE_CONFORMANCE_DIR  the conformance data (default: ../shared/conformance)
set -euo pipefail

seconds=${1:-30}
case $seconds in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-2}
timeout=${FUZZ_TIMEOUT:-25}
targets=${FUZZ_TARGETS:-fuzz_state fuzz_state_encrypted fuzz_context_json fuzz_resolve_context fuzz_value_api}
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
export CONFIDENCE_CONFORMANCE_DIR=${CONFIDENCE_CONFORMANCE_DIR:-$(cd "$root/.." && pwd)/shared/conformance}

die() { echo "fuzz-smoke: $*" >&2; exit 1; }
command -v clang >/dev/null || die "clang is required (apt-get install clang libclang-rt-dev)"
[ -d "$CONFIDENCE_CONFORMANCE_DIR/resolver-spec" ] || die "no conformance data at $CONFIDENCE_CONFORMANCE_DIR"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== configure + build ($build)"
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCONFIDENCE_BUILD_FUZZ=ON -DCONFIDENCE_SANITIZE=address,undefined \
  -DCONFIDENCE_BUILD_TESTS=OFF -DCONFIDENCE_BUILD_BENCH=OFF >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; die "configure failed"; }
# Build-time helper programs are sanitized too; their exit-time allocations
# are not what this script checks, so LeakSanitizer is off for the build only.
ASAN_OPTIONS=detect_leaks=0 cmake --build "$build" -j"$(nproc)" || die "build failed"

seeds=$work/seeds
"$root/fuzz/make_seeds.sh" "$build" "$seeds" "$CONFIDENCE_CONFORMANCE_DIR"
corpora=${FUZZ_CORPUS_DIR:-$work/corpus}
mkdir -p "$artifacts" "$corpora"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 log=$work/$1.log
  local extra=()
  case $t in
  fuzz_state | fuzz_state_encrypted) extra+=(-max_len=65536) ;;
  fuzz_context_json) extra+=(-max_len=8192 -dict="$seeds/fuzz_context_json.dict") ;;
  fuzz_resolve_context) extra+=(-max_len=4096) ;;
  fuzz_value_api) extra+=(-max_len=2048) ;;
  esac
  mkdir -p "$corpora/$t" "$artifacts/$t"
  local rc=0
  "$build/fuzz/$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t/" "${extra[@]}" \
    "$corpora/$t" "$seeds/$t" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

echo "== fuzzing ${seconds}s per target, $jobs at a time: $targets"
running=0
for t in $targets; do
  [ -x "$build/fuzz/$t" ] || die "unknown target $t"
  rm -f "$artifacts/$t"/crash-* "$artifacts/$t"/leak-* "$artifacts/$t"/timeout-* "$artifacts/$t"/oom-*
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n # run_one records the target's status itself
    running=$((running - 1))
  fi
done
wait

failed=0
for t in $targets; do
  log=$work/$t.log
  rc=missing
  [ -f "$work/$t.rc" ] && rc=$(cat "$work/$t.rc")
  # From libFuzzer's log; a run that crashed early may not have printed them.
  runs=$(sed -n 's/.*stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  last=$(awk '/^#[0-9]+/ { line = $0 } END { print line }' "$log")
  cov=$(sed -n 's/.*\(cov: [0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*\(ft: [0-9]*\).*/\1/p' <<<"$last")
  found=$(find "$artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
  if [ "$rc" != 0 ] || [ -n "$found" ]; then
    failed=1
    echo "FAIL $t (exit $rc): executions=${runs:-?} ${cov} ${ft}"
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:|fuzz invariant failed' "$log" | head -10 | sed 's/^/    /'
    for f in $found; do
      echo "    reproducer: $f"
      echo "    replay:     $build/fuzz/$t $f"
    done
    [ -n "$found" ] || { echo "    (no artifact written; log follows)"; tail -30 "$log" | sed 's/^/    /'; }
  else
    echo "ok   $t: executions=${runs:-?} ${cov} ${ft}"
  fi
done
if [ "$failed" != 0 ]; then
  echo "fuzz-smoke: FAILED (artifacts in $artifacts)" >&2
  exit 1
fi
echo "fuzz-smoke: all targets clean"
