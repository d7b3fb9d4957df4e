#!/usr/bin/env bash
# The Python package's tests on free-threaded CPython: the interpreter
# scripts/python-freethreaded.sh builds (once, cached in the build
# directory), a venv from it with the newest openfeature-sdk, pytest and the
# servers' packages, this package built by pip install ., then pytest with
# the GIL left as the interpreter decides: importing the package must not
# turn it on (test_freethreaded.py checks, and a RuntimeWarning saying it
# was turned on fails the run).
# Usage: tests/python/run-freethreaded.sh [BUILD_DIR] [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "${1:-$repo/build}"
build="$(cd "${1:-$repo/build}" && pwd)"
if (($#)); then shift; fi
source "$repo/scripts/lib.sh"
python="$("$repo/scripts/python-freethreaded.sh" "$build")"
# The local backend runs in its own venv (grpcio), on the usual interpreter.
"$repo/tools/testserver/setup.sh" >/dev/null
venv="$build/python-test-venv-freethreaded"
ensure_venv "$venv" "$python"   # a half-made one is made again, not reused
quiet "$venv/bin/python" -m pip install --disable-pip-version-check openfeature-sdk pytest mypy==1.13.0 \
  -r "$repo/tests/python/servers/requirements.txt"
quiet "$venv/bin/python" -m pip install --disable-pip-version-check "$repo"
echo "== Python tests, free-threaded $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), openfeature-sdk $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("openfeature-sdk"))')"
(cd "$repo" && env -u PYTHON_GIL CONFIDENCE_REPO="$repo" CONFIDENCE_BUILD_DIR="$build" \
  "$venv/bin/python" -W "error:The global interpreter lock:RuntimeWarning" \
  -m pytest -q -p no:cacheprovider "$repo/tests/python" "$@")
