#!/usr/bin/env bash
# Builds the whole project with its tests under sanitizers and runs ctest:
#   build-asan  CONFIDENCE_SANITIZE=address,undefined, then the Python boundary
#               fuzzer against the extension built the same way (build-pyasan)
#   build-tsan  CONFIDENCE_SANITIZE=thread
# Any sanitizer report fails the test that triggered it (halt_on_error), and
# any failing build or test, or a ctest that finds no tests, fails the script.
#
# usage: scripts/sanitizers.sh [asan|tsan]...   (default: asan tsan)
# environment:
#   CC                compiler (default: clang when installed, else gcc)
#   BUILD_ASAN, BUILD_TSAN   build directories (default: build-asan, build-tsan)
#   BUILD_PYASAN, PYFUZZ_EXAMPLES  the Python boundary fuzzer's build and examples
#                     (scripts/fuzz-python.sh; default: build-pyasan, 1500), run in the asan kind
#   CTEST_ARGS        extra ctest arguments (e.g. "-R conformance")
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${CC:-}" ]; then
  if command -v clang >/dev/null; then CC=clang; else CC=gcc; fi
fi
export CC
kinds=${*:-asan tsan}
jobs=$(nproc)

die() { echo "sanitizers: $*" >&2; exit 1; }
failures=()
fail() { echo "sanitizers: $*" >&2; failures+=("$*"); }

run_ctest() {
  local dir=$1 log
  log=$(mktemp)
  local rc=0
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure --no-tests=error ${CTEST_ARGS:-} 2>&1 | tee "$log" || rc=$?
  if grep -q "No tests were found" "$log"; then
    rm -f "$log"
    die "ctest in $dir found no tests"
  fi
  rm -f "$log"
  return "$rc"
}

build() {
  local dir=$1 sanitize=$2
  echo "== configure $dir (CC=$CC, CONFIDENCE_SANITIZE=$sanitize)"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFIDENCE_SANITIZE="$sanitize" \
    -DCONFIDENCE_BUILD_TESTS=ON -DCONFIDENCE_BUILD_BENCH=ON -DCONFIDENCE_BUILD_FUZZ=OFF ||
    die "configure of $dir failed"
  echo "== build $dir"
  # Programs run during the build (state generators) are sanitized as well;
  # their exit-time allocations are not under test, so no leak check there.
  ASAN_OPTIONS=detect_leaks=0 cmake --build "$dir" -j"$jobs" || die "build of $dir failed"
}

for kind in $kinds; do
  case $kind in
  asan)
    dir=${BUILD_ASAN:-$root/build-asan}
    build "$dir" address,undefined
    echo "== ctest $dir"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      run_ctest "$dir" || fail "tests failed under AddressSanitizer/UndefinedBehaviorSanitizer ($dir)"
    echo "== the Python boundary fuzzer against the extension under AddressSanitizer/UBSan"
    BUILD_DIR=${BUILD_PYASAN:-$root/build-pyasan} "$root/scripts/fuzz-python.sh" "${PYFUZZ_EXAMPLES:-1500}" ||
      fail "the Python boundary fuzzer failed under AddressSanitizer/UndefinedBehaviorSanitizer"
    ;;
  tsan)
    dir=${BUILD_TSAN:-$root/build-tsan}
    build "$dir" thread
    echo "== ctest $dir"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
    if ! run_ctest "$dir"; then
      # Older TSan runtimes cannot map their shadow with the kernel's
      # high-entropy ASLR ("unexpected memory mapping"): retry without ASLR.
      if command -v setarch >/dev/null &&
        setarch "$(uname -m)" -R true 2>/dev/null &&
        ctest --test-dir "$dir" --output-on-failure 2>&1 | grep -q "unexpected memory mapping\|FATAL: ThreadSanitizer"; then
        echo "== TSan runtime cannot start with ASLR on; rerunning ctest under setarch -R"
        # shellcheck disable=SC2086
        setarch "$(uname -m)" -R ctest --test-dir "$dir" --output-on-failure --no-tests=error ${CTEST_ARGS:-} ||
          fail "tests failed under ThreadSanitizer ($dir)"
      else
        fail "tests failed under ThreadSanitizer ($dir)"
      fi
    fi
    ;;
  *)
    die "unknown sanitizer kind '$kind' (asan or tsan)"
    ;;
  esac
done
if [ "${#failures[@]}" -gt 0 ]; then
  echo "sanitizers: FAILED" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "sanitizers: all clean ($kinds)"
