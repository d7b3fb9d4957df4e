"""The provider in a Celery prefork worker (2 pool processes), made when the
worker imports servers/celery_tasks.py and inherited by the pool processes.
With the worker_process_shutdown hook docs/python-servers.md gives, every
exposure arrives once per pool process that evaluated its key, also from
pool processes replaced during the run (--max-tasks-per-child) — checked
after a warm shutdown (SIGTERM). Without it, what the pool processes held is
lost: they leave through os._exit(), so atexit never runs."""

import os
import signal
import subprocess
import sys
import time

import pytest
from celery import Celery

from conftest import REPO, SECRET, count_mismatches, exposures_per_key

SERVERS = os.path.join(REPO, "tests", "python", "servers")
KEYS = [f"task-{i:02d}" for i in range(40)]
FLAG = "flags/new-checkout"


def _process_states(root):
    """`root` and its child processes: state and where each thread waits in
    the kernel, for a worker that stalls (a hang shows which process and
    which wait; read from /proc, nothing to install)."""
    lines = []
    for pid in [root] + sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            waits = []
            for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
                with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                    waits.append(f.read() or "-")
        except OSError as e:
            lines.append(f"{pid}: {e}")
            continue
        lines.append(f"{pid} {state}, threads waiting in: {', '.join(waits)}")
    return "\n".join(lines)


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _run_worker(backend, tmp_path, exit_via, extra):
    queue = tmp_path / "queue"
    queue.mkdir()
    results = tmp_path / "results"
    env = dict(os.environ,
               CONFIDENCE_CDN_URL=backend.cdn, CONFIDENCE_FLAG_LOG_URL=backend.grpc_url,
               CONFIDENCE_EVENTS_URL=backend.grpc_url, FLAG_APP_SECRET=SECRET,
               FLAG_APP_QUEUE_DIR=str(queue), FLAG_APP_RESULTS=str(results), FLAG_APP_EXIT=exit_via,
               PYTHONPATH=SERVERS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Tasks are sent by name from an app of the test's own: importing the tasks
    # module here would make a provider in the test process.
    producer = Celery(broker="filesystem://", broker_transport_options={
        "data_folder_in": str(queue), "data_folder_out": str(queue), "control_folder": str(queue)})
    for key in KEYS * 2:
        producer.send_task("evaluate", args=[key])
    log = open(tmp_path / "celery.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", "prefork", "--concurrency", "2",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO", *extra],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    stopped = False
    try:
        deadline = time.monotonic() + 30
        done = []
        while len(done) < len(KEYS) * 2:
            assert proc.poll() is None, f"celery exited with {proc.returncode}"
            assert time.monotonic() < deadline, \
                f"{len(done)} of {len(KEYS) * 2} tasks done; processes:\n{_process_states(proc.pid)}"
            time.sleep(0.05)
            done = results.read_text().splitlines() if results.exists() else []
        proc.send_signal(signal.SIGTERM)  # warm shutdown
        rc = proc.wait(30)
        stopped = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
        if not stopped:
            print(f"celery's log:\n{text}")  # pytest shows it with the failure
    assert rc == 0, f"celery exited with {rc}:\n{text}"
    workers_of = {}
    for line in done:
        pid, key = line.split()
        workers_of.setdefault(key, set()).add(pid)
    assert set(workers_of) == set(KEYS)
    pids = {line.split()[0] for line in done}
    return {k: len(p) for k, p in workers_of.items()}, pids, text


def test_worker_process_shutdown_delivers_once_per_pool_process(fresh_backend, tmp_path):
    expected, pids, log = _run_worker(fresh_backend, tmp_path, "worker_process_shutdown",
                                      ["--max-tasks-per-child", "15"])
    assert len(pids) > 2, "no pool process was replaced"
    wrong = count_mismatches(expected, exposures_per_key(fresh_backend.summary(), FLAG))
    assert not wrong, f"(expected, received) per key: {dict(sorted(wrong.items())[:10])} ({len(wrong)} keys)\n{log}"


def test_pool_processes_without_the_hook_lose_exposures(fresh_backend, tmp_path):
    expected, _, _ = _run_worker(fresh_backend, tmp_path, "none", [])
    # Exposures leave every log_poll_interval (10 s): the pool processes exit before.
    assert sum(exposures_per_key(fresh_backend.summary(), FLAG).values()) < sum(expected.values())
