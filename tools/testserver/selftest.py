#!/usr/bin/env python3
"""Self-test of the local Confidence backend: starts server.py on ephemeral ports
with the resolver-spec state and exercises the CDN, faults, gRPC, ingest,
materialization store, control API and shutdown paths.

  python3 tools/testserver/selftest.py [--state FILE]

Last line `N passed, M failed`; exit status 1 on any failure.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import usevenv  # noqa: E402

usevenv.ensure()

import grpc  # noqa: E402
from cryptography.exceptions import InvalidTag  # noqa: E402
from google.protobuf import json_format  # noqa: E402

import client  # noqa: E402
import protos  # noqa: E402
from state import decrypt  # noqa: E402

DEFAULT_STATE = os.path.join(
    os.path.dirname(usevenv.REPO_ROOT), "shared", "conformance", "resolver-spec", "state.pb")
SECRET = "test-secret"
ACCOUNT = "test-account"
KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY = bytes.fromhex(KEY_HEX)
SERVICE = "/confidence.flags.resolver.v1.InternalFlagLoggerService/"

PB = protos.load()
API = PB.api


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok    %s" % name)
        else:
            self.failed += 1
            print("FAIL  %s %s" % (name, detail))
        return ok

    def section(self, fn, *args):
        """Runs one group; an exception counts as one failure, not a crash."""
        try:
            fn(self, *args)
        except Exception:
            self.failed += 1
            print("FAIL  %s raised:\n%s" % (fn.__name__, traceback.format_exc()))


# -- helpers -------------------------------------------------------------------

def call(port, method, path, body=None, headers=None, timeout=10.0):
    """(status, headers dict lowercased, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def cdn_path(secret=SECRET):
    return "/" + hashlib.sha256(secret.encode()).hexdigest()


def quoted_sha(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()


def sample_logs(tag="a"):
    """A WriteFlagLogsRequest shaped like the resolver's: 2 applied flags (one
    variant, one default), resolve counters and a context schema."""
    req = API.WriteFlagLogsRequest()
    fa = req.flag_assigned.add(resolve_id="resolve-" + tag)
    fa.client_info.client = "clients/test"
    fa.client_info.client_credential = "clients/test/clientCredentials/c"
    f1 = fa.flags.add(flag="flags/fruit", targeting_key="user-" + tag, rule="flags/fruit/rules/r1",
                      assignment_id="a1")
    f1.assignment_info.segment = "segments/s"
    f1.assignment_info.variant = "flags/fruit/variants/apple"
    f1.apply_time.seconds = 1700000000
    f2 = fa.flags.add(flag="flags/color", targeting_key="user-" + tag)
    f2.default_assignment.reason = 1
    fri = req.flag_resolve_info.add(flag="flags/fruit")
    fri.variant_resolve_info.add(variant="flags/fruit/variants/apple", count=3)
    fri.rule_resolve_info.add(rule="flags/fruit/rules/r1", count=3)
    cri = req.client_resolve_info.add(client="clients/test",
                                      client_credential="clients/test/clientCredentials/c")
    cri.schema.add().schema["country"] = 3
    req.telemetry_data.resolver_version = "selftest"
    return req


def as_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def grpc_stub(port, service_config=None):
    options = []
    if service_config is not None:
        options = [("grpc.service_config", json.dumps(service_config)),
                   ("grpc.enable_retries", 1)]
    channel = grpc.insecure_channel("127.0.0.1:%d" % port, options=options)
    return channel, PB.api_grpc.InternalFlagLoggerServiceStub(channel)


def auth_md(secret=SECRET):
    return (("authorization", "ClientSecret " + secret),)


def grpc_code(fn):
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


# -- groups ----------------------------------------------------------------------

def test_cdn(t, srv, state_bytes):
    port = srv.http_port
    st, h, body = call(port, "GET", cdn_path())
    t.check("cdn plain 200", st == 200, st)
    t.check("cdn content-type", h.get("content-type") == "application/octet-stream", h)
    t.check("cdn etag is quoted sha256 of body", h.get("etag") == quoted_sha(body), h.get("etag"))
    env = PB.admin.ClientResolverState()
    env.ParseFromString(body)
    t.check("cdn envelope wraps the raw state", env.state == state_bytes)
    t.check("cdn envelope account", env.account == ACCOUNT, env.account)
    t.check("cdn envelope log_destinations", list(env.log_destinations) == [1, 2],
            list(env.log_destinations))

    st, h2, enc = call(port, "GET", cdn_path() + ".enc")
    t.check("cdn .enc 200", st == 200, st)
    t.check("cdn .enc decrypts to the plain envelope", decrypt(KEY, enc) == body)
    t.check("cdn .enc etag", h2.get("etag") == quoted_sha(enc))
    st, h3, enc2 = call(port, "GET", cdn_path() + ".enc")
    t.check("cdn .enc etag stable across requests", h3.get("etag") == h2.get("etag"))

    st, h4, b4 = call(port, "GET", cdn_path(), headers={"If-None-Match": h["etag"]})
    t.check("cdn 304 on matching If-None-Match", st == 304 and b4 == b"", (st, len(b4)))
    t.check("cdn 304 repeats the etag", h4.get("etag") == h["etag"])
    st, _, _ = call(port, "GET", cdn_path() + ".enc", headers={"If-None-Match": h2["etag"]})
    t.check("cdn .enc 304", st == 304, st)
    st, _, b5 = call(port, "GET", cdn_path(), headers={"If-None-Match": '"stale"'})
    t.check("cdn 200 on stale If-None-Match", st == 200 and b5 == body, st)

    st, _, _ = call(port, "GET", "/" + "0" * 64)
    t.check("cdn unknown hash 404", st == 404, st)
    st, _, _ = call(port, "GET", cdn_path().upper())
    t.check("cdn uppercase hash 404", st == 404, st)
    st, _, _ = call(port, "GET", "/")
    t.check("cdn root 404", st == 404, st)

    rec = srv.client.received()["cdn"]
    t.check("cdn requests recorded", len(rec) >= 9 and rec[0]["path"] == cdn_path()
            and rec[0]["status"] == 200, rec[:1])
    t.check("cdn 304 recorded with if_none_match",
            any(r["status"] == 304 and r["if_none_match"] == h["etag"] for r in rec))


def test_state_replacement(t, srv, state_bytes):
    port = srv.http_port
    _, h, before = call(port, "GET", cdn_path())
    env = PB.admin.ClientResolverState(state=state_bytes, account="other-account",
                                       log_destinations=[2])
    new = env.SerializeToString()
    out = srv.client.state(new)
    t.check("state replace returns new etag", out["etag"] == quoted_sha(new)
            and out["etag"] != h["etag"], out)
    t.check("state envelope served as is", out["source"] == "envelope", out)
    st, h2, body = call(port, "GET", cdn_path(), headers={"If-None-Match": h["etag"]})
    t.check("old etag no longer matches", st == 200 and body == new, st)
    t.check("new etag header", h2.get("etag") == out["etag"])
    _, _, enc = call(port, "GET", cdn_path() + ".enc")
    t.check(".enc follows the new state", decrypt(KEY, enc) == new)

    out = srv.client.state(state_bytes, account="acct-2", log_destinations="cloudflare")
    t.check("raw state posted is wrapped", out["source"] == "wrapped"
            and out["account"] == "acct-2" and out["log_destinations"] == [2], out)
    try:
        srv.client.state(b"\xff\xff\xff not a state")
        t.check("garbage state rejected", False)
    except client.ControlError as e:
        t.check("garbage state rejected with 400", e.status == 400, e)
    t.check("garbage state keeps the old one", srv.client.get_state()["account"] == "acct-2")

    out = srv.client.state(state_bytes, account=ACCOUNT, log_destinations="edge,cloudflare")
    _, h3, restored = call(port, "GET", cdn_path())
    t.check("state restored", restored == before and h3["etag"] == h["etag"])


def test_cdn_faults(t, srv, state_bytes):
    port, c = srv.http_port, srv.client
    _, h, plain = call(port, "GET", cdn_path())

    c.faults({"cdn": {"mode": "status", "status": 503, "count": 2}})
    got = [call(port, "GET", cdn_path())[0] for _ in range(3)]
    t.check("cdn status fault count=2", got == [503, 503, 200], got)
    t.check("cdn fault consumed", c.get_faults() == {}, c.get_faults())

    c.faults({"cdn": {"mode": "status", "status": 500}})
    got = [call(port, "GET", cdn_path())[0] for _ in range(3)]
    t.check("cdn fault without count persists", got == [500, 500, 500], got)
    c.faults({})
    t.check("faults {} clears", call(port, "GET", cdn_path())[0] == 200)

    c.faults({"cdn": {"mode": "timeout", "count": 1}})
    try:
        call(port, "GET", cdn_path(), timeout=0.7)
        t.check("cdn timeout: client times out", False)
    except socket.timeout:
        t.check("cdn timeout: client times out", True)
    time.sleep(0.6)  # let the server notice the client gave up and record it
    rec = c.received()["cdn"][-1]
    t.check("cdn timeout recorded (client gave up)", rec["fault"] == "timeout"
            and rec["status"] is None and rec["client_gave_up"] is True, rec)

    c.faults({"cdn": {"mode": "timeout", "seconds": 0.5, "count": 1}})
    start = time.monotonic()
    try:
        call(port, "GET", cdn_path(), timeout=5)
        t.check("cdn timeout seconds: closed without answer", False)
    except (http.client.RemoteDisconnected, ConnectionError):
        t.check("cdn timeout seconds: closed without answer",
                0.4 <= time.monotonic() - start < 4)

    c.faults({"cdn": {"mode": "slow", "seconds": 0.6, "count": 1}})
    start = time.monotonic()
    st, _, body = call(port, "GET", cdn_path())
    took = time.monotonic() - start
    t.check("cdn slow delays then answers", st == 200 and body == plain and took >= 0.55,
            (st, took))

    c.faults({"cdn": {"mode": "corrupt", "count": 1}})
    st, hc, body = call(port, "GET", cdn_path(), headers={"If-None-Match": h["etag"]})
    t.check("cdn corrupt: 200, same length, other bytes", st == 200 and len(body) == len(plain)
            and body != plain, (st, len(body)))
    t.check("cdn corrupt: etag of the served bytes", hc.get("etag") == quoted_sha(body))

    c.faults({"cdn": {"mode": "truncate", "count": 1}})
    st, _, body = call(port, "GET", cdn_path())
    t.check("cdn truncate: first half", st == 200 and body == plain[: len(plain) // 2],
            (st, len(body)))

    c.faults({"cdn": {"mode": "wrong_key", "count": 1}})
    st, _, body = call(port, "GET", cdn_path())
    t.check("cdn wrong_key leaves plain alone", st == 200 and body == plain)
    st, _, enc = call(port, "GET", cdn_path() + ".enc")
    try:
        decrypt(KEY, enc)
        t.check("cdn wrong_key: .enc fails authentication", False)
    except InvalidTag:
        t.check("cdn wrong_key: .enc fails authentication", st == 200)
    st, _, enc = call(port, "GET", cdn_path() + ".enc")
    t.check("cdn wrong_key count=1 then good", decrypt(KEY, enc) == plain)

    c.faults({"cdn": {"mode": "status", "status": 404, "enc": True, "count": 1}})
    got = (call(port, "GET", cdn_path())[0], call(port, "GET", cdn_path() + ".enc")[0])
    t.check("cdn fault enc filter", got == (200, 404), got)

    for bad in ({"cdn": {"mode": "nope"}}, {"dns": {"mode": "status"}},
                {"cdn": {"mode": "status", "count": 0}}):
        try:
            c.faults(bad)
            t.check("bad fault rejected %s" % bad, False)
        except client.ControlError as e:
            t.check("bad fault rejected %s" % json.dumps(bad), e.status == 400)
    c.faults({})

    faulted = [r for r in c.received()["cdn"] if r.get("fault")]
    modes = {r["fault"] for r in faulted}
    t.check("faulted cdn requests recorded", modes >= {"status", "timeout", "slow", "corrupt",
                                                        "truncate", "wrong_key"}, modes)


def test_grpc(t, srv):
    c = srv.client
    c.reset()
    channel, stub = grpc_stub(srv.grpc_port)
    req = sample_logs("g")
    resp = stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10)
    t.check("grpc ClientWriteFlagLogs ok", resp == API.WriteFlagLogsResponse())
    rec = c.received()["flag_logs"]
    t.check("grpc call recorded", len(rec) == 1 and rec[0]["transport"] == "grpc"
            and rec[0]["accepted"] is True, rec)
    t.check("grpc authorization recorded", rec and rec[0]["authorization"] == "ClientSecret "
            + SECRET)
    t.check("grpc request recorded as JSON", rec and rec[0]["request"] == as_dict(req))

    code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, timeout=10))
    t.check("grpc without authorization -> UNAUTHENTICATED",
            code == grpc.StatusCode.UNAUTHENTICATED, code)
    code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md("wrong"), timeout=10))
    t.check("grpc wrong secret -> UNAUTHENTICATED", code == grpc.StatusCode.UNAUTHENTICATED, code)
    rec = c.received()["flag_logs"]
    t.check("grpc auth failures recorded", [r["accepted"] for r in rec] == [True, False, False]
            and rec[1]["authorization"] is None
            and rec[2]["authorization"] == "ClientSecret wrong"
            and rec[2]["answered"] == "UNAUTHENTICATED", rec[1:])

    c.reset()
    c.faults({"grpc": {"mode": "unavailable", "count": 2}})
    codes = [grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10))
             for _ in range(3)]
    U, OK = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK
    t.check("grpc UNAVAILABLE count=2 then success", codes == [U, U, OK], codes)
    rec = c.received()["flag_logs"]
    t.check("grpc faulted calls recorded", [(r["accepted"], r["answered"]) for r in rec]
            == [(False, "UNAVAILABLE"), (False, "UNAVAILABLE"), (True, "OK")], rec)

    # The provider's retry policy (spec 4.8), with short backoffs: one call, three attempts.
    c.reset()
    c.faults({"grpc": {"mode": "unavailable", "count": 2}})
    cfg = {"methodConfig": [{
        "name": [{"service": "confidence.flags.resolver.v1.InternalFlagLoggerService"}],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "0.2s",
                        "backoffMultiplier": 2.0, "retryableStatusCodes": ["UNAVAILABLE"]}}]}
    rchannel, rstub = grpc_stub(srv.grpc_port, cfg)
    code = grpc_code(lambda: rstub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10))
    rec = c.received()["flag_logs"]
    t.check("grpc retry policy rides over 2 UNAVAILABLE", code == OK
            and [r["accepted"] for r in rec] == [False, False, True], (code, len(rec)))
    rchannel.close()

    for mode, want in (("internal", grpc.StatusCode.INTERNAL),
                       ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED)):
        c.faults({"grpc": {"mode": mode, "count": 1}})
        code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10))
        t.check("grpc fault %s" % mode, code == want, code)
    c.faults({"grpc": {"mode": "slow", "seconds": 0.6, "count": 1}})
    start = time.monotonic()
    code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10))
    t.check("grpc slow fault delays then succeeds", code == OK
            and time.monotonic() - start >= 0.55, code)
    c.faults({"grpc": {"mode": "slow", "seconds": 3, "count": 1}})
    code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=0.5))
    t.check("grpc slow fault beyond deadline -> DEADLINE_EXCEEDED",
            code == grpc.StatusCode.DEADLINE_EXCEEDED, code)
    c.faults({"grpc": {"mode": "unavailable", "method": "ReadMaterializedOperations"}})
    code = grpc_code(lambda: stub.ClientWriteFlagLogs(req, metadata=auth_md(), timeout=10))
    t.check("grpc fault method filter spares other methods", code == OK, code)
    code = grpc_code(lambda: stub.ReadMaterializedOperations(
        API.ReadOperationsRequest(), metadata=auth_md(), timeout=10))
    t.check("grpc fault method filter hits its method", code == U, code)
    c.faults({})
    channel.close()


def test_materialization(t, srv):
    c = srv.client
    c.reset()
    channel, stub = grpc_stub(srv.grpc_port)
    w = API.WriteOperationsRequest()
    w.store_variant_op.add(unit="u1", materialization="m1", rule="r1", variant="v1")
    w.store_variant_op.add(unit="u2", materialization="m1", rule="r1", variant="")
    resp = stub.WriteMaterializedOperations(w, metadata=auth_md(), timeout=10)
    t.check("mat write ok", resp == API.WriteOperationsResult())

    r = API.ReadOperationsRequest()
    r.ops.add().variant_read_op.CopyFrom(API.VariantReadOp(unit="u1", materialization="m1",
                                                           rule="r1"))
    r.ops.add().inclusion_read_op.CopyFrom(API.InclusionReadOp(unit="u1", materialization="m1"))
    r.ops.add().variant_read_op.CopyFrom(API.VariantReadOp(unit="u3", materialization="m1",
                                                           rule="r1"))
    r.ops.add().inclusion_read_op.CopyFrom(API.InclusionReadOp(unit="u3", materialization="m1"))
    r.ops.add().inclusion_read_op.CopyFrom(API.InclusionReadOp(unit="u2", materialization="m1"))
    res = stub.ReadMaterializedOperations(r, metadata=auth_md(), timeout=10).results
    got = [(x.WhichOneof("result"), x.variant_result.variant, x.inclusion_result.is_included,
            x.variant_result.unit or x.inclusion_result.unit) for x in res]
    want = [("variant_result", "v1", False, "u1"), ("inclusion_result", "", True, "u1"),
            ("variant_result", "", False, "u3"), ("inclusion_result", "", False, "u3"),
            ("inclusion_result", "", True, "u2")]
    t.check("mat read answers every op in order", got == want, got)

    code = grpc_code(lambda: stub.ReadMaterializedOperations(r, timeout=10))
    t.check("mat read needs authorization", code == grpc.StatusCode.UNAUTHENTICATED, code)
    code = grpc_code(lambda: stub.WriteMaterializedOperations(w, metadata=auth_md("x"),
                                                              timeout=10))
    t.check("mat write needs authorization", code == grpc.StatusCode.UNAUTHENTICATED, code)

    c.materializations({"variants": [{"unit": "u9", "materialization": "m9", "rule": "r9",
                                      "variant": "v9"}],
                        "inclusions": [{"unit": "u8", "materialization": "m9"}]})
    r2 = API.ReadOperationsRequest()
    r2.ops.add().variant_read_op.CopyFrom(API.VariantReadOp(unit="u9", materialization="m9",
                                                            rule="r9"))
    r2.ops.add().inclusion_read_op.CopyFrom(API.InclusionReadOp(unit="u8", materialization="m9"))
    res = stub.ReadMaterializedOperations(r2, metadata=auth_md(), timeout=10).results
    t.check("mat seeded via control API", res[0].variant_result.variant == "v9"
            and res[1].inclusion_result.is_included)

    rec = c.received()["materialization"]
    t.check("mat calls recorded", [(x["rpc"], x["accepted"]) for x in rec] == [
        ("WriteMaterializedOperations", True), ("ReadMaterializedOperations", True),
        ("ReadMaterializedOperations", False), ("WriteMaterializedOperations", False),
        ("ReadMaterializedOperations", True)], [(x["rpc"], x["accepted"]) for x in rec])
    t.check("mat read response recorded", rec[1]["response"]["results"][0]["variant_result"]
            ["variant"] == "v1", rec[1].get("response"))

    c.reset(keep_materializations=True)
    t.check("reset keep_materializations", len(c.materializations()["variants"]) == 3)
    c.reset()
    t.check("reset clears the store", c.materializations() == {"variants": [], "inclusions": []})
    channel.close()


def ingest_body(req, account=ACCOUNT):
    return API.IngestFlagLogsRequest(account_id=account, batch=req).SerializeToString()


def test_ingest(t, srv):
    c, port = srv.client, srv.http_port
    c.reset()
    req = sample_logs("i")
    good = {"Content-Type": "application/protobuf", "Authorization": "ClientSecret " + SECRET}
    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req), good)
    t.check("ingest 200", st == 200, st)
    rec = c.received()["flag_logs"]
    t.check("ingest recorded", len(rec) == 1 and rec[0]["transport"] == "ingest"
            and rec[0]["accepted"] and rec[0]["account_id"] == ACCOUNT
            and rec[0]["request"] == as_dict(req)
            and rec[0]["authorization"] == "ClientSecret " + SECRET, rec)

    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req),
                    {"Content-Type": "application/x-protobuf",
                     "Authorization": "ClientSecret " + SECRET})
    t.check("ingest accepts application/x-protobuf", st == 200, st)
    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req),
                    {"Content-Type": "application/protobuf", "Authorization": "ClientSecret no"})
    t.check("ingest wrong secret 401", st == 401, st)
    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req),
                    {"Content-Type": "application/protobuf"})
    t.check("ingest missing auth 401", st == 401, st)
    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req),
                    dict(good, **{"Content-Type": "application/json"}))
    t.check("ingest wrong content-type 415", st == 415, st)
    st, _, _ = call(port, "POST", "/v1/flagLogs:ingest", b"\xff\xff\xff\xff", good)
    t.check("ingest garbage body 400", st == 400, st)
    rec = c.received()["flag_logs"]
    t.check("ingest failures recorded", [(r["accepted"], r["answered"]) for r in rec] == [
        (True, 200), (True, 200), (False, 401), (False, 401), (False, 415), (False, 400)],
        [(r["accepted"], r["answered"]) for r in rec])
    t.check("ingest 401 keeps the attempted authorization",
            rec[2]["authorization"] == "ClientSecret no" and rec[3]["authorization"] is None)

    c.faults({"ingest": {"mode": "status", "status": 503, "count": 1}})
    codes = [call(port, "POST", "/v1/flagLogs:ingest", ingest_body(req), good)[0]
             for _ in range(2)]
    t.check("ingest status fault count=1", codes == [503, 200], codes)

    rest = {"Content-Type": "application/x-protobuf", "Authorization": "ClientSecret " + SECRET}
    st, h, _ = call(port, "POST", "/v1/clientFlagLogs:write", req.SerializeToString(), rest)
    t.check("rest clientFlagLogs:write 200", st == 200, st)
    rec = c.received()["flag_logs"][-1]
    t.check("rest recorded", rec["transport"] == "rest" and rec["accepted"]
            and rec["request"] == as_dict(req), rec)
    c.faults({"rest": {"mode": "status", "status": 500, "count": 1}})
    st, _, _ = call(port, "POST", "/v1/clientFlagLogs:write", req.SerializeToString(), rest)
    t.check("rest status fault", st == 500, st)

    # curl sends large bodies chunked or with Expect: 100-continue; both must work.
    big = sample_logs("big")
    for i in range(200):
        big.flag_assigned.add(resolve_id="r%d" % i)
    body = ingest_body(big)

    def chunks():
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/flagLogs:ingest", body=chunks(), headers=good,
                 encode_chunked=True)
    st = conn.getresponse().status
    conn.close()
    rec = c.received()["flag_logs"][-1]
    t.check("ingest chunked body", st == 200 and len(rec["request"]["flag_assigned"]) == 201,
            st)
    c.faults({})


def test_summary_and_reset(t, srv):
    c, port = srv.client, srv.http_port
    c.reset()
    channel, stub = grpc_stub(srv.grpc_port)
    stub.ClientWriteFlagLogs(sample_logs("x"), metadata=auth_md(), timeout=10)
    stub.ClientWriteFlagLogs(sample_logs("x"), metadata=auth_md(), timeout=10)
    good = {"Content-Type": "application/protobuf", "Authorization": "ClientSecret " + SECRET}
    call(port, "POST", "/v1/flagLogs:ingest", ingest_body(sample_logs("y")), good)
    # Rejected ones must not count.
    grpc_code(lambda: stub.ClientWriteFlagLogs(sample_logs("z"), metadata=auth_md("bad"),
                                               timeout=10))
    call(port, "POST", "/v1/flagLogs:ingest", ingest_body(sample_logs("z")),
         {"Content-Type": "application/protobuf"})
    s = c.summary()
    t.check("summary counts accepted requests", s["requests"] == 3, s["requests"])
    t.check("summary by transport", s["by_transport"] == {"grpc": 2, "ingest": 1},
            s["by_transport"])
    t.check("summary flag_assigned", s["flag_assigned"] == 3, s["flag_assigned"])
    want = [
        {"flag": "flags/color", "variant": "", "targeting_key": "user-x", "count": 2},
        {"flag": "flags/color", "variant": "", "targeting_key": "user-y", "count": 1},
        {"flag": "flags/fruit", "variant": "flags/fruit/variants/apple",
         "targeting_key": "user-x", "count": 2},
        {"flag": "flags/fruit", "variant": "flags/fruit/variants/apple",
         "targeting_key": "user-y", "count": 1},
    ]
    t.check("summary applied", s["applied"] == want, s["applied"])
    t.check("summary flag_resolve_info totals", s["flag_resolve_info"] == [
        {"flag": "flags/fruit", "variant": "flags/fruit/variants/apple", "count": 9}],
        s["flag_resolve_info"])
    t.check("summary rule_resolve_info totals", s["rule_resolve_info"] == [
        {"flag": "flags/fruit", "rule": "flags/fruit/rules/r1", "count": 9}])
    t.check("summary client_resolve_info", s["client_resolve_info"] == 3)

    # The CLI is stdlib-only: run it with the system interpreter, not the venv.
    cli = subprocess.run(["python3", os.path.join(HERE, "client.py"), "--port", str(port),
                          "summary"], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=""))
    t.check("client.py summary CLI", cli.returncode == 0 and json.loads(cli.stdout) == s,
            cli.stderr)
    cli = subprocess.run(["python3", os.path.join(HERE, "client.py"), "--port", str(port),
                          "faults", '{"cdn": {"mode": "status", "status": 502}}'],
                         capture_output=True, text=True, timeout=30)
    t.check("client.py faults CLI", cli.returncode == 0
            and json.loads(cli.stdout)["cdn"]["status"] == 502, cli.stdout + cli.stderr)
    cli = subprocess.run(["python3", os.path.join(HERE, "client.py"), "--port", str(port),
                          "faults", '{"cdn": {"mode": "bogus"}}'],
                         capture_output=True, text=True, timeout=30)
    t.check("client.py reports control errors", cli.returncode == 1
            and json.loads(cli.stdout)["status"] == 400, cli.stdout)

    c.reset()
    r = c.received()
    t.check("reset clears recordings", r == {"flag_logs": [], "cdn": [], "materialization": [], "events": []},
            r)
    t.check("reset clears faults", c.get_faults() == {}
            and call(port, "GET", cdn_path())[0] == 200)
    s = c.summary()
    t.check("reset empties summary", s["requests"] == 0 and s["applied"] == [], s)
    t.check("reset keeps the state", c.get_state()["account"] == ACCOUNT)
    channel.close()


def test_lifetime(t, state_path):
    """A second server: max-lifetime, ports file, no key => .enc 404."""
    ports = os.path.join(tempfile.mkdtemp(prefix="testserver-"), "ports.json")
    start = time.monotonic()
    srv = client.start(state_path, SECRET, max_lifetime=2, extra_args=["--ports-file", ports])
    with open(ports) as f:
        doc = json.load(f)
    t.check("ports file written before READY", doc == {"http": srv.http_port,
                                                       "grpc": srv.grpc_port}, doc)
    st, _, _ = call(srv.http_port, "GET", cdn_path() + ".enc")
    t.check(".enc 404 without an encryption key", st == 404, st)
    try:
        rc = srv.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
        srv.proc.kill()
    t.check("max-lifetime stops the server", rc == 0 and time.monotonic() - start < 12, rc)
    try:
        call(srv.http_port, "GET", "/control/health", timeout=2)
        t.check("port closed after exit", False)
    except OSError:
        t.check("port closed after exit", True)

    busy = client.start(state_path, SECRET, max_lifetime=30)
    p = subprocess.run([busy.proc.args[0], os.path.join(HERE, "server.py"), "--state", state_path,
                        "--secret", SECRET, "--http-port", str(busy.http_port)],
                       capture_output=True, text=True, timeout=60)
    t.check("a taken port is an error", p.returncode != 0 and "READY" not in p.stdout,
            p.returncode)
    busy.proc.send_signal(signal.SIGINT)
    try:
        t.check("SIGINT stops the server", busy.proc.wait(timeout=10) == 0)
    except subprocess.TimeoutExpired:
        busy.proc.kill()
        t.check("SIGINT stops the server", False)


def test_stdin_tie(t, state_path):
    srv = client.start(state_path, SECRET, max_lifetime=60)  # tie_to_parent by default
    srv.proc.stdin.close()
    try:
        t.check("stdin EOF stops a tied server", srv.proc.wait(timeout=10) == 0)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        t.check("stdin EOF stops a tied server", False)


def test_curl_h2c(t, srv):
    """The gRPC port speaks HTTP/2 cleartext with prior knowledge: a hand-made gRPC
    frame sent by curl must get grpc-status 0 (what a C client over libcurl does)."""
    curl = shutil.which("curl")
    if not curl or "HTTP2" not in subprocess.run([curl, "-V"], capture_output=True,
                                                 text=True).stdout:
        print("skip  curl h2c (no curl with HTTP2)")
        t.skipped += 1
        return
    srv.client.reset()
    msg = sample_logs("curl").SerializeToString()
    frame = b"\x00" + struct.pack(">I", len(msg)) + msg  # uncompressed, 4-byte length
    out = subprocess.run(
        [curl, "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-",
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         "-H", "authorization: ClientSecret " + SECRET, "--data-binary", "@-",
         "http://127.0.0.1:%d%sClientWriteFlagLogs" % (srv.grpc_port, SERVICE)],
        input=frame, capture_output=True, timeout=30)
    text = out.stdout.decode("latin-1").lower()
    t.check("curl --http2-prior-knowledge reaches gRPC", out.returncode == 0
            and "http/2 200" in text and "grpc-status: 0" in text, text + out.stderr.decode())
    rec = srv.client.received()["flag_logs"]
    t.check("curl gRPC call recorded", len(rec) == 1 and rec[0]["accepted"]
            and rec[0]["request"] == as_dict(sample_logs("curl")), rec)


def test_sigterm(t, srv):
    # A request parked in a timeout fault must not hold up shutdown.
    srv.client.faults({"cdn": {"mode": "timeout"}})
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=20)
    conn.request("GET", cdn_path())
    time.sleep(0.3)
    start = time.monotonic()
    rc = srv.stop(timeout=10)
    t.check("SIGTERM stops the server cleanly", rc == 0 and time.monotonic() - start < 8,
            (rc, time.monotonic() - start))
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state", default=DEFAULT_STATE)
    args = ap.parse_args()
    with open(args.state, "rb") as f:
        state_bytes = f.read()

    t = Checks()
    srv = client.start(args.state, SECRET, account=ACCOUNT, encryption_key=KEY_HEX,
                       log_destinations="edge,cloudflare", max_lifetime=300)
    try:
        t.check("READY with two ports", srv.http_port > 0 and srv.grpc_port > 0)
        t.check("health", srv.client.health()["ok"] is True)
        for group in (test_cdn, test_state_replacement, test_cdn_faults):
            t.section(group, srv, state_bytes)
        for group in (test_grpc, test_materialization, test_ingest, test_summary_and_reset):
            t.section(group, srv)
        t.section(test_curl_h2c, srv)
        t.section(test_lifetime, args.state)
        t.section(test_stdin_tie, args.state)
        t.section(test_sigterm, srv)
    finally:
        srv.stop()
    line = "%d passed, %d failed" % (t.passed, t.failed)
    print(line + (", %d skipped" % t.skipped if t.skipped else ""))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
