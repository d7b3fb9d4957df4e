#!/usr/bin/env bash
# Differential test of our resolver against the official WASM resolver
# (confidence-openfeature-provider 0.15.3 = resolver 0.26.1); registered with
# ctest as `differential`. No differences are allowed.
#
# Usage: tools/oracle/difftest.sh [--cli PATH] [--count N] [--seed S]
#                                 [--jobs J] [--limit L] [--work DIR]
#   --cli    our CLI (default build/confidence in the repo)
#   --count  random cases per conformance state (default 8000)
#   --seed   base seed (default 1; deterministic)
#   --work   keep the cases and both sides' outputs in DIR
# See difftest.py --help. Last line: `N passed, M failed`; exit status 1 if
# any case disagreed or a step crashed.
#
# Needs network access to PyPI the first time (setup_peer.sh builds the venv
# build/peer-venv, or $PEER_VENV); later runs reuse it.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Exact agreement is promised with 0.26.1 only; never run against whatever
# PEER_VERSION the caller's shell happens to carry.
if [ -n "${PEER_VERSION:-}" ] && [ "$PEER_VERSION" != "0.15.3" ]; then
  echo "difftest: PEER_VERSION=$PEER_VERSION, but this test needs 0.15.3" >&2
  exit 2
fi
export PEER_VERSION=0.15.3

# setup_peer.sh talks on stdout; keep ours for the results.
"$script_dir/setup_peer.sh" >&2

exec "${PYTHON:-python3}" "$script_dir/difftest.py" "$@"
