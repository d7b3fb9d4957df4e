"""The provider under real servers: gunicorn with 4 workers (sync, gthread,
and uvicorn's worker for ASGI) running servers/flag_app.py, which makes and
initialises the provider at import: with --preload once, in the master, and
the workers inherit it through fork(); without, in each worker. The test
drives a bounded load (300 requests), stops gunicorn with SIGTERM and checks
that the backend received every exposure exactly once per worker: apply dedup
is per process (RESOLVER_SPEC §4.6), so the backend's count for a targeting
key must be the number of distinct workers that evaluated it — one lost or
duplicated exposure changes a count."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO, SECRET, count_mismatches, exposures_per_key

SERVERS = os.path.join(REPO, "tests", "python", "servers")

WORKERS = 4
KEYS = [f"unit-{i:03d}" for i in range(100)]
IMPORT_KEY = "imported-unit"  # the app evaluates it at import (--preload: in the master)
REPEAT = 3  # each key requested this many times, in random order
CLIENT_THREADS = 8  # more than the workers, so every sync worker gets requests
FLAG = "flags/new-checkout"

# kind -> (worker class, app callable)
WORKER_CLASSES = {
    "sync": ("sync", "wsgi"),
    "gthread": ("gthread", "wsgi"),
    "uvicorn": ("uvicorn_worker.UvicornWorker", "asgi"),
}


def _get(port, key):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?key={key}", timeout=10) as r:
        return json.loads(r.read())


def _wait_booted(proc, booted_dir, deadline):
    while len(os.listdir(booted_dir)) < WORKERS:
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"only {os.listdir(booted_dir)} of {WORKERS} workers booted"
        time.sleep(0.05)
    return {int(p) for p in os.listdir(booted_dir)}


def _run_gunicorn(backend, tmp_path, kind, exit_via, preload=True):
    """Runs the load against gunicorn and stops it; returns (responses, worker pids, master pid, log)."""
    booted = tmp_path / "booted"
    booted.mkdir()
    env = dict(os.environ,
               CONFIDENCE_CDN_URL=backend.cdn,
               CONFIDENCE_FLAG_LOG_URL=backend.grpc_url,
               CONFIDENCE_EVENTS_URL=backend.grpc_url,
               FLAG_APP_SECRET=SECRET,
               FLAG_APP_IMPORT_KEY=IMPORT_KEY,
               FLAG_APP_BOOTED_DIR=str(booted),
               FLAG_APP_EXIT=exit_via,
               PYTHONPATH=SERVERS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # gunicorn gets an already bound socket: no free-port race.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    log = open(tmp_path / "gunicorn.log", "w+")
    worker_class, app = WORKER_CLASSES[kind]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *(["--preload"] if preload else []),
         "--workers", str(WORKERS), "--worker-class", worker_class,
         *(["--threads", "4"] if kind == "gthread" else []),
         "--bind", f"fd://{sock.fileno()}", "--graceful-timeout", "20",
         "--config", os.path.join(SERVERS, "gunicorn_conf.py"), f"flag_app:{app}"],
        env=env, pass_fds=(sock.fileno(),), stdout=log, stderr=subprocess.STDOUT)
    sock.close()
    stopped = False
    try:
        pids = _wait_booted(proc, booted, time.monotonic() + 30)
        order = KEYS * REPEAT
        random.Random(7).shuffle(order)
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            responses = list(pool.map(lambda k: _get(port, k), order))
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(40)
        stopped = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
        if not stopped:
            print(f"gunicorn's log:\n{text}")  # pytest shows it with the failure
    assert rc == 0, f"gunicorn exited with {rc}:\n{text}"
    return responses, pids, proc.pid, text


def _expected(responses, preload):
    """Exposures per targeting key: one per worker that evaluated it. The key
    the app evaluates at import: with --preload once, by the master before
    forking (the workers inherit its dedup memory, so they never send it
    again); without, once by each worker, which imported the app itself."""
    workers_of, variant_of = {}, {}
    for r in responses:
        workers_of.setdefault(r["key"], set()).add(r["pid"])
        assert variant_of.setdefault(r["key"], r["variant"]) == r["variant"], r
    expected = {k: len(w) for k, w in workers_of.items()}
    expected[IMPORT_KEY] = 1 if preload else WORKERS
    return expected, variant_of


def _check_served(responses, pids, master, preload):
    assert len(responses) == len(KEYS) * REPEAT
    bad = [r for r in responses
           if r["error"] is not None or not (r["variant"] or "").startswith(FLAG + "/variants/")]
    assert not bad, bad[:3]
    if preload:  # the provider was made once, in the master, and serves from 4 forked workers
        assert {r["imported_in"] for r in responses} == {master}
    else:  # each worker made its own
        assert all(r["imported_in"] == r["pid"] for r in responses)
    # Which worker accepts a connection is the kernel's choice (and a uvicorn
    # worker's event loop may take many at once): a worker can serve none, but
    # the load must have been spread over several, and only over workers.
    served = {r["pid"] for r in responses}
    assert served <= pids and len(served) >= 2, f"requests reached {sorted(served)}, workers {sorted(pids)}"


# What each setup does at worker exit: WSGI (sync and gthread workers) with
# gunicorn's worker_exit hook, or with nothing but the package's atexit handler
# (such a worker leaves through sys.exit, so atexit runs); ASGI (uvicorn
# worker) with the app's lifespan shutdown. And once without --preload.
@pytest.mark.parametrize("kind,exit_via,preload", [
    ("sync", "worker_exit", True), ("sync", "atexit", True), ("gthread", "atexit", True),
    ("uvicorn", "lifespan", True), ("sync", "worker_exit", False)])
def test_every_exposure_arrives_once_per_worker(fresh_backend, tmp_path, kind, exit_via, preload):
    t0 = time.monotonic()
    responses, pids, master, log = _run_gunicorn(fresh_backend, tmp_path, kind, exit_via, preload)
    _check_served(responses, pids, master, preload)
    expected, variant_of = _expected(responses, preload)
    summary = fresh_backend.summary()
    wrong = count_mismatches(expected, exposures_per_key(summary, FLAG, variant_of))
    assert not wrong, f"(expected, received) per key: {dict(sorted(wrong.items())[:10])} ({len(wrong)} keys)\n{log}"
    # The resolve counters: every evaluation counted once, by the process that made it.
    resolved = sum(f["count"] for f in summary["flag_resolve_info"] if f["flag"] == FLAG)
    assert resolved == len(responses) + expected[IMPORT_KEY]
    print(f"{kind}/{exit_via}/preload={preload}: {len(responses)} requests over {len(pids)} workers, "
          f"{sum(expected.values())} exposures, {time.monotonic() - t0:.1f} s")


def test_uvicorn_worker_without_lifespan_shutdown_loses_exposures(fresh_backend, tmp_path):
    """The pitfall docs/python-servers.md warns about: after its graceful
    shutdown a uvicorn worker re-raises SIGTERM and dies of it, so neither
    atexit nor gunicorn's worker_exit runs. What the workers still held (the
    exposures of the last log_poll_interval, 10 s by default) never arrives."""
    responses, pids, master, log = _run_gunicorn(fresh_backend, tmp_path, "uvicorn", "worker_exit")
    _check_served(responses, pids, master, True)
    expected, variant_of = _expected(responses, True)
    got = exposures_per_key(fresh_backend.summary(), FLAG, variant_of)
    assert got.get(IMPORT_KEY) == 1  # sent by the master at import
    assert sum(got.get(k, 0) for k in KEYS) < sum(expected[k] for k in KEYS)
    assert log.count("was sent SIGTERM") == WORKERS, log
