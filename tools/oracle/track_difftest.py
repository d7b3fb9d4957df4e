#!/usr/bin/env python3
"""Differential test of track events: our encoder (track_driver encode, tests/provider/track_driver.c)
against the official event engine (confidence_event_engine.wasm from the PyPI
package, driven through the package's own EventTracker).

  track_difftest.py --driver build/tests/track_driver [--count 2000] [--seed 1]

Each generated input (event name, context, value, data, event time) is given
to our encoder as is, and to the engine the way the official provider's
track() builds its TrackEventRequest (context without
"_confidence_skip_apply", data only when non-empty). The events are compared
as protobuf messages (Struct maps compare as maps). Last line:
`N passed, M failed`; exit 1 on any failure.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import peer

peer.ensure_peer_interpreter()

NAMES = ["purchase", "click", "", "page view", "eventDefinitions/x", "ünïcødé", "a/b", "x" * 300, "value", "context"]
KEYS = ["targeting_key", "country", "value", "context", "user", "n", "", "ü", "_confidence_skip_apply", "k.dot"]


def rand_scalar(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -0.0, 1, -7, 2 ** 40, 0.1, 1e300, -1e-300, 3.5])
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    return rng.choice(["", "SE", "user-1", "ünï", "x" * 200, "2024-01-01", "a\"b\\c\n"])


def rand_value(rng, depth):
    kind = rng.randrange(10)
    if depth < 5 and kind == 0:
        return [rand_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 5 and kind == 1:
        return rand_struct(rng, depth + 1)
    return rand_scalar(rng)


def rand_struct(rng, depth, with_key=False):
    out = {}
    if with_key:
        out["targeting_key"] = "user-%d" % rng.randrange(1000)
    for _ in range(rng.randrange(5)):
        out[rng.choice(KEYS)] = rand_value(rng, depth)
    return out


def gen_case(rng):
    case = {"name": rng.choice(NAMES) if rng.random() < 0.9 else "ev-%d" % rng.randrange(10 ** 6)}
    r = rng.random()
    case["context"] = None if r < 0.15 else {} if r < 0.25 else rand_struct(rng, 1, with_key=rng.random() < 0.6)
    r = rng.random()
    if r < 0.3:
        case["value"] = rng.choice([0, -0.0, 0.0, 1, 2.5, -3, 1e20])
    elif r < 0.5:
        case["value"] = rng.uniform(-1000, 1000)
    r = rng.random()
    case["data"] = None if r < 0.3 else {} if r < 0.4 else rand_struct(rng, 1)
    # a decimal string: a JSON number would lose the nanoseconds
    case["time_ns"] = str(rng.choice([0, 1, 999999999, 1700000000123456789, rng.randrange(0, 2 ** 62)]))
    return case


def engine_request(wasm_pb2, json_format, case):
    """The TrackEventRequest the official provider's track() builds."""
    request = wasm_pb2.TrackEventRequest(event_name=case["name"])
    request.event_time.seconds, request.event_time.nanos = divmod(int(case["time_ns"]), 10 ** 9)
    if "value" in case:
        request.value = float(case["value"])
    if case["context"] is not None:
        ctx = {k: v for k, v in case["context"].items() if k != "_confidence_skip_apply"}
        json_format.ParseDict(ctx, request.context)
    if case["data"]:
        json_format.ParseDict(case["data"], request.data)
    return request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import confidence
    from confidence.event_tracker import EventTracker
    from confidence.proto.confidence.events.v1 import types_pb2
    from confidence.proto.confidence.events.wasm.v1 import wasm_api_pb2
    from google.protobuf import json_format

    wasm = os.path.join(os.path.dirname(confidence.__file__), "wasm", "confidence_event_engine.wasm")
    with open(wasm, "rb") as f:
        tracker = EventTracker(f.read())
    rng = random.Random(args.seed)
    cases = [gen_case(rng) for _ in range(args.count)]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
        path = f.name
    try:
        ours = subprocess.run([args.driver, "encode", path], check=True, capture_output=True, text=True).stdout.split("\n")
    finally:
        os.unlink(path)
    passed = failed = 0
    for index, case in enumerate(cases):
        tracker.track_event(engine_request(wasm_api_pb2, json_format, case))
        theirs = list(tracker.flush_events().events)
        line = ours[index] if index < len(ours) else ""
        mine = None
        if not line.startswith("ERR"):
            mine = types_pb2.Event()
            mine.ParseFromString(bytes.fromhex(line))
        if len(theirs) == 1 and mine is not None and mine == theirs[0]:
            passed += 1
            continue
        failed += 1
        if failed <= 10:
            print("case %d differs: %s\n  ours:   %s\n  engine: %s" % (
                index, json.dumps(case, ensure_ascii=False), mine or line, theirs), file=sys.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
