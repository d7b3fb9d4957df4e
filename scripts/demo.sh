#!/usr/bin/env bash
# The main job: build libconfidence and resolve flags from the sample state
# (authored in tools/sample_state) for a few users, with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

state=build/sample/state.pb
common=(--state "$state" --account demo-shop-account)
echo "== confidence $(build/confidence version | cut -d' ' -f2): sample state $state"
while IFS='|' read -r who ctx; do
  echo
  echo "-- $who: $ctx"
  build/confidence resolve "${common[@]}" --secret demo-client-secret --context "$ctx"
done <<'USERS'
alice, premium plan, app 2.3|{"targeting_key":"alice","user":{"plan":"premium"},"country":"US","app":{"version":"2.3.1"}}
bob, Sweden, app 1.9|{"targeting_key":"bob","country":"SE","app":{"version":"1.9.0"}}
carol, no attributes|{"targeting_key":"carol"}
USERS

echo
echo "-- batch mode (eval): one JSON line per case"
cases=$(mktemp)
trap 'rm -f "$cases"' EXIT
cat >"$cases" <<'CASES'
{"client_secret":"demo-client-secret","flags":["flags/button-style"],"context":{"targeting_key":"user-1"}}
{"client_secret":"demo-client-secret","flags":["flags/button-style"],"context":{"targeting_key":"user-2"}}
{"client_secret":"demo-client-secret","flags":["flags/new-checkout"],"context":{"targeting_key":42,"country":"NO"}}
{"client_secret":"wrong-secret","flags":[],"context":{}}
CASES
build/confidence eval "${common[@]}" --cases "$cases"
echo
build/confidence bench "${common[@]}" --cases "$cases" --iterations 200000 2>/dev/null | sed 's/^/bench: /'
