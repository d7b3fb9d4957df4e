"""Without a GIL: importing the package keeps free-threaded CPython's GIL
off, and the extension stays correct when threads share what they pass it
(one context's attributes mutated while others evaluate with them, providers
made on many threads at once). The sharing tests also run with a GIL, where
they check the same answers."""

import os
import subprocess
import sys
import sysconfig
import threading

import pytest
from openfeature.evaluation_context import EvaluationContext

from confidence import ConfidenceProvider
from conftest import SAMPLE_STATE, SECRET

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
FLAG = "new-checkout.enabled"
VARIANTS = ("flags/new-checkout/variants/on", "flags/new-checkout/variants/off")


@pytest.mark.skipif(not FREE_THREADED, reason="only a free-threaded CPython can run with the GIL disabled")
def test_import_keeps_the_gil_disabled():
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}  # the interpreter's own default
    code = ("import sys, warnings; warnings.simplefilter('error'); "
            "import confidence, confidence._native; from confidence import ConfidenceProvider; "
            "print(sys._is_gil_enabled())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not FREE_THREADED, reason="only a free-threaded CPython can run with the GIL disabled")
def test_this_run_has_the_gil_disabled():
    # The rest of this file proves something without a GIL only if it is off here too.
    assert not sys._is_gil_enabled()


def offline_provider():
    p = ConfidenceProvider(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True, disable_exposure_collection=True)
    p.initialize(None)
    return p


def test_shared_attributes_mutated_while_evaluating():
    p = offline_provider()
    shared = {"country": "SE", "tags": ["a", "b", "c"], "nested": {"x": 1}}
    ctx = EvaluationContext(targeting_key="user-1", attributes=shared)
    stop = threading.Event()
    bad, counts = [], [0] * 4

    def evaluate(i):
        n = 0
        while not stop.is_set() or n < 200:
            d = p.resolve_boolean_details(FLAG, False, ctx)
            if d.error_code is not None or d.variant not in VARIANTS:
                bad.append(d)
            n += 1
        counts[i] = n

    def mutate():
        k = 0
        while not stop.is_set():
            # Keys come and go (the dict resizes), list items are replaced
            # and the list shrinks and grows, while the evaluators read them.
            shared[f"k{k % 64}"] = [k] * (k % 5)
            shared.pop(f"k{(k + 32) % 64}", None)
            tags = shared["tags"]
            tags.append(str(k))
            if len(tags) > 8:
                del tags[:4]
            tags[0] = f"t{k}"
            shared["nested"] = {"x": k, "y": [k, k]}
            k += 1

    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(4)] + [threading.Thread(target=mutate)]
    for t in threads:
        t.start()
    threading.Event().wait(1.0)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    p.shutdown()
    assert bad == []
    assert min(counts) >= 200


def test_providers_made_on_many_threads_have_distinct_ids():
    made, lock = [], threading.Lock()
    barrier = threading.Barrier(8)

    def make():
        barrier.wait()
        mine = [ConfidenceProvider(SECRET, state_file=SAMPLE_STATE, disable_state_sync=True,
                                   disable_exposure_collection=True) for _ in range(5)]
        with lock:
            made.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [p._id for p in made]
    for p in made:
        p.shutdown()
    assert len(ids) == 40
    assert len(set(ids)) == 40
