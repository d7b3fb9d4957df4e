"""A provider made READY before os.fork(), as under gunicorn --preload: the
children answer from the state they inherited at once, send no CDN request
at the fork, and each polls first a jittered poll interval later ([3/4, 5/4)
of it), as the local backend's request log shows."""

import os
import time

from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from confidence import ConfidenceProvider
from conftest import SAMPLE_STATE, SECRET, start_backend

POLL = 1.0  # seconds
CHILDREN = 3
LATE = 1.5  # scheduling delay allowed on a loaded machine past the latest due time
CHILD_LIFE = POLL * 5 / 4 + LATE  # long enough for every first poll, short of most second ones


def _child(p, w):
    code = 1
    try:
        forked_at = time.time()
        d = p.resolve_boolean_details("new-checkout.enabled", False, EvaluationContext("forked-unit", {"country": "SE"}))
        answered = d.error_code is None and d.reason == Reason.TARGETING_MATCH
        reloaded = p.get_stats()["state_updates"] != 0
        os.write(w, f"{forked_at}\n".encode())
        time.sleep(CHILD_LIFE)
        code = 0 if answered and not reloaded else 3
    finally:
        os._exit(code)


def test_children_poll_a_jittered_interval_after_the_fork(tmp_path):
    backend = start_backend(SAMPLE_STATE, SECRET, str(tmp_path))
    try:
        p = ConfidenceProvider(SECRET, **backend.provider_kwargs(), state_poll_interval=POLL)
        p.initialize(None)
        assert len(backend._req("GET", "/control/received")["cdn"]) == 1
        r, w = os.pipe()
        pids = []
        for _ in range(CHILDREN):
            pid = os.fork()
            if pid == 0:
                _child(p, w)
            pids.append(pid)
        # The parent's own polls would mix with the children's: it stops here,
        # before its first poll is due.
        p.shutdown()
        os.close(w)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "a child did not answer from its state"
        with os.fdopen(r) as f:
            forks = sorted(float(line) for line in f)
        assert len(forks) == CHILDREN
        polls = sorted(e["time"] for e in backend._req("GET", "/control/received")["cdn"][1:])
        # The wait starts in the fork's child handler, a moment before the
        # child read its clock; 50 ms covers that moment.
        early = [t - forks[0] for t in polls if t < forks[0] + POLL * 3 / 4 - 0.05]
        assert not early, f"CDN requests {early} s after the first fork"
        first_polls = [t for t in polls if t < forks[-1] + POLL * 5 / 4 + LATE]
        assert len(first_polls) >= CHILDREN, f"{len(first_polls)} first polls from {CHILDREN} children: {polls}"
        assert all(e["status"] == 304 for e in backend._req("GET", "/control/received")["cdn"][1:])
    finally:
        backend.proc.terminate()
        backend.proc.wait(10)
