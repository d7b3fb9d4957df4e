"""One implementation's numbers, as JSON on stdout (run by bench/python/run.sh in
that implementation's venv): time from set_provider to READY, resident memory
after READY, per-evaluation latency (mean, p50, p99) through the OpenFeature
client and calling the provider directly (a string flag and a boolean flag), and
throughput on 1 and 2 threads.
Usage: bench.py native|peer|noop HTTP_PORT GRPC_PORT SECRET KEY_HEX"""

import json
import os
import resource
import sys
import threading
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_providers  # noqa: E402  (beside this file; -I leaves the script's directory out)

impl, http, grpc_port, secret, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
FLAG = "button-style.color"     # a string flag: its value is decoded on every call
BOOL_FLAG = "new-checkout.enabled"  # a boolean flag: the SDK's most common call
N = 20000 if impl != "peer" else 3000
CONTEXTS = [EvaluationContext(targeting_key=f"user-{i}", attributes={"country": ["US", "SE", "DE"][i % 3],
                                                                      "app": {"version": "2.3.1"}}) for i in range(512)]


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_provider():
    return bench_providers.make_provider(impl, http, grpc_port, secret, key)


def latency(fn, n):
    samples = []
    for i in range(n):
        ctx = CONTEXTS[i & 511]
        t = time.perf_counter_ns()
        fn(ctx)
        samples.append(time.perf_counter_ns() - t)
    samples.sort()
    return {"mean_us": sum(samples) / n / 1000, "p50_us": samples[n // 2] / 1000, "p99_us": samples[int(n * 0.99)] / 1000}


def throughput(fn, threads, seconds=1.0):
    counts = [0] * threads
    stop = threading.Event()

    def work(k):
        i = 0
        while not stop.is_set():
            fn(CONTEXTS[i & 511])
            i += 1
        counts[k] = i

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    return sum(counts) / seconds


out = {"impl": impl, "rss_start_mib": rss_mib()}
provider = make_provider()
t0 = time.perf_counter()
api.set_provider_and_wait(provider) if hasattr(api, "set_provider_and_wait") else api.set_provider(provider)
while impl != "noop" and provider.get_status().name != "READY":
    time.sleep(0.001)
out["ready_ms"] = (time.perf_counter() - t0) * 1000
out["rss_ready_mib"] = rss_mib()
client = api.get_client()
via_client = lambda ctx: client.get_string_value(FLAG, "x", ctx)  # noqa: E731
direct = lambda ctx: provider.resolve_string_details(FLAG, "x", ctx)  # noqa: E731
assert impl == "noop" or via_client(CONTEXTS[0]) != "x"
latency(via_client, min(N, 2000))  # warm-up
out["client"] = latency(via_client, N)
out["direct"] = latency(direct, N)
via_client_bool = lambda ctx: client.get_boolean_value(BOOL_FLAG, False, ctx)  # noqa: E731
direct_bool = lambda ctx: provider.resolve_boolean_details(BOOL_FLAG, False, ctx)  # noqa: E731
assert impl == "noop" or direct_bool(CONTEXTS[0]).variant is not None
out["client_bool"] = latency(via_client_bool, N)
out["direct_bool"] = latency(direct_bool, N)
out["client_1t_per_s"] = throughput(via_client, 1)
out["client_2t_per_s"] = throughput(via_client, 2)
if impl == "native":
    from confidence import ConfidenceProvider
    api.shutdown()
    provider = ConfidenceProvider(secret, key, cdn_base_url=f"http://127.0.0.1:{http}",
                                  flag_log_url=f"http://127.0.0.1:{grpc_port}", release_gil=True)
    api.set_provider_and_wait(provider)
    client = api.get_client()
    out["direct_gil_released"] = latency(lambda ctx: provider.resolve_string_details(FLAG, "x", ctx), N)
    out["client_2t_per_s_gil_released"] = throughput(lambda ctx: client.get_string_value(FLAG, "x", ctx), 2)
out["rss_end_mib"] = rss_mib()
api.shutdown()
print(json.dumps(out))
