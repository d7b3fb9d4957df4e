#!/usr/bin/env python3
"""Control-API client for the local Confidence backend, stdlib only, so any test
(shell, C via popen, Python) can drive it without the venv.

CLI (prints JSON; exit 1 on an HTTP error, 2 on usage errors):
  client.py (--port P | --ports-file F) health|summary|received|reset|shutdown
  client.py ... faults '{"cdn": {"mode": "status", "status": 503, "count": 2}}'
  client.py ... faults '{}'                      # clears all faults
  client.py ... state FILE [--account A] [--log-destinations edge,cloudflare]
  client.py ... materializations ['{"variants": [...], "inclusions": [...]}']
  client.py ... wait [--timeout 30]              # until the server answers health

Module:
  from client import Client, start
  with start("state.pb", "test-secret") as srv:     # runs server.py in its venv
      srv.client.faults({"grpc": {"mode": "unavailable", "count": 2}})
      ... srv.http_port, srv.grpc_port, srv.cdn_url ...
      print(srv.client.summary())
"""

import argparse
import hashlib
import json
import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class ControlError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body.strip()))
        self.status = status
        self.body = body


class Client:
    def __init__(self, port, host="127.0.0.1", timeout=30.0):
        self.base = "http://%s:%d" % (host, port)
        self.timeout = timeout

    @classmethod
    def from_ports_file(cls, path, **kw):
        with open(path) as f:
            return cls(json.load(f)["http"], **kw)

    def _call(self, method, route, body=None, query=None, ctype="application/json"):
        url = self.base + "/control/" + route
        if query:
            url += "?" + urllib.parse.urlencode(query)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raise ControlError(e.code, e.read().decode("utf-8", "replace"))

    def health(self):
        return self._call("GET", "health")

    def received(self):
        return self._call("GET", "received")

    def summary(self):
        return self._call("GET", "summary")

    def reset(self, keep_materializations=False):
        return self._call("POST", "reset", {"keep_materializations": keep_materializations})

    def faults(self, config=None):
        """Replaces all faults with `config` ({} or None clears); returns those in force."""
        return self._call("POST", "faults", config or {})

    def clear_faults(self):
        return self.faults({})

    def get_faults(self):
        return self._call("GET", "faults")

    def state(self, data, account=None, log_destinations=None):
        """Replaces the served state. data: bytes or a file path."""
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        query = {}
        if account is not None:
            query["account"] = account
        if log_destinations is not None:
            query["log_destinations"] = log_destinations
        return self._call("POST", "state", data, query, "application/octet-stream")

    def get_state(self):
        return self._call("GET", "state")

    def materializations(self, seed=None):
        if seed is None:
            return self._call("GET", "materializations")
        return self._call("POST", "materializations", seed)

    def shutdown(self):
        return self._call("POST", "shutdown", b"")

    def wait(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except (OSError, ControlError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)


class Server:
    """A server.py child process; use start() to make one."""

    def __init__(self, proc, http_port, grpc_port, secret, https_port=None):
        self.proc = proc
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.https_port = https_port  # the HTTP routes over TLS (start(tls=...)), else None
        self.secret = secret
        self.client = Client(http_port)
        path = hashlib.sha256(secret.encode()).hexdigest()
        self.cdn_url = "http://127.0.0.1:%d/%s" % (http_port, path)
        self.grpc_target = "127.0.0.1:%d" % grpc_port

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit code (kills after `timeout`)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(state, secret, account=None, encryption_key=None, log_destinations=None,
          max_lifetime=600, python=None, extra_args=(), ready_timeout=60.0, stderr=None,
          tie_to_parent=True, tls=None):
    """Starts server.py on ephemeral ports and waits for its READY line. With
    tie_to_parent the server also exits when this process dies (its stdin closes).
    tls=(cert_file, key_file) adds an HTTPS listener (Server.https_port)."""
    if python is None:
        sys.path.insert(0, HERE)
        import usevenv

        python = usevenv.venv_python()
        if not os.access(python, os.X_OK):
            python = sys.executable
    cmd = [python, os.path.join(HERE, "server.py"), "--state", state, "--secret", secret,
           "--max-lifetime", str(max_lifetime)]
    if account is not None:
        cmd += ["--account", account]
    if encryption_key:
        cmd += ["--encryption-key", encryption_key]
    if log_destinations:
        cmd += ["--log-destinations", log_destinations]
    if tie_to_parent:
        cmd.append("--exit-on-stdin-eof")
    if tls:
        cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    cmd += list(extra_args)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if tie_to_parent else None,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    deadline = time.monotonic() + ready_timeout
    line = ""
    # Protobuf compilation on first use takes a few seconds; READY comes after.
    # READY is the only line the server prints, written whole and flushed.
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            break
        line = proc.stdout.readline()
        if line.startswith("READY ") or not line:
            break
    if not line.startswith("READY "):
        proc.kill()
        proc.wait()
        raise RuntimeError("testserver did not become ready (exit %s)" % proc.returncode)
    ports = dict(kv.split("=") for kv in line.split()[1:])
    https = int(ports["https"]) if "https" in ports else None
    return Server(proc, int(ports["http"]), int(ports["grpc"]), secret, https)


def main(argv=None):
    p = argparse.ArgumentParser(description="Drive the local Confidence backend's control API.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="HTTP port of the server")
    where.add_argument("--ports-file", help="the server's --ports-file")
    p.add_argument("command", choices=["health", "summary", "received", "reset", "shutdown",
                                       "faults", "state", "materializations", "wait"])
    p.add_argument("arg", nargs="?", help="JSON for faults/materializations, FILE for state")
    p.add_argument("--account")
    p.add_argument("--log-destinations")
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args(argv)

    if a.ports_file and a.command == "wait":
        deadline = time.monotonic() + a.timeout
        while not os.path.exists(a.ports_file) and time.monotonic() < deadline:
            time.sleep(0.1)
    c = Client(a.port) if a.port else Client.from_ports_file(a.ports_file)
    try:
        if a.command in ("faults", "materializations") and a.arg is not None:
            doc = json.loads(a.arg)
            out = c.faults(doc) if a.command == "faults" else c.materializations(doc)
        elif a.command == "faults":
            out = c.get_faults()
        elif a.command == "state":
            if not a.arg:
                p.error("state needs a FILE")
            out = c.state(a.arg, a.account, a.log_destinations)
        elif a.command == "wait":
            out = c.wait(a.timeout)
        else:
            out = getattr(c, a.command)()
    except ValueError as e:
        p.error(str(e))
    except ControlError as e:
        print(json.dumps({"error": str(e), "status": e.status}))
        return 1
    except OSError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
