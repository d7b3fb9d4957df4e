#!/usr/bin/env bash
# One version everywhere: include/confidence/version.h holds it; CMake's
# project version, confidence.pc, the CLI's `confidence version` (that is
# confidence_version()), the Python package's metadata (pyproject.toml's
# version provider, evaluated as scikit-build-core does) and its
# confidence.__version__ must all say the same, and CHANGELOG.md must have
# an entry for it. (tests/python/test_version.py checks the installed package.)
# Usage: test_version.sh REPO CLI PROJECT_VERSION PC_FILE
set -u
repo=${1:?usage} cli=${2:?usage} project=${3:?usage} pc=${4:?usage}
passed=0 failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pass() { passed=$((passed + 1)); }
check() { # what, got, want
  if [ "$2" = "$3" ]; then pass; else fail "$1 says '$2', the header '$3'"; fi
}

header=$(for part in MAJOR MINOR PATCH; do
  sed -n "s/^#define CONFIDENCE_VERSION_${part} \([0-9][0-9]*\)$/\1/p" "$repo/include/confidence/version.h"
done | paste -sd.)
[[ $header =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && pass || fail "version.h's numbers do not make a version: '$header'"

check "CMake's project(VERSION)" "$project" "$header"
check "confidence.pc" "$(sed -n 's/^Version: //p' "$pc")" "$header"
check "confidence version (confidence_version())" "$("$cli" version)" "confidence $header"

# pyproject.toml: no second number, and the regex provider finds the header's.
py=$(python3 - "$repo" <<'PY' 2>&1
import re, sys, tomllib
repo = sys.argv[1]
with open(repo + "/pyproject.toml", "rb") as f:
    meta = tomllib.load(f)
project = meta["project"]
if "version" in project or "version" not in project.get("dynamic", []):
    sys.exit("pyproject.toml: [project] must leave version dynamic, not state one")
v = meta["tool"]["scikit-build"]["metadata"]["version"]
if v["input"] != "include/confidence/version.h":
    sys.exit("pyproject.toml reads the version from %s" % v["input"])
with open(repo + "/" + v["input"]) as f:
    m = re.search(v["regex"], f.read(), re.MULTILINE)
if not m:
    sys.exit("pyproject.toml's version regex does not match " + v["input"])
print(v.get("result", "{value}").format(*m.groups(), **m.groupdict()))
PY
)
check "pyproject.toml's version provider" "$py" "$header"

# confidence.__version__ is the extension's confidence_version(), not a literal.
if grep -q '^__version__: str = _library_version()$' "$repo/python/confidence/version.py" &&
  grep -q '^from confidence._native import version as _library_version$' "$repo/python/confidence/version.py"; then
  pass
else
  fail "python/confidence/version.py does not take __version__ from confidence._native.version()"
fi

grep -q "^## \[$header\] - " "$repo/CHANGELOG.md" && pass || fail "CHANGELOG.md has no '## [$header] - DATE' entry"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
