"""8 threads evaluating while the state changes under them, and a provider
set before os.fork() that keeps evaluating, syncing and logging in the child."""

import os
import threading
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from confidence import ConfidenceProvider
from conftest import SAMPLE_STATE, SAMPLE_STATE_V2, SECRET


def test_eight_threads_while_the_state_changes(fresh_backend):
    p = ConfidenceProvider(SECRET, **fresh_backend.provider_kwargs(), state_poll_interval=0.05)
    api.set_provider(p)
    p.initialize(None)
    client = api.get_client()
    stop = threading.Event()
    errors, counts = [], [0] * 8

    def worker(i):
        n = 0
        while not stop.is_set():
            ctx = EvaluationContext(targeting_key=f"t{i}-{n}", attributes={"country": "SE", "_confidence_skip_apply": n % 2 == 0})
            d = client.get_boolean_details("new-checkout.enabled", False, ctx)
            if d.error_code is not None or d.variant not in ("flags/new-checkout/variants/on", "flags/new-checkout/variants/off"):
                errors.append(d)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for k in range(10):
        fresh_backend.set_state(SAMPLE_STATE_V2 if k % 2 == 0 else SAMPLE_STATE)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    api.shutdown()
    assert not errors, errors[:3]
    total = sum(counts)
    st = p.get_stats()
    assert st["evaluations"] == total
    applying = sum(c // 2 for c in counts)  # odd n apply
    assert st["exposures_sent"] + st["exposures_deduplicated"] + st["exposures_dropped"] + st["exposures_queued"] == applying
    assert st["state_updates"] >= 3


def test_fork_child_keeps_working(fresh_backend):
    p = ConfidenceProvider(SECRET, **fresh_backend.provider_kwargs(), state_poll_interval=0.2)
    api.set_provider(p)
    p.initialize(None)
    client = api.get_client()
    assert client.get_boolean_value("new-checkout.enabled", False, EvaluationContext("parent-unit")) in (True, False)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: evaluate, see a state change, deliver exposures
        code = 1
        try:
            d = client.get_boolean_details("new-checkout.enabled", False, EvaluationContext("child-unit", {"country": "SE"}))
            ok = d.error_code is None
            before = p.get_stats()["state_updates"]
            os.write(w, b"x")  # parent swaps the state now
            deadline = time.monotonic() + 10
            while p.get_stats()["state_updates"] == before and time.monotonic() < deadline:
                time.sleep(0.05)
            synced = p.get_stats()["state_updates"] > before
            flushed = p.flush(10)
            code = 0 if ok and synced and flushed and p.get_stats()["exposures_sent"] >= 1 else 3
        finally:
            os._exit(code)
    os.read(r, 1)
    fresh_backend.set_state(SAMPLE_STATE_V2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, "the child could not evaluate, sync or deliver"
    applied = {a["targeting_key"] for a in fresh_backend.summary()["applied"]}
    assert "child-unit" in applied
    # The parent goes on too.
    assert client.get_boolean_details("new-checkout.enabled", False, EvaluationContext("p2")).error_code is None
