#!/usr/bin/env python3
"""Run the official Confidence resolver (WASM build from PyPI) on JSONL cases.

  wasm_oracle.py eval  --state F --account ID [--encryption-key HEX] --cases F.jsonl
  wasm_oracle.py bench --state F --account ID [--encryption-key HEX] --cases F.jsonl
                       [--iterations N]
  wasm_oracle.py version

The peer is confidence-openfeature-provider==$PEER_VERSION (default 0.11.1)
from the venv $PEER_VENV (default build/peer-venv); see setup_peer.sh.

`eval` prints one JSON result line per case line (blank lines are skipped);
`bench` prints throughput of the resolve call, last line
`resolves/s=<float> mean_us=<float>`; `version` prints the package, the
WASM digest and the resolver version the guest reports in its telemetry.
See README.md for the formats.
"""

import argparse
import json
import sys
import time

import peer

peer.ensure_peer_interpreter()

# Drain the guest's log queues this often. With apply=true every resolve
# queues a FlagAssigned event (and every resolve bumps resolve counters and
# context-schema sets) that only a flush removes, so a long run would
# otherwise grow the WASM heap without bound.
DRAIN_EVERY = 1000


def read_cases(path):
    """Decoded cases; a line that is not JSON becomes its ValueError so that
    output lines stay aligned with input lines."""
    cases = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                cases.append(json.loads(line))
            except ValueError as err:
                cases.append(err)
    return cases


def make_resolver(args):
    wasm = peer.require_peer_package()
    state, account = peer.state_from_args(args)
    resolver = peer.PeerResolver(wasm, state, account)
    if resolver.state_error:
        print(f"oracle: state rejected by the resolver: {resolver.state_error}",
              file=sys.stderr)
    return resolver


def resolve_case(resolver, case):
    if isinstance(case, Exception):
        return peer.error_json(f"oracle: invalid case line: {case}")
    try:
        request = peer.build_request(case)
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as err:
        return peer.error_json(f"oracle: cannot build request: {err}")
    try:
        return peer.response_to_json(resolver.resolve(request))
    except peer.ResolveError as err:
        return peer.error_json(str(err))


def run_eval(args):
    resolver = make_resolver(args)
    out = sys.stdout
    for index, case in enumerate(read_cases(args.cases), 1):
        result = resolve_case(resolver, case)
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        if index % DRAIN_EVERY == 0:
            resolver.drain_logs()
    out.flush()
    return 0


def prebuild_requests(cases):
    """Build request objects up front so JSON parsing is not measured."""
    requests = []
    for case in cases:
        if isinstance(case, Exception):
            print(f"oracle: skipping invalid case line: {case}", file=sys.stderr)
            continue
        try:
            requests.append(peer.build_request(case))
        except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as err:
            print(f"oracle: skipping unbuildable case: {err}", file=sys.stderr)
    return requests


def timed_loop(resolver, requests, count):
    """Resolve `count` requests round-robin; return (per-call ns list, error count).

    Each timed span is exactly what a host pays per evaluation:
    request encode, copy into the guest, the guest's resolve, response decode
    (PeerResolver.resolve -> WasmResolver.resolve_process). Log drains run
    outside the timed spans, as a host would do them on another thread.
    """
    clock = time.perf_counter_ns
    samples = []
    errors = 0
    for i in range(count):
        request = requests[i % len(requests)]
        start = clock()
        try:
            resolver.resolve(request)
        except peer.ResolveError:
            errors += 1
        samples.append(clock() - start)
        if (i + 1) % DRAIN_EVERY == 0:
            resolver.drain_logs()
    return samples, errors


def percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def run_bench(args):
    resolver = make_resolver(args)
    requests = prebuild_requests(read_cases(args.cases))
    if not requests:
        sys.exit("oracle: no cases to benchmark")
    warmup = min(1000, max(1, args.iterations // 10))
    timed_loop(resolver, requests, warmup)
    resolver.drain_logs()

    samples, errors = timed_loop(resolver, requests, args.iterations)
    total_ns = sum(samples)
    ordered = sorted(samples)
    mean_us = total_ns / len(samples) / 1000.0
    print(f"cases={len(requests)} resolves={len(samples)} errors={errors} "
          f"p50_us={percentile(ordered, 0.50) / 1000.0:.2f} "
          f"p99_us={percentile(ordered, 0.99) / 1000.0:.2f}")
    print(f"resolves/s={len(samples) / (total_ns / 1e9):.1f} mean_us={mean_us:.2f}")
    return 0


def run_version(args):
    identity = peer.peer_identity(peer.require_peer_package())
    for key, value in identity.items():
        print(f"{key}: {value}")
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("eval", "bench"):
        sub = commands.add_parser(name)
        peer.add_state_arguments(sub)
        sub.add_argument("--cases", required=True, help="JSONL file of cases")
        if name == "bench":
            sub.add_argument("--iterations", type=int, default=20000,
                             help="timed resolve calls, cycling through the cases")
    commands.add_parser("version")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.command == "eval":
        return run_eval(args)
    if args.command == "version":
        return run_version(args)
    return run_bench(args)


if __name__ == "__main__":
    sys.exit(main())
