"""Throughput on 1 thread and on 2, as JSON on stdout (run by bench/python/threads.sh):
N evaluations per thread of a boolean flag, each thread with its own
EvaluationContexts (made on that thread), started together, calling
provider.resolve_boolean_details directly and client.get_boolean_value
through the OpenFeature SDK; then the same with every thread evaluating the
same contexts. On a free-threaded CPython the two threads run in parallel;
with a GIL they take turns.

The machine is shared, so what a second thread can gain varies from one
moment to the next. Each round runs every case on 1 thread and on 2 one after
the other, with a reference among them: hashing in C (no interpreter, no
shared data), which shows what 2 threads can gain at that moment, and
OpenFeature's no-op provider, directly and through the SDK, the floor any
provider shares. The fastest of ROUNDS runs of each is kept, and each case's
speedup is reported beside the reference's ("efficiency": the ratio of the
two). The evaluating threads' CPU time per evaluation rises with 2 threads
only through contention (cache lines bounced between cores, locks spun on);
the process's CPU time per evaluation adds the background threads (the
exposure drainer), which share the 2 cores with the evaluating threads.
Usage: threads.py HTTP_PORT GRPC_PORT SECRET [N] [ROUNDS]"""

import hashlib
import json
import os
import platform
import sys
import sysconfig
import threading
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.no_op_provider import NoOpProvider

from confidence import ConfidenceProvider

http, grpc_port, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
N = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 20
FLAG = "new-checkout.enabled"


def contexts(tag):
    return [EvaluationContext(targeting_key=f"user-{tag}-{i}",
                              attributes={"country": ["US", "SE", "DE"][i % 3], "app": {"version": "2.3.1"}})
            for i in range(512)]


SHARED = contexts("shared")


def run(make_call, threads, shared, n):
    """(calls per second, CPU ns per call) of `threads` threads making n calls each."""
    barrier = threading.Barrier(threads)
    began, done, cpu = [0.0] * threads, [0.0] * threads, [0] * threads

    def work(k):
        call = make_call()
        ctxs = SHARED if shared else contexts(k)
        for i in range(min(n, 1000)):  # warm: this thread's first calls are not timed
            call(ctxs[i & 511])
        barrier.wait()
        began[k], cpu0 = time.perf_counter(), time.thread_time_ns()
        for i in range(n):
            call(ctxs[i & 511])
        done[k], cpu[k] = time.perf_counter(), time.thread_time_ns() - cpu0

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    proc0 = time.process_time_ns()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    proc = time.process_time_ns() - proc0
    if not all(done):
        sys.exit("threads.py: a thread failed")
    return threads * n / (max(done) - min(began)), sum(cpu) / (threads * n), proc / (threads * (n + min(n, 1000)))


provider = ConfidenceProvider(secret, cdn_base_url=f"http://127.0.0.1:{http}",
                              flag_log_url=f"http://127.0.0.1:{grpc_port}", events_url=f"http://127.0.0.1:{grpc_port}")
api.set_provider_and_wait(provider) if hasattr(api, "set_provider_and_wait") else api.set_provider(provider)
while provider.get_status().name != "READY":
    time.sleep(0.001)
client = api.get_client()
assert provider.resolve_boolean_details(FLAG, False, SHARED[0]).variant is not None
BLOCK = b"x" * (1 << 16)

# The floor: OpenFeature's no-op provider, called directly and through a client of its own domain.
noop = NoOpProvider()
api.set_provider(noop, "noop")
noop_client = api.get_client("noop")

# name: (what each thread calls per evaluation, made on that thread; shared contexts; calls per run)
cases = {
    "reference_hashing": (lambda: (lambda ctx: hashlib.sha256(BLOCK).digest()), False, max(N // 50, 20)),
    "noop_provider": (lambda: (lambda ctx, resolve=noop.resolve_boolean_details: resolve(FLAG, False, ctx)), False, N),
    "provider": (lambda: (lambda ctx, resolve=provider.resolve_boolean_details: resolve(FLAG, False, ctx)), False, N),
    "provider_shared_contexts":
        (lambda: (lambda ctx, resolve=provider.resolve_boolean_details: resolve(FLAG, False, ctx)), True, N),
    "noop_client": (lambda: (lambda ctx, get=noop_client.get_boolean_value: get(FLAG, False, ctx)), False, max(N // 8, 100)),
    "client": (lambda: (lambda ctx, get=client.get_boolean_value: get(FLAG, False, ctx)), False, max(N // 8, 100)),
    "client_shared_contexts":
        (lambda: (lambda ctx, get=client.get_boolean_value: get(FLAG, False, ctx)), True, max(N // 8, 100)),
}
fastest = {(name, t): (0.0, 0.0, 0.0) for name in cases for t in (1, 2)}
load = os.getloadavg()[0]
# Exposures a full ring turned away (counted, never silent), per case: the
# drainer runs at a lower priority than evaluating threads.
dropped = {(name, t): 0 for name in cases for t in (1, 2)}
for _ in range(ROUNDS):
    for name, (make_call, shared, n) in cases.items():
        for t in (1, 2):
            before = provider.get_stats()["exposures_dropped"]
            fastest[name, t] = max(fastest[name, t], run(make_call, t, shared, n), key=lambda r: r[0])
            dropped[name, t] += provider.get_stats()["exposures_dropped"] - before
gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
out = {"python": platform.python_version(), "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
       "gil_enabled": gil, "n_per_thread": N, "rounds": ROUNDS, "load_before": round(load, 2)}
reference = fastest["reference_hashing", 2][0] / fastest["reference_hashing", 1][0]
for name in cases:
    (one, cpu1, proc1), (two, cpu2, proc2) = fastest[name, 1], fastest[name, 2]
    out[name] = {"1t_per_s": round(one), "2t_per_s": round(two), "speedup": round(two / one, 2),
                 "efficiency": round(two / one / reference, 2), "1t_cpu_ns": round(cpu1), "2t_cpu_ns": round(cpu2),
                 "1t_process_cpu_ns": round(proc1), "2t_process_cpu_ns": round(proc2),
                 "1t_exposures_dropped": dropped[name, 1], "2t_exposures_dropped": dropped[name, 2]}
api.shutdown()
# Whether the drainer kept up: every exposure sent or deduplicated, none dropped.
stats = provider.get_stats()
out["exposures"] = {k: stats[k] for k in ("evaluations", "exposures_sent", "exposures_deduplicated", "exposures_dropped")}
print(json.dumps(out))
