#!/usr/bin/env python3
"""Local Confidence backend for tests and the demo: one process serving the CDN
state, the flag-log endpoints (gRPC + HTTP), the materialization store RPCs and a
JSON control API, all on 127.0.0.1. See README.md beside this file.

  server.py --state FILE --secret SECRET [--account A] [--encryption-key HEX]
            [--http-port 0] [--grpc-port 0] [--ports-file PATH]
            [--log-destinations edge,cloudflare] [--max-lifetime 600]
            [--tls-cert PEM --tls-key PEM [--https-port 0]]

Prints `READY http=<port> grpc=<port>` once both listeners are up (with
` https=<port>` appended when TLS is on). Stops on
SIGTERM/SIGINT, POST /control/shutdown, stdin EOF (with --exit-on-stdin-eof), or
after --max-lifetime seconds.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usevenv  # noqa: E402

usevenv.ensure()

import grpc_service  # noqa: E402
import http_front  # noqa: E402
import protos  # noqa: E402
from backend import Backend  # noqa: E402
from state import parse_key, parse_log_destinations  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--state", required=True, help="ResolverState or ClientResolverState file")
    p.add_argument("--secret", required=True, help="client secret the clients authenticate with")
    p.add_argument("--account", default="test-account",
                   help="account id for a wrapped raw ResolverState (default test-account)")
    p.add_argument("--encryption-key", default="", help="hex AES key enabling GET /<hash>.enc")
    p.add_argument("--http-port", type=int, default=0, help="CDN/ingest/control port (0 = any)")
    p.add_argument("--grpc-port", type=int, default=0, help="gRPC h2c port (0 = any)")
    p.add_argument("--ports-file", help='write {"http": p, "grpc": g} here once listening')
    p.add_argument("--log-destinations", default="",
                   help="envelope log_destinations for a wrapped state, e.g. edge,cloudflare")
    p.add_argument("--max-lifetime", type=float, default=600.0,
                   help="exit after this many seconds (default 600)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin closes (ties the server to a parent's pipe)")
    p.add_argument("--tls-cert", help="PEM certificate (chain) for an HTTPS listener serving the HTTP routes")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--https-port", type=int, default=0, help="HTTPS port with --tls-cert (0 = any)")
    p.add_argument("--verbose", action="store_true", help="log HTTP requests to stderr")
    return p.parse_args(argv)


def write_ports_file(path, ports):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(ports, f)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        sys.stderr.write("testserver: --tls-cert and --tls-key go together\n")
        return 2
    try:
        tls = http_front.tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        sys.stderr.write("testserver: TLS certificate or key: %s\n" % e)
        return 2
    try:
        key = parse_key(args.encryption_key)
        dests = parse_log_destinations(args.log_destinations)
        with open(args.state, "rb") as f:
            data = f.read()
    except (ValueError, OSError) as e:
        sys.stderr.write("testserver: %s\n" % e)
        return 2

    pb = protos.load()
    backend = Backend(pb, args.secret, args.account, dests, key)
    try:
        backend.set_state(data)
    except ValueError as e:
        sys.stderr.write("testserver: %s: %s\n" % (args.state, e))
        return 2

    reason = {"why": "max-lifetime"}

    def on_signal(signum, _frame):
        reason["why"] = signal.Signals(signum).name
        backend.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        httpd = http_front.make_server(backend, args.http_port, verbose=args.verbose)
        grpc_server, grpc_port = grpc_service.make_server(backend, args.grpc_port)
        httpsd = http_front.make_server(backend, args.https_port, args.verbose, tls) if tls else None
    except (OSError, RuntimeError) as e:
        sys.stderr.write("testserver: cannot listen: %s\n" % e)
        return 1
    ports = {"http": httpd.server_address[1], "grpc": grpc_port}
    threading.Thread(target=httpd.serve_forever, name="http", daemon=True).start()
    if httpsd:
        ports["https"] = httpsd.server_address[1]
        threading.Thread(target=httpsd.serve_forever, name="https", daemon=True).start()

    if args.exit_on_stdin_eof:
        def watch_stdin():
            # os.read, not sys.stdin: a buffered reader's lock held by this daemon
            # thread would abort the interpreter at exit.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            reason["why"] = "stdin closed"
            backend.stop.set()

        threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()

    if args.ports_file:
        write_ports_file(args.ports_file, ports)
    sys.stdout.write("READY " + " ".join("%s=%d" % kv for kv in ports.items()) + "\n")
    sys.stdout.flush()

    if not backend.stop.wait(args.max_lifetime):
        reason["why"] = "max-lifetime"
        backend.stop.set()  # releases handlers parked in timeout/slow faults
    elif reason["why"] == "max-lifetime":
        reason["why"] = "shutdown request"
    sys.stderr.write("testserver: stopping (%s)\n" % reason["why"])
    for server in (httpd, httpsd) if httpsd else (httpd,):
        server.shutdown()
        server.server_close()
    grpc_server.stop(grace=1).wait(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
