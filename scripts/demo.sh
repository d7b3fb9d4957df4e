#!/usr/bin/env bash
# The main job: build libconfidence, start the local Confidence backend
# (tools/testserver) serving the sample state authored in
# tools/sample_state, run the quick-start provider example against it, show
# the resolver CLI on the same state, and print the exposures the backend
# received. No credentials needed; everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
tools/testserver/setup.sh >/dev/null

secret=demo-client-secret
state=build/sample/state.pb
ports=build/demo-server.ports
rm -f "$ports"
python3 tools/testserver/server.py --state "$state" --secret "$secret" --ports-file "$ports" \
  --max-lifetime 120 >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$ports"' EXIT
for _ in $(seq 300); do [[ -s "$ports" ]] && break; sleep 0.1; done
[[ -s "$ports" ]] || { echo "demo: the local backend did not start" >&2; exit 1; }
http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$ports")
grpc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$ports")
echo "== local Confidence backend on 127.0.0.1: CDN/ingest :$http, gRPC flag logger :$grpc"

echo
echo "== examples/quickstart (provider: CDN sync, evaluation, exposure on shutdown)"
CONFIDENCE_CLIENT_SECRET=$secret CONFIDENCE_FLAG_KEY=new-checkout.enabled \
  CONFIDENCE_CDN_URL=http://127.0.0.1:$http CONFIDENCE_FLAG_LOG_URL=http://127.0.0.1:$grpc \
  build/examples/quickstart

echo
echo "== the Python Quick Start (pip install . into build/demo-venv), against the same backend"
[[ -x build/demo-venv/bin/python ]] || python3 -m venv build/demo-venv
build/demo-venv/bin/pip install -q --disable-pip-version-check openfeature-sdk . 2>&1 | grep -v '^WARNING: Location' || true
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
