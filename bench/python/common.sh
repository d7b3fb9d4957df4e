# Sourced by the Python benchmarks' runners (run.sh, prefork_pss.sh,
# threads.sh) after scripts/lib.sh, with $repo and $build set.

# This package's venv, as $ours: the source tree built against the system's
# shared libraries, or CONFIDENCE_BENCH_WHEEL (a wheel as pip users get it) in
# a venv of its own; with the openfeature-sdk of 0.15.3's venv ($peer_sdk).
bench_our_venv() {
  ours="$build/python-test-venv-newest"
  local wheel="${CONFIDENCE_BENCH_WHEEL:-}"
  [[ -z "$wheel" ]] || ours="$build/python-bench-wheel-venv"
  "$repo/tools/oracle/setup_peer.sh" >/dev/null
  ensure_venv "$ours" # a half-made one is made again, not reused
  peer_sdk=$("$build/peer-venv/bin/python" -c 'from importlib.metadata import version; print(version("openfeature-sdk"))')
  # Quiet unless they fail: a failed install must not benchmark what was there before.
  quiet "$ours/bin/python" -m pip install --disable-pip-version-check "openfeature-sdk==$peer_sdk"
  if [[ -n "$wheel" ]]; then
    [[ -f "$wheel" ]] || { echo "CONFIDENCE_BENCH_WHEEL=$wheel: no such file" >&2; exit 1; }
    quiet "$ours/bin/python" -m pip install --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  else
    quiet "$ours/bin/python" -m pip install --disable-pip-version-check "$repo"
  fi
}

# The local backend on the sample state, stopped when the script exits; sets
# $http and $grpc. Usage: bench_start_backend NAME MAX_LIFETIME_S [server args...]
bench_start_backend() {
  local name=$1 lifetime=$2
  shift 2
  "$repo/tools/testserver/setup.sh" >/dev/null
  bench_ports="$build/bench-$name.ports"
  rm -f "$bench_ports"
  python3 "$repo/tools/testserver/server.py" --state "$build/sample/state.pb" --ports-file "$bench_ports" \
    --max-lifetime "$lifetime" "$@" >/dev/null &
  bench_server=$!
  trap 'kill $bench_server 2>/dev/null; wait $bench_server 2>/dev/null; rm -f "$bench_ports"' EXIT
  for _ in $(seq 300); do [[ -s "$bench_ports" ]] && break; sleep 0.1; done
  [[ -s "$bench_ports" ]] || { echo "$name: the local backend did not start" >&2; exit 1; }
  http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$bench_ports")
  grpc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$bench_ports")
}
