#!/usr/bin/env bash
# Python benchmark, side by side in one run: this package (confidence._native),
# PyPI confidence-openfeature-provider 0.15.3 (its own venv: tools/oracle/setup_peer.sh)
# and OpenFeature's no-op provider, same state, same contexts, same SDK version,
# against one local backend (encrypted CDN state, as 0.15.3 requires a key).
# Usage: bench/python/run.sh [BUILD_DIR]   (needs the sample state: cmake --build)
# Env:   CONFIDENCE_BENCH_WHEEL  a wheel of this package to measure (as pip users get
#        it: scripts/build-wheels.sh, libraries linked statically) instead of a build of
#        the source tree against the system's shared libraries; its own venv.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
source "$repo/scripts/lib.sh"
source "$repo/bench/python/common.sh"
bench_our_venv
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
secret=demo-client-secret
bench_start_backend python 600 --secret "$secret" --encryption-key "$key"
results=()
for impl in noop native peer; do
  py="$ours/bin/python"
  [[ $impl == peer ]] && py="$build/peer-venv/bin/python"
  results+=("$(cd /tmp && "$py" -I "$repo/bench/python/bench.py" $impl "$http" "$grpc" "$secret" "$key")")
done
python3 - "$peer_sdk" "${results[@]}" <<'PY'
import json, platform, sys, os
sdk = sys.argv[1]
r = {d["impl"]: d for d in map(json.loads, sys.argv[2:])}
print(f"openfeature-sdk {sdk}, Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
print("%-34s %12s %12s %12s" % ("", "no-op", "this package", "0.15.3"))
def row(name, f):
    print("%-34s %12s %12s %12s" % (name, *(f(r[k]) for k in ("noop", "native", "peer"))))
for via in ("client", "direct", "client_bool", "direct_bool"):
    for s in ("mean_us", "p50_us", "p99_us"):
        row(f"{via} {s.replace('_us', '')} (µs)", lambda d: "%.2f" % d[via][s] if via in d else "-")
row("client evals/s, 1 thread", lambda d: "%.0f" % d["client_1t_per_s"])
row("client evals/s, 2 threads", lambda d: "%.0f" % d["client_2t_per_s"])
row("set_provider -> READY (ms)", lambda d: "%.1f" % d["ready_ms"])
row("RSS after READY (MiB)", lambda d: "%.1f" % d["rss_ready_mib"])
n, p = r["native"], r["peer"]
o = r["noop"]
for kind, c, d in (("string", "client", "direct"), ("boolean", "client_bool", "direct_bool")):
    print("%s flag, means: through the client %.2fx the no-op provider and %.1fx faster than 0.15.3; "
          "provider directly %.2fx the no-op provider and %.1fx faster than 0.15.3"
          % (kind, n[c]["mean_us"] / o[c]["mean_us"], p[c]["mean_us"] / n[c]["mean_us"],
             n[d]["mean_us"] / o[d]["mean_us"], p[d]["mean_us"] / n[d]["mean_us"]))
print("GIL released around evaluation instead (release_gil=True): direct mean %.2f µs, client 2 threads %.0f/s" % (n["direct_gil_released"]["mean_us"], n["client_2t_per_s_gil_released"]))
print("RAW " + json.dumps(r))
PY
