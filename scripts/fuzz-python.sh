#!/usr/bin/env bash
# The Python boundary fuzzer (fuzz/python/fuzz_boundary.py, Hypothesis) against
# confidence._native built with AddressSanitizer + UBSan: the extension and the
# library under it are compiled with the sanitizers in BUILD_DIR, loaded into
# an ordinary CPython with the sanitizer runtime preloaded, and driven with
# hostile contexts, defaults, flag keys, track data and store results. Any
# sanitizer report aborts the run; any exception out of the provider fails it.
#
# usage: scripts/fuzz-python.sh [EXAMPLES]        (default 1500)
# environment:
#   BUILD_DIR   build directory (default: build-pyasan)
#   PYTHON      the interpreter to build against and run (default: python3)
#   CC          compiler (default: clang when installed, else gcc)
#   CONFIDENCE_CONFORMANCE_DIR  conformance data (default: ../shared/conformance)
set -euo pipefail

examples=${1:-1500}
case $examples in '' | *[!0-9]*) echo "usage: $0 [EXAMPLES]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-pyasan}
python=$(command -v "${PYTHON:-python3}") || { echo "fuzz-python: no ${PYTHON:-python3}" >&2; exit 1; }
if [ -z "${CC:-}" ]; then
  if command -v clang >/dev/null; then CC=clang; else CC=gcc; fi
fi
export CC
export CONFIDENCE_CONFORMANCE_DIR=${CONFIDENCE_CONFORMANCE_DIR:-$(cd "$root/.." && pwd)/shared/conformance}
die() { echo "fuzz-python: $*" >&2; exit 1; }

echo "== configure + build the extension with ASan+UBSan ($build, CC=$CC, $("$python" -V))"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFIDENCE_SANITIZE=address,undefined \
  -DCONFIDENCE_BUILD_PYTHON=ON -DPython_EXECUTABLE="$python" -DCONFIDENCE_BUILD_TESTS=OFF \
  -DCONFIDENCE_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; die "configure failed"; }
ASAN_OPTIONS=detect_leaks=0 cmake --build "$build" -j"$(nproc)" --target confidence_native sample_state

# The package as the wheel lays it out: the Python sources and the sanitized extension.
pkg=$build/pyfuzz-pkg
rm -rf "$pkg"
mkdir -p "$pkg/confidence"
cp "$root"/python/confidence/*.py "$pkg/confidence/"
ext=$(find "$build/python" -maxdepth 1 -name '_native*.so' | head -n1)
[ -n "$ext" ] || die "the extension was not built"
cp "$ext" "$pkg/confidence/"
# grep reads all of nm's output (grep -q would stop early, and pipefail would
# count nm's SIGPIPE as a failure).
nm -D "$ext" | grep __asan_report >/dev/null || die "$ext is not instrumented"

venv=$build/pyfuzz-venv
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check openfeature-sdk "hypothesis>=6.100"

# The interpreter is not instrumented: the runtime must be loaded first.
case $CC in
*clang*) runtime=$("$CC" -print-file-name=libclang_rt.asan-x86_64.so) ;;
*) runtime=$("$CC" -print-file-name=libasan.so) ;;
esac
[ -f "$runtime" ] || die "no ASan runtime at '$runtime' (clang: libclang-rt-14-dev; gcc: libasan)"
echo "== fuzz the boundary: $examples examples (runtime $runtime)"
# CPython's own allocations at exit are not ours to report (no leak check);
# PYTHONMALLOC=malloc lets ASan see every Python object's memory.
cd "$build"
LD_PRELOAD=$runtime PYTHONMALLOC=malloc PYTHONPATH=$pkg \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$venv/bin/python" "$root/fuzz/python/fuzz_boundary.py" "$build/sample" "$examples"
