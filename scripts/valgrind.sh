#!/usr/bin/env bash
# Runs the test programs and the CLI under valgrind memcheck; any memory
# error or definite/indirect leak fails the script.
#   - every test ctest knows in the build directory (conformance_spec with
#     ../shared/conformance/resolver-spec, and whatever else is registered)
#   - `confidence eval` on a generated case file against the spec state
#   - `confidence eval` on the encrypted CDN payload (decryption path)
#   - `confidence resolve` one-shot
#
# usage: scripts/valgrind.sh [BUILD_DIR]     (default: build; built if needed)
# BUILD_DIR must be an unsanitized build (valgrind cannot run ASan binaries).
# environment:
#   VALGRIND_TESTS    regex of ctest names to run (default: all compiled tests;
#                     tests that are scripts are listed as skipped)
#   VALGRIND_EXCLUDE  regex of ctest names to leave out
#   VALGRIND_TIMEOUT  seconds per program (default 900; a timeout fails)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$root" && mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)
conf=${CONFIDENCE_CONFORMANCE_DIR:-$(cd "$root/.." && pwd)/shared/conformance}

die() { echo "valgrind: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
[ -d "$conf/resolver-spec" ] || die "no conformance data at $conf"

if [ -f "$build/CMakeCache.txt" ] && grep -q '^CONFIDENCE_SANITIZE:STRING=.\+' "$build/CMakeCache.txt"; then
  die "$build is a sanitizer build; valgrind needs a plain one (e.g. scripts/valgrind.sh build)"
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFIDENCE_BUILD_TESTS=ON || die "configure failed"
fi
cmake --build "$build" -j"$(nproc)" || die "build failed"

vg=(timeout "${VALGRIND_TIMEOUT:-900}" valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
  --show-leak-kinds=definite,indirect --track-origins=yes --num-callers=30)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
ran=0

check() { # name, working directory ("" = here), then the command
  local name=$1 dir=${2:-.} rc=0
  shift 2
  echo "== $name"
  ran=$((ran + 1))
  (cd "$dir" && exec "${vg[@]}" "$@") >"$work/out" 2>"$work/err" || rc=$?
  if [ "$rc" != 0 ]; then
    failed=1
    echo "FAIL $name (exit status $rc)"
    tail -60 "$work/err" | sed 's/^/    /'
    tail -5 "$work/out" | sed 's/^/    out: /'
  else
    echo "ok   $name"
  fi
}

# ---- every registered ctest test, with its own arguments and directory ----
ctest --test-dir "$build" --show-only=json-v1 >"$work/tests.json" ||
  die "ctest --show-only failed in $build (configured with CONFIDENCE_BUILD_TESTS=ON?)"
python3 - "$work/tests.json" "$build" >"$work/tests.list" <<'PY'
import json, os, shlex, sys
build = os.path.realpath(sys.argv[2])
for t in json.load(open(sys.argv[1])).get("tests", []):
    cmd = t.get("command") or []
    if not cmd:
        continue
    wd = ""
    for p in t.get("properties", []):
        if p.get("name") == "WORKING_DIRECTORY":
            wd = p.get("value") or ""
    # Only programs built here: scripts (bash, python) would run just their
    # interpreter under valgrind.
    prog = os.path.realpath(cmd[0])
    elf = False
    if prog.startswith(build + os.sep):
        try:
            with open(prog, "rb") as f:
                elf = f.read(4) == b"\x7fELF"
        except OSError:
            pass
    print(" ".join(shlex.quote(x) for x in [t["name"], "elf" if elf else "script", wd] + cmd))
PY
[ -s "$work/tests.list" ] || die "ctest lists no tests in $build"
while IFS= read -r line; do
  eval "parts=($line)" # shell-quoted by the script above
  name=${parts[0]} kind=${parts[1]} wd=${parts[2]}
  cmd=("${parts[@]:3}")
  if [ "$kind" != elf ]; then
    echo "-- skip ctest: $name (not a compiled program: ${cmd[0]})"
  elif ! [[ $name =~ ${VALGRIND_TESTS:-.} ]] || { [ -n "${VALGRIND_EXCLUDE:-}" ] && [[ $name =~ $VALGRIND_EXCLUDE ]]; }; then
    echo "-- skip ctest: $name (filtered)"
  else
    check "ctest: $name" "$wd" "${cmd[@]}"
  fi
done <"$work/tests.list"

# ---- the CLI ------------------------------------------------------------------
cli=$build/confidence
[ -x "$cli" ] || die "$cli was not built"
spec_account=$(tr -d '\n\r ' <"$conf/resolver-spec/account_id")
cat >"$work/cases.jsonl" <<'EOF'
{"client_secret":"test-secret","context":{"targeting_key":"user1","country":"SE"}}
{"client_secret":"test-secret","flags":["flags/simple-flag","flags/no-such-flag"],"context":{"targeting_key":"user2"}}
{"client_secret":"test-secret","context":{"targeting_key":12345,"age":"not a number","version":"1.2.3","tags":["a","b"]}}
{"client_secret":"test-secret","context":{"targeting_key":"user1"},"materializations":[{"unit":"user1","materialization":"m","rule":"r","variant":"v"}]}
{"client_secret":"minimal-secret","context":{}}
{"client_secret":"wrong-secret","context":{"targeting_key":"user1"}}
{"client_secret":"test-secret","context":"not an object"}
this line is not JSON
EOF
check "cli: eval (resolver-spec state)" "" "$cli" eval --state "$conf/resolver-spec/state.pb" --account "$spec_account" \
  --cases "$work/cases.jsonl"
check "cli: resolve (resolver-spec state)" "" "$cli" resolve --state "$conf/resolver-spec/state.pb" \
  --account "$spec_account" --secret test-secret --context '{"targeting_key":"user1","country":"SE"}'
if [ -f "$conf/states/resolver_state_encrypted.pb" ]; then
  printf '%s\n' '{"client_secret":"no-such-secret","context":{"targeting_key":"user1"}}' >"$work/enc.jsonl"
  check "cli: eval (encrypted payload)" "" "$cli" eval --state "$conf/states/resolver_state_encrypted.pb" \
    --account confidence-test --encryption-key "$(tr -d '\n\r ' <"$conf/states/encryption_key_test.hex")" \
    --cases "$work/enc.jsonl"
fi

[ "$ran" -gt 0 ] || die "nothing was run"
if [ "$failed" != 0 ]; then
  echo "valgrind: FAILED" >&2
  exit 1
fi
echo "valgrind: all $ran runs clean"
