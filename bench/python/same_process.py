"""This package against OpenFeature's no-op provider in one process, as JSON on
stdout (run by bench/python/same_process.sh): blocks of evaluations of a
boolean flag, the two providers alternating, directly and through a client
each, so a slow spell of the machine (this one has whole seconds at half
speed) lands on both alike. Each block is timed as a whole, with no timer
around each call. Reported: per evaluation, the fastest and the median
block of each, and the median of the per-round ratios.
Usage: same_process.py STATE_FILE [ROUNDS]"""

import json
import os
import statistics
import sys
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.no_op_provider import NoOpProvider

from confidence import ConfidenceProvider

state, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
FLAG = "new-checkout.enabled"
CONTEXTS = [EvaluationContext(targeting_key=f"user-{i}", attributes={"country": ["US", "SE", "DE"][i % 3],
                                                                      "app": {"version": "2.3.1"}}) for i in range(512)]
ours = ConfidenceProvider("demo-client-secret", state_file=state, disable_state_sync=True,
                          flag_log_url="http://127.0.0.1:9", events_url="http://127.0.0.1:9")
noop = NoOpProvider()
api.set_provider(ours)
api.set_provider(noop, "noop")
assert ours.resolve_boolean_details(FLAG, False, CONTEXTS[0]).variant is not None
calls = {
    "noop_direct": (noop.resolve_boolean_details, 20000),
    "ours_direct": (ours.resolve_boolean_details, 20000),
    "noop_client": (api.get_client("noop").get_boolean_value, 2000),
    "ours_client": (api.get_client().get_boolean_value, 2000),
}


def block(f, n):
    t = time.perf_counter_ns()
    for i in range(n):
        f(FLAG, False, CONTEXTS[i & 511])
    return (time.perf_counter_ns() - t) / n


ns = {name: [] for name in calls}
for _ in range(rounds):
    for name, (f, n) in calls.items():
        ns[name].append(block(f, n))
out = {"rounds": rounds}
for name, v in ns.items():
    out[name] = {"fastest_ns": round(min(v)), "median_ns": round(statistics.median(v))}
for how in ("direct", "client"):
    mine, floor = ns[f"ours_{how}"], ns[f"noop_{how}"]
    out[f"{how}_ratio"] = {"of_fastest": round(min(mine) / min(floor), 2),
                           "median_per_round": round(statistics.median(a / b for a, b in zip(mine, floor)), 2)}
print(json.dumps(out), flush=True)
os._exit(0)  # the exposures are not the point here: no shutdown wait
