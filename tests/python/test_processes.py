"""The provider in multiprocessing children, fork and spawn, as
docs/python-servers.md describes them (and forkserver): what each child evaluated arrives at
the backend exactly once per child when the child shuts OpenFeature down the
way the page says, and is lost when a forked pool worker does nothing (it
leaves through os._exit(), so the package's atexit handler never runs)."""

import multiprocessing
import os
import sys

import pytest
from openfeature import api

from confidence import ConfidenceProvider
from conftest import REPO, SECRET, exposures_per_key

SERVERS = os.path.join(REPO, "tests", "python", "servers")
if SERVERS not in sys.path:
    sys.path.insert(0, SERVERS)  # spawned children get the parent's sys.path
import mp_tasks  # noqa: E402

KEYS = [f"proc-{i:02d}" for i in range(40)]
FLAG = "flags/new-checkout"


@pytest.fixture
def env(endpoints, monkeypatch):
    monkeypatch.setenv("FLAG_APP_SECRET", SECRET)
    return endpoints


def _provider_in_parent():
    provider = ConfidenceProvider(client_secret=SECRET)
    api.set_provider(provider)
    provider.initialize(None)
    return provider


def _run_pool(method, initializer):
    pool = multiprocessing.get_context(method).Pool(2, initializer=initializer)
    try:
        # Bounded: a pool whose children cannot start (a __main__ spawn cannot
        # import) replaces them for ever; fail instead of hanging the suite.
        results = pool.map_async(mp_tasks.evaluate, KEYS * 2, chunksize=1).get(timeout=120)
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    assert all(r["error"] is None for r in results), results[:3]
    workers_of = {}
    for r in results:
        workers_of.setdefault(r["key"], set()).add(r["pid"])
    return {k: len(p) for k, p in workers_of.items()}


@pytest.mark.parametrize("method,initializer", [
    ("fork", mp_tasks.shutdown_at_exit),  # provider inherited; a finalizer shuts it down
    ("spawn", mp_tasks.make_provider),  # provider made in the child; atexit shuts it down
    ("forkserver", mp_tasks.provider_and_finalizer),  # made in the child; no atexit: a finalizer
], ids=["fork-finalizer", "spawn-atexit", "forkserver-finalizer"])
def test_pool_workers_deliver_once_each(env, method, initializer):
    if method == "fork":
        _provider_in_parent()
    expected = _run_pool(method, initializer)
    assert exposures_per_key(env.summary(), FLAG) == expected


def test_forked_pool_worker_without_a_finalizer_loses_exposures(env):
    _provider_in_parent()
    expected = _run_pool("fork", None)
    # Exposures leave every log_poll_interval (10 s): the workers exit before.
    assert sum(exposures_per_key(env.summary(), FLAG).values()) < sum(expected.values())


def test_forked_process_that_shuts_down_delivers(env):
    _provider_in_parent()
    child = multiprocessing.get_context("fork").Process(target=mp_tasks.evaluate_then_shutdown, args=(KEYS,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert exposures_per_key(env.summary(), FLAG) == {k: 1 for k in KEYS}
