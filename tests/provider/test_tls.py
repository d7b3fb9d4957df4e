#!/usr/bin/env python3
"""The provider's CA search (src/provider/ca_paths.c) against the local backend
serving the CDN over HTTPS with a throwaway CA (tools/testserver/tls_certs.py).
Each case runs build/tests/tls_driver in a fresh process with an environment
made here: the CA installed at one distribution's bundle path in a fake root
(CONFIDENCE_TEST_CA_ROOT), in a hashed directory, named by SSL_CERT_FILE,
SSL_CERT_DIR or CURL_CA_BUNDLE; an unrelated CA in its place (a TLS verify
error, never READY); nothing at all (FATAL at once, the message naming
SSL_CERT_FILE); a plain http:// CDN needing none; the public libcurl vtable
used without a provider. As root, two more cases use the real /etc/ssl in a
private mount namespace, without the test root.

  test_tls.py --driver build/tests/tls_driver --state build/sample/state.pb
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "testserver"))
import client  # noqa: E402
import tls_certs  # noqa: E402  (re-executes this script's process under the testserver venv if needed)

SECRET = "demo-client-secret"
READY, NOT_READY, FATAL = 1, 0, 4
ETIMEDOUT, ENETWORK = -11, -12
LOG_DEBUG, LOG_ERROR = 0, 3
EVENT_ERROR = 2
# The distributions' bundles, as ca_paths.c lists them (in its order).
BUNDLES = [
    ("Debian/Ubuntu", "/etc/ssl/certs/ca-certificates.crt"),
    ("RHEL/Fedora/Amazon Linux", "/etc/pki/tls/certs/ca-bundle.crt"),
    ("RHEL ca-trust", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"),
    ("SUSE", "/etc/ssl/ca-bundle.pem"),
    ("Alpine", "/etc/ssl/cert.pem"),
]
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "CONFIDENCE_TEST_CA_ROOT")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class Outcome:
    def __init__(self, out):
        self.text = out
        self.logs, self.events, self.start = [], [], None
        for line in out.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "log":
                level, _, msg = rest.partition(" ")
                self.logs.append((int(level), msg))
            elif kind == "event":
                typ, _, msg = rest.partition(" ")
                self.events.append((int(typ), msg))
            elif kind == "start":
                rc, status, msg = (rest.split(" ", 2) + [""])[:3]
                self.start = (int(rc), int(status), msg)

    def rc(self):
        return self.start[0] if self.start else None

    def status(self):
        return self.start[1] if self.start else None

    def message(self):
        return self.start[2] if self.start else ""

    def logged(self, level, needle):
        return any(lv == level and needle in msg for lv, msg in self.logs)


class Run:
    def __init__(self, args, cdn_url, tmp):
        self.args, self.cdn_url, self.tmp = args, cdn_url, tmp
        self.count = 0

    def env(self, **ca):
        env = {k: v for k, v in os.environ.items() if k not in CA_VARS + PROXY_VARS}
        env["no_proxy"] = env["NO_PROXY"] = "*"  # the backend is on loopback, never behind a proxy
        env.update(ca)
        return env

    def root(self, files=None, dirs=()):
        """A fresh fake root: files maps absolute paths to the PEM copied there."""
        self.count += 1
        root = os.path.join(self.tmp, "root%d" % self.count)
        os.makedirs(root)
        for d in dirs:
            os.makedirs(root + d, exist_ok=True)
        for path, pem in (files or {}).items():
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            shutil.copy(pem, root + path)
        return root

    def driver(self, env, timeout_ms=10000, prefix=(), url=None):
        cmd = list(prefix) + [self.args.driver, url or self.cdn_url, SECRET, str(timeout_ms)]
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        o = Outcome(p.stdout)
        if p.returncode != 0 or o.start is None:
            print("driver exited %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        o.exit = p.returncode
        return o


def hashed_dir(path, pem, rehash):
    os.makedirs(path, exist_ok=True)
    shutil.copy(pem, os.path.join(path, "testserver-ca.pem"))
    if rehash:
        subprocess.run(["openssl", "rehash", path], check=True)
    return path


def expect_ready(o, what, origin=None):
    check(o.exit == 0 and o.rc() == 0 and o.status() == READY, "%s: READY over HTTPS (start %s)" % (what, o.start))
    if origin:
        check(o.logged(LOG_DEBUG, "TLS peers are verified with the CAs of " + origin),
              "%s: the log names where the CAs came from (%s)" % (what, origin))


def expect_verify_error(o, what):
    check(o.exit == 0 and o.rc() == ETIMEDOUT and o.status() == NOT_READY,
          "%s: not READY (start %s)" % (what, o.start))
    check("SSL certificate problem" in o.message(), "%s: start says why: a TLS verify error (%r)" % (what, o.message()))


def expect_no_ca(o, what, needle="set SSL_CERT_FILE", var="SSL_CERT_FILE"):
    check(o.exit == 0 and o.rc() == ENETWORK and o.status() == FATAL, "%s: FATAL at once (start %s)" % (what, o.start))
    check(needle in o.message() and var in o.message(),
          "%s: the error names the variable to set (%r)" % (what, o.message()))
    check(o.logged(LOG_ERROR, needle), "%s: logged as an error" % what)
    check(any(t == EVENT_ERROR and needle in m for t, m in o.events), "%s: an ERROR event carries it" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--state", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="confidence-tls-")
    try:
        certs = tls_certs.write_all(os.path.join(tmp, "certs"))
        ca, wrong = certs["ca"], certs["wrong_ca"]
        with client.start(args.state, SECRET, tls=(certs["server"], certs["server_key"])) as srv:
            cdn = "https://127.0.0.1:%d" % srv.https_port
            run = Run(args, cdn, tmp)
            cases(run, ca, wrong, srv)
            served = [c for c in srv.client.received()["cdn"] if c["status"] == 200]
            check(len(served) > 0, "the backend served the state (%d times)" % len(served))
    finally:
        shutil.rmtree(tmp)
    print("%d failed" % len(failures))
    return 1 if failures else 0


def cases(run, ca, wrong, srv):
    # Each distribution's bundle, alone, and with an unrelated CA at every
    # later candidate: the first that exists is the one used.
    for i, (distro, path) in enumerate(BUNDLES):
        root = run.root({path: ca})
        expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=root)), "CA at %s (%s)" % (path, distro),
                     "the system bundle: " + root + path)
        later = {p: wrong for _, p in BUNDLES[i + 1:]}
        later[path] = ca
        root = run.root(later)
        expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=root)),
                     "CA at %s, unrelated CAs at the later paths" % path)
    # An unrelated CA first: no fallback to a later bundle.
    root = run.root({BUNDLES[0][1]: wrong, BUNDLES[1][1]: ca})
    expect_verify_error(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=root), timeout_ms=3000),
                        "unrelated CA at the Debian path, ours at RHEL's")

    # /etc/ssl/certs as a hashed directory, and not when it is not hashed.
    root = run.root()
    hashed_dir(root + "/etc/ssl/certs", ca, rehash=True)
    expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=root)), "CA in a hashed /etc/ssl/certs",
                 "the system's hashed directory: " + root + "/etc/ssl/certs")
    root = run.root()
    hashed_dir(root + "/etc/ssl/certs", ca, rehash=False)
    expect_no_ca(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=root)), "an /etc/ssl/certs with no hashed names")

    # The environment, over an empty root and over an unrelated system bundle.
    empty = run.root(dirs=("/etc/ssl/certs",))
    wrong_root = run.root({BUNDLES[0][1]: wrong})
    hashed = hashed_dir(os.path.join(run.tmp, "hashed"), ca, rehash=True)
    for roots in (empty, wrong_root):
        where = "empty root" if roots == empty else "unrelated system bundle"
        expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=roots, SSL_CERT_FILE=ca)),
                     "SSL_CERT_FILE (%s)" % where, "SSL_CERT_FILE: " + ca)
        expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=roots, SSL_CERT_DIR=hashed)),
                     "SSL_CERT_DIR, hashed with openssl rehash (%s)" % where, "SSL_CERT_DIR: " + hashed)
        expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=roots, CURL_CA_BUNDLE=ca)),
                     "CURL_CA_BUNDLE (%s)" % where, "CURL_CA_BUNDLE: " + ca)
    expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=empty, SSL_CERT_FILE=wrong, SSL_CERT_DIR=hashed)),
                 "SSL_CERT_FILE (unrelated) with SSL_CERT_DIR: both are trusted", "SSL_CERT_FILE and SSL_CERT_DIR")
    expect_ready(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=empty, SSL_CERT_FILE=ca, CURL_CA_BUNDLE=wrong)),
                 "SSL_CERT_FILE wins over CURL_CA_BUNDLE", "SSL_CERT_FILE: " + ca)

    # Wrong CAs: a TLS verify error, never READY, and no fallback to the system's.
    right_root = run.root({BUNDLES[0][1]: ca})
    expect_verify_error(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=right_root, SSL_CERT_FILE=wrong), timeout_ms=3000),
                        "unrelated CA in SSL_CERT_FILE, ours in the system bundle")
    expect_verify_error(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=wrong_root), timeout_ms=3000),
                        "unrelated CA in the system bundle")

    # Nothing: fails at once, naming the variable.
    expect_no_ca(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=empty)), "no bundle anywhere")
    expect_no_ca(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=right_root, SSL_CERT_FILE=os.path.join(run.tmp, "absent.pem"))),
                 "SSL_CERT_FILE naming no file (ours in the system bundle)", "No such file or directory")
    expect_no_ca(run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=right_root, SSL_CERT_DIR=os.path.join(run.tmp, "absent"))),
                 "SSL_CERT_DIR naming no directory", "names no directory", "SSL_CERT_DIR")
    # ... but only when TLS is needed: a plain http:// CDN still loads.
    o = run.driver(run.env(CONFIDENCE_TEST_CA_ROOT=empty), url="http://127.0.0.1:%d" % srv.http_port)
    check(o.exit == 0 and o.rc() == 0 and o.status() == READY, "no CAs, http:// CDN: READY (start %s)" % (o.start,))
    check(o.logged(LOG_ERROR, "set SSL_CERT_FILE"), "no CAs, http:// CDN: the missing CAs are still logged")

    # The public vtable used without a provider: the same search, once per process.
    for env, ok, what in ((run.env(CONFIDENCE_TEST_CA_ROOT=empty, SSL_CERT_FILE=ca), True, "SSL_CERT_FILE"),
                          (run.env(CONFIDENCE_TEST_CA_ROOT=right_root), True, "the system bundle"),
                          (run.env(CONFIDENCE_TEST_CA_ROOT=empty), False, "no CAs")):
        p = subprocess.run([run.args.driver, "--direct", run.cdn_url + "/control/health"], env=env,
                           stdout=subprocess.PIPE, text=True, timeout=60)
        fields = (p.stdout.strip().split(" ", 3) + ["", "", "", ""])[:4]
        if ok:
            check(fields[:3] == ["direct", "0", "200"], "confidence_transport_curl() alone, %s: 200 over HTTPS (%r)"
                  % (what, p.stdout.strip()))
        else:
            check(fields[:3] == ["direct", str(ENETWORK), "0"] and "set SSL_CERT_FILE" in fields[3],
                  "confidence_transport_curl() alone, no CAs: fails naming SSL_CERT_FILE (%r)" % p.stdout.strip())

    mount_namespace_cases(run, ca)


def mount_namespace_cases(run, ca):
    """The built-in paths themselves, with no test root: tmpfs over /etc/ssl
    (and /etc/pki) in a private mount namespace, our CA at SUSE's path only,
    so the path Debian's libcurl has compiled in (/etc/ssl/certs) holds nothing."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or not unshare:
        print("skip: the mount-namespace cases need root and unshare (util-linux); "
              "the fake-root cases above cover the same search")
        return
    probe = subprocess.run([unshare, "-m", "true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if probe.returncode != 0:
        print("skip: the mount-namespace cases: unshare -m is refused here (%s)" % probe.stdout.strip())
        return
    setup = ('set -e; mount -t tmpfs tmpfs /etc/ssl; [ ! -d /etc/pki ] || mount -t tmpfs tmpfs /etc/pki; '
             '[ -z "$1" ] || cp "$1" /etc/ssl/ca-bundle.pem; shift; exec "$@"')
    for pem, what in ((ca, "CA at /etc/ssl/ca-bundle.pem"), ("", "an empty /etc/ssl")):
        o = run.driver(run.env(), prefix=[unshare, "-m", "sh", "-c", setup, "sh", pem])
        if pem:
            expect_ready(o, "mount namespace, " + what, "the system bundle: /etc/ssl/ca-bundle.pem")
        else:
            expect_no_ca(o, "mount namespace, " + what)


if __name__ == "__main__":
    sys.exit(main())
