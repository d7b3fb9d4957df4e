#!/usr/bin/env bash
# The main job: build libconfidence, start the local Confidence backend
# (tools/testserver) serving the sample state authored in
# tools/sample_state, run the quick-start provider example against it, show
# the resolver CLI on the same state, and print the exposures the backend
# received. No credentials needed; everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/install-deps.sh --build-only

# Everything is built before the backend starts (it stops itself after
# --max-lifetime seconds). Each step is quiet unless it fails.
echo "== building the library, the CLI, the examples and the sample state (build/)"
quiet cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
quiet cmake --build build -j"$(nproc)"
echo "== the local backend's venv (build/testserver-venv)"
quiet tools/testserver/setup.sh
echo "== pip install . (the Python package, with its C extension) into build/demo-venv"
ensure_venv build/demo-venv
quiet build/demo-venv/bin/python -m pip install --disable-pip-version-check openfeature-sdk .

secret=demo-client-secret
state=build/sample/state.pb
ports=build/demo-server.ports
log=build/demo-server.log
rm -f "$ports"
python3 tools/testserver/server.py --state "$state" --secret "$secret" --ports-file "$ports" \
  --max-lifetime 120 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$ports"' EXIT
for _ in $(seq 300); do
  [[ -s "$ports" ]] && break
  kill -0 "$server" 2>/dev/null || break   # it exited: no use waiting
  sleep 0.1
done
[[ -s "$ports" ]] || { cat "$log" >&2; echo "demo: the local backend did not start (its output is above)" >&2; exit 1; }
http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$ports")
grpc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$ports")
echo "== local Confidence backend on 127.0.0.1: CDN/ingest :$http, gRPC flag logger :$grpc"

echo
echo "== examples/quickstart (provider: CDN sync, evaluation, exposure on shutdown)"
CONFIDENCE_CLIENT_SECRET=$secret CONFIDENCE_FLAG_KEY=new-checkout.enabled \
  CONFIDENCE_CDN_URL=http://127.0.0.1:$http CONFIDENCE_FLAG_LOG_URL=http://127.0.0.1:$grpc \
  build/examples/quickstart

echo
echo "== the Python Quick Start (the package installed in build/demo-venv), against the same backend"
# The README's own Quick Start block, with the demo's secret and flag.
quick_start=$(python3 - README.md "$secret" <<'PY'
import re, sys
block = re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), re.S)[0]
print(block.replace("your-client-secret", sys.argv[2]).replace("test-flag.enabled", "new-checkout.enabled"))
PY
)
CONFIDENCE_CDN_URL=http://127.0.0.1:$http CONFIDENCE_FLAG_LOG_URL=http://127.0.0.1:$grpc \
  CONFIDENCE_EVENTS_URL=http://127.0.0.1:$grpc build/demo-venv/bin/python -c "$quick_start"

echo
echo "== the resolver CLI on the same state, for three users"
while IFS='|' read -r who ctx; do
  echo "-- $who"
  build/confidence resolve --state "$state" --account demo-shop-account --secret "$secret" --context "$ctx"
done <<'USERS'
alice (premium, app 2.3)|{"targeting_key":"alice","user":{"plan":"premium"},"country":"US","app":{"version":"2.3.1"}}
bob (Sweden, app 1.9)|{"targeting_key":"bob","country":"SE","app":{"version":"1.9.0"}}
carol (no attributes)|{"targeting_key":"carol"}
USERS

echo
echo "== exposures the backend received (flag, variant, targeting key, count)"
summary=$(python3 tools/testserver/client.py --port "$http" summary)
python3 - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
for a in s["applied"]:
    print("  %-22s %-34s %-10s x%d" % (a["flag"], a["variant"] or "(default)", a["targeting_key"], a["count"]))
print("  %d FlagAssigned event(s) in %d request(s)" % (s["flag_assigned"], s["requests"]))
PY
