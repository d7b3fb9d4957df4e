#!/usr/bin/env bash
# Packaging of the Python package: `pip wheel .` gives one wheel holding the
# package and its extension (no C headers or archives), and the sdist builds
# and installs with no index at all (pip --no-index --no-build-isolation,
# the build tools already present: the offline case), then evaluates a flag.
# Usage: tests/python/packaging.sh [BUILD_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
work="$build/python-packaging"
venv="$work/venv"
rm -rf "$work/dist" "$work/wheel"
mkdir -p "$work"
fail() { echo "FAIL $*" >&2; exit 1; }
source "$repo/scripts/lib.sh"
ensure_venv "$venv"   # a half-made one is made again, not reused
pip=("$venv/bin/pip" --disable-pip-version-check)
quiet "${pip[@]}" install -q build scikit-build-core openfeature-sdk

# 1. pip wheel .
quiet "${pip[@]}" wheel -q --no-deps -w "$work/wheel" "$repo"
wheels=("$work"/wheel/*.whl)
[[ ${#wheels[@]} == 1 && -f "${wheels[0]}" ]] || fail "pip wheel made ${#wheels[@]} wheels"
"$venv/bin/python" - "${wheels[0]}" <<'PY' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert any(n.startswith("confidence/_native") and n.endswith(".so") for n in names), names
for mod in ("__init__", "provider", "materialization", "version"):
    assert f"confidence/{mod}.py" in names, (mod, names)
for typing_file in ("py.typed", "_native.pyi"):  # the package's types
    assert f"confidence/{typing_file}" in names, (typing_file, names)
stray = [n for n in names if n.endswith((".h", ".a", ".pc", ".cmake"))]
assert not stray, stray
print("ok   wheel %s: %d files, the extension and the package only" % (sys.argv[1].rsplit("/", 1)[-1], len(names)))
PY

# 2. sdist, then build and install it with no index and no isolation.
quiet "$venv/bin/python" -m build --sdist --no-isolation -o "$work/dist" "$repo"
sdists=("$work"/dist/*.tar.gz)
[[ ${#sdists[@]} == 1 && -f "${sdists[0]}" ]] || fail "no sdist"
if tar tzf "${sdists[0]}" | grep -E '/build/|__pycache__' >/dev/null; then fail "build output in the sdist"; fi
quiet "${pip[@]}" uninstall -q -y libconfidence
quiet "${pip[@]}" install -q --no-index --no-build-isolation --no-deps "${sdists[0]}"
(cd "$work" && "$venv/bin/python" -I - "$build/sample/state.pb" "${sdists[0]}") <<'PY' || fail "the sdist's install"
import logging, sys
import confidence
# No backend here: shutdown's warning that telemetry went undelivered is expected.
logging.getLogger("confidence").setLevel(logging.ERROR)
from confidence import ConfidenceProvider
assert "/site-packages/confidence/" in confidence.__file__, confidence.__file__
p = ConfidenceProvider("demo-client-secret", state_file=sys.argv[1], account_id="demo-shop-account",
                       disable_state_sync=True, disable_exposure_collection=True)
p.initialize(None)
d = p.resolve_boolean_details("new-checkout.enabled", False, None)
assert d.error_code is None and d.variant.startswith("flags/new-checkout/variants/"), d
p.shutdown()
print("ok   sdist %s built offline, installed, and evaluates" % sys.argv[2].rsplit("/", 1)[-1])
PY
