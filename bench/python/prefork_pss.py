"""Memory of a pre-fork server: gunicorn --preload with 4 sync workers serving
bench/python/prefork_app.py, whose provider the master makes READY before it
forks. After 2,000 requests (every worker answers; PREFORK_ROUNDS=N makes each
evaluate 2N times instead of twice), the proportional set size
(Pss: shared pages split among the processes sharing them) and RSS of the
master and each worker are read from /proc/<pid>/smaps_rollup; the CDN
requests the backend received from the fork on are counted. One JSON line
on stdout. Run by bench/python/prefork_pss.sh in each implementation's venv.
Usage: prefork_pss.py native|peer HTTP_PORT GRPC_PORT SECRET KEY_HEX CONTROL_URL"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = 4
REQUESTS = 2000  # a connection each: many more run out of ephemeral ports (TIME_WAIT)
ROUNDS = int(os.environ.get("PREFORK_ROUNDS", "1"))  # 2 evaluations per round, a targeting key each
impl, http, grpc_port, secret, key, control = sys.argv[1:7]


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) / 1024.0
    return {k: round(out[k], 2) for k in ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                                          "Private_Dirty", "Anonymous")}


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return sorted(int(c) for c in f.read().split())


def reset_backend():
    """Forgets what the backend recorded (reading it back renders every flag log)."""
    req = urllib.request.Request(control + "/control/reset", data=b"{}", method="POST")
    urllib.request.urlopen(req, timeout=30).close()


def cdn_requests():
    with urllib.request.urlopen(control + "/control/received", timeout=60) as r:
        return len(json.loads(r.read())["cdn"])


def get(port, k):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?key=user-{k}&rounds={ROUNDS}", timeout=30) as r:
        return json.loads(r.read())["pid"]


with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(os.environ, PREFORK_IMPL=impl, PREFORK_HTTP=http, PREFORK_GRPC=grpc_port, PREFORK_SECRET=secret,
           PREFORK_KEY=key)
log = tempfile.TemporaryFile()
reset_backend()
master = subprocess.Popen([sys.executable, "-m", "gunicorn", "--preload", "-w", str(WORKERS), "-k", "sync",
                           "-b", f"127.0.0.1:{port}", "--chdir", HERE, "prefork_app:wsgi"],
                          env=env, stdout=log, stderr=subprocess.STDOUT)
try:
    deadline = time.monotonic() + 120
    while True:  # the master made the provider READY, then forked: the workers accept
        assert master.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn did not serve in time"
        try:
            if len(children(master.pid)) == WORKERS:
                get(port, 0)
                break
        except OSError:
            pass
        time.sleep(0.1)
    workers = children(master.pid)
    with ThreadPoolExecutor(8) as pool:
        served_by = set(pool.map(lambda k: get(port, k), range(REQUESTS)))
    assert served_by <= set(workers) and len(served_by) == WORKERS, (served_by, workers)
    time.sleep(1.0)
    out = {"impl": impl, "master": rollup(master.pid), "workers": [rollup(w) for w in workers],
           "cdn_requests": cdn_requests(), "requests": REQUESTS,
           "evaluations": REQUESTS * ROUNDS * 2}
except BaseException:
    log.seek(0)
    sys.stderr.write(log.read().decode(errors="replace"))
    raise
finally:
    master.terminate()
    try:
        master.wait(30)
    except subprocess.TimeoutExpired:
        master.kill()
        master.wait()
if master.returncode not in (0, -15):
    log.seek(0)
    sys.stderr.write(log.read().decode(errors="replace"))
    sys.exit(f"gunicorn exited with {master.returncode}")
print(json.dumps(out))
