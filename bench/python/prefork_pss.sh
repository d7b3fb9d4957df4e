#!/usr/bin/env bash
# Pre-fork memory, side by side in one run: gunicorn --preload, 4 sync workers,
# the provider made READY in the master (bench/python/prefork_pss.py), this
# package and PyPI confidence-openfeature-provider 0.15.3 (its own venv:
# tools/oracle/setup_peer.sh), against one local backend. Prints per process
# RSS and PSS (MiB) and the CDN requests from gunicorn's start on.
# Usage: bench/python/prefork_pss.sh [BUILD_DIR]   (needs the sample state: cmake --build)
# Env:   CONFIDENCE_BENCH_WHEEL  a wheel of this package to measure (as pip users get
#        it: scripts/build-wheels.sh, libraries linked statically) instead of a build of
#        the source tree against the system's shared libraries; its own venv.
#        PREFORK_ROUNDS  evaluations per request / 2 (default 1; 2,000 requests)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
source "$repo/scripts/lib.sh"
source "$repo/bench/python/common.sh"
bench_our_venv
# gunicorn for both venvs without touching the peer's: a pure-Python target
# directory on PYTHONPATH (tests/python/servers/requirements.txt's version).
gunicorn_dir="$build/pss-gunicorn"
gunicorn_version=$(sed -n 's/^gunicorn==//p' "$repo/tests/python/servers/requirements.txt")
have=$("$ours/bin/python" -c 'import pathlib, sys; print(*(p.name for p in pathlib.Path(sys.argv[1]).glob("gunicorn-*.dist-info")))' "$gunicorn_dir")
if [[ "$have" != "gunicorn-$gunicorn_version.dist-info" ]]; then
  rm -rf "$gunicorn_dir"
  quiet "$ours/bin/python" -m pip install --disable-pip-version-check --target "$gunicorn_dir" "gunicorn==$gunicorn_version"
fi
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
secret=demo-client-secret
bench_start_backend prefork 900 --secret "$secret" --encryption-key "$key"
results=()
for impl in native peer; do
  py="$ours/bin/python"
  [[ $impl == peer ]] && py="$build/peer-venv/bin/python"
  results+=("$(cd /tmp && PYTHONPATH="$gunicorn_dir" "$py" "$repo/bench/python/prefork_pss.py" $impl "$http" "$grpc" \
    "$secret" "$key" "http://127.0.0.1:$http")")
done
python3 - "${results[@]}" <<'PY'
import json, sys
r = {d["impl"]: d for d in map(json.loads, sys.argv[1:])}
print("gunicorn --preload, 4 sync workers, after %d requests, %d evaluations (MiB)"
      % (r["native"]["requests"], r["native"]["evaluations"]))
print("%-34s %18s %18s" % ("", "this package", "0.15.3"))
def row(name, f):
    print("%-34s %18s %18s" % (name, *(f(r[k]) for k in ("native", "peer"))))
row("master RSS / PSS", lambda d: "%.1f / %.1f" % (d["master"]["Rss"], d["master"]["Pss"]))
for i in range(4):
    row(f"worker {i + 1} RSS / PSS", lambda d: "%.1f / %.1f" % (d["workers"][i]["Rss"], d["workers"][i]["Pss"]))
row("worker PSS, mean", lambda d: "%.1f" % (sum(w["Pss"] for w in d["workers"]) / len(d["workers"])))
row("worker private dirty, mean", lambda d: "%.1f" % (sum(w["Private_Dirty"] for w in d["workers"]) / len(d["workers"])))
row("PSS, master + workers", lambda d: "%.1f" % (d["master"]["Pss"] + sum(w["Pss"] for w in d["workers"])))
row("CDN requests (master's first incl.)", lambda d: str(d["cdn_requests"]))
print("RAW " + json.dumps(r))
PY
