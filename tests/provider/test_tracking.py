#!/usr/bin/env python3
"""Tracking and metrics against the local backend (tools/testserver): track
calls from 4 threads all arrive, a sink that is down loses nothing within the
queue bound and drops exactly the rest, shutdown delivers what is queued,
refused events are counted, and the metrics text parses with prometheus-client's
Prometheus and OpenMetrics parsers with values equal to the stats.

  test_tracking.py --driver build/tests/track_driver --state build/sample/state.pb
Run with the testserver venv's python (tools/testserver/setup.sh).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "testserver"))
import client  # noqa: E402
import usevenv  # noqa: E402

try:
    import prometheus_client  # noqa: F401
except ImportError:  # run under the testserver venv (tools/testserver/requirements.txt has it)
    PY = usevenv.venv_python()
    if os.path.abspath(sys.executable) == os.path.abspath(PY) or not os.access(PY, os.X_OK):
        sys.exit("prometheus-client missing: run tools/testserver/setup.sh")
    os.execv(PY, [PY, os.path.abspath(sys.argv[0])] + sys.argv[1:])

SECRET = "demo-client-secret"
ACCOUNT = "demo-shop-account"
ENETWORK = -12
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class Driver:
    def __init__(self, args, srv, max_queued):
        url = "http://127.0.0.1:%d" % srv.grpc_port
        self.proc = subprocess.Popen([args.driver, "provider", url, args.state, ACCOUNT, SECRET, str(max_queued)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stats(self):
        return json.loads(self.ask("stats"))

    def metrics(self, om=False):
        self.proc.stdin.write("metrics%s\n" % (" om" if om else ""))
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if line.startswith("# END") or not line:
                return "".join(lines)
            lines.append(line)

    def close(self):
        self.ask("quit") if self.proc.poll() is None else None
        self.proc.wait(30)


def identity(s):
    return s["tracked"] == s["queued"] + s["sent"] + s["rejected"] + s["dropped"] + s["invalid"]


def received_events(srv):
    return srv.client._call("GET", "events")["events"]


def test_threads(args, srv):
    n = 4000
    d = Driver(args, srv, 100000)
    d.ask("track %d 4" % n)
    check(d.ask("flush 10000") == "0", "flush delivers %d events tracked from 4 threads" % n)
    s = d.stats()
    check(s["sent"] == n and s["queued"] == 0 and identity(s), "stats: sent %d of %d, identity holds" % (s["sent"], n))
    events = received_events(srv)
    seen = sorted(int(e["payload"]["i"]) for e in events)
    check(seen == list(range(n)), "backend received each event exactly once (%d)" % len(events))
    ok = all(e["event_definition"] == "eventDefinitions/purchase" and e["payload"]["value"] == e["payload"]["i"] and
             e["payload"]["context"] == {"targeting_key": "user-%d" % int(e["payload"]["i"])} and "event_time" in e
             for e in events)
    check(ok, "payloads: data fields, context and value as the engine builds them")
    requests = [c["request"] for c in srv.client._call("GET", "events")["requests"]]
    check(requests and all(r.get("sdk", {}).get("custom_id") == "libconfidence-c" and r["sdk"].get("version") and
                           "send_time" in r for r in requests),
          "every PublishEvents request names the SDK and carries a send time")
    d.close()


def test_sink_down(args, srv):
    srv.client.reset()
    bound, n = 500, 800
    d = Driver(args, srv, bound)
    srv.client.faults({"events": {"mode": "unavailable"}})
    d.ask("track %d 1" % n)
    check(d.ask("flush 20000") == str(ENETWORK), "flush with the sink down reports ENETWORK")
    s = d.stats()
    check(s["queued"] == bound and s["dropped"] == n - bound and s["send_failures"] >= 1 and identity(s),
          "sink down: %d queued (the bound), exactly %d dropped" % (s["queued"], s["dropped"]))
    srv.client.clear_faults()
    check(d.ask("flush 10000") == "0", "flush once the sink is back")
    s = d.stats()
    seen = sorted(int(e["payload"]["i"]) for e in received_events(srv))
    check(s["sent"] == bound and seen == list(range(bound)) and identity(s),
          "nothing lost within the bound: %d delivered, in order of tracking" % len(seen))
    d.close()


def test_ring_laps(args, srv):
    # A bound of 5 is a ring of 8 cells: 12 rounds of 7 lap it 10 times.
    srv.client.reset()
    d = Driver(args, srv, 5)
    rounds, per = 12, 7
    for _ in range(rounds):
        d.ask("track %d 1" % per)
        check(d.ask("flush 10000") == "0", "flush after a round")
    s = d.stats()
    check(s["sent"] == rounds * 5 and s["dropped"] == rounds * 2 and s["queued"] == 0 and identity(s),
          "a lapping ring: %d sent, %d dropped over the bound" % (s["sent"], s["dropped"]))
    seen = sorted(int(e["payload"]["i"]) for e in received_events(srv))
    want = [r * per + i for r in range(rounds) for i in range(5)]  # the driver numbers across rounds
    check(seen == want, "each round's first 5 delivered once (%d)" % len(seen))
    d.close()


def test_early_send_at_half_full(args, srv):
    # The driver's send interval is 10 minutes: only a queue half full
    # (50 of a bound of 100) makes the sender publish before it.
    srv.client.reset()
    d = Driver(args, srv, 100)
    time.sleep(0.5)  # past the sender's first, immediate round
    d.ask("track 10 1")
    time.sleep(1.0)
    check(d.stats()["sent"] == 0, "below half the bound, events wait for the interval")
    d.ask("track 50 1")
    deadline = time.monotonic() + 10
    while d.stats()["sent"] < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    s = d.stats()
    check(s["sent"] == 60 and s["queued"] == 0 and identity(s), "half full: sent early, without a flush (%d)" % s["sent"])
    d.close()


def test_shutdown_and_reject(args, srv):
    srv.client.reset()
    d = Driver(args, srv, 100000)
    srv.client.faults({"events": {"mode": "reject", "count": 1}})
    d.ask("track 10 1")
    check(d.ask("flush 10000") == "0", "flush with events refused by the service")
    s = d.stats()
    check(s["rejected"] == 10 and s["sent"] == 0 and identity(s), "refused events counted as rejected")
    d.ask("track 300 2")
    check(d.ask("shutdown 10000") == "0", "shutdown returns 0")
    s = d.stats()
    check(s["sent"] == 300 and s["queued"] == 0 and identity(s), "shutdown delivered the 300 queued events")
    d.close()


def samples(families):
    out = {}
    for fam in families:
        for smp in fam.samples:
            key = (smp.name, tuple(sorted((k, v) for k, v in smp.labels.items() if k != "resolver_id")))
            out[key] = smp.value
    return out


def test_metrics(args, srv):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
    from prometheus_client.parser import text_string_to_metric_families as parse_prom

    srv.client.reset()
    d = Driver(args, srv, 100000)
    d.ask("eval 4000")
    d.ask("track 25 1")
    d.ask("flush 10000")
    s = d.stats()
    text = d.metrics()
    prom = samples(parse_prom(text))
    om = samples(parse_om(d.metrics(om=True)))
    resolves = sum(v for (name, _), v in prom.items() if name == "confidence_resolves_total")
    check(resolves == s["evaluations"] == prom[("confidence_evaluations_total", ())],
          "resolves by reason add up to the evaluations (%d)" % resolves)
    not_found = prom.get(("confidence_resolves_total", (("reason", "RESOLVE_REASON_FLAG_NOT_FOUND"),)), 0)
    check(not_found == 1000, "FLAG_NOT_FOUND counted for the unknown flag (%d)" % not_found)
    count = prom[("confidence_resolve_latency_microseconds_count", ())]
    inf = prom[("confidence_resolve_latency_microseconds_bucket", (("le", "+Inf"),))]
    check(count == inf and 0 < count <= s["evaluations"], "latency histogram: count %d = +Inf bucket" % count)
    pairs = [("confidence_events_sent_total", "sent"), ("confidence_events_tracked_total", "tracked"),
             ("confidence_events_dropped_total", "dropped"), ("confidence_exposures_sent_total", "exposures_sent"),
             ("confidence_state_updates_total", "state_updates")]
    check(all(prom[(m, ())] == s[k] for m, k in pairs), "counters equal the stats")
    check(prom[("confidence_provider_status", (("status", "READY"),))] == 1, "status READY is 1")
    check(prom.get(("confidence_memory_bytes", ()), 0) > 0, "confidence_memory_bytes reported")
    check(all(om.get(k) == v for k, v in prom.items() if k[0] != "confidence_state_age_seconds"),
          "OpenMetrics text parses strictly and carries the same values")
    d.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--state", required=True)
    args = ap.parse_args()
    with client.start(args.state, SECRET, account=ACCOUNT) as srv:
        for test in (test_threads, test_sink_down, test_ring_laps, test_early_send_at_half_full, test_shutdown_and_reject, test_metrics):
            test(args, srv)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
