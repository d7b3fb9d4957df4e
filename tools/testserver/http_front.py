"""The HTTP/1.1 listener: CDN, flag-log ingest and the control API share one
port. Requests are routed by path; anything else is 404. With a TLS context
the same routes are served over HTTPS (a second listener, see server.py).
"""

import json
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cdn
import control
import ingest

MAX_BODY = 64 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TLSServer(_Server):
    """Handshakes in the request's own thread, so a client that stalls or
    rejects the certificate (the tests' wrong-CA case) holds up no one."""

    HANDSHAKE_TIMEOUT = 10.0

    def __init__(self, address, handler, context):
        self.tls_context = context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        request.settimeout(self.HANDSHAKE_TIMEOUT)
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client gave up on the handshake: nothing to serve
        try:
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


def tls_context(cert_file, key_file):
    """Server context for the HTTPS listener: HTTP/1.1 only (ALPN), as the
    handler speaks nothing else."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def make_server(backend, port, verbose=False, context=None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive; every answer carries a length
        server_version = "confidence-testserver"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("http: " + (fmt % args) + "\n")

        # -- answers -------------------------------------------------------
        def send_bytes(self, status, body, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_plain(self, status, body):
            self.send_bytes(status, body, "text/plain; charset=utf-8")

        def send_json(self, status, doc):
            self.send_bytes(status, (json.dumps(doc, indent=1) + "\n").encode(), "application/json")

        # -- request body: Content-Length or chunked -----------------------
        def read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks, total = [], 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    total += size
                    if total > MAX_BODY:
                        raise ValueError("body too large")
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            return self.rfile.read(length) if length else b""

        def _split(self):
            parts = urllib.parse.urlsplit(self.path)
            return parts.path, parts.query

        def do_GET(self):
            path, query = self._split()
            if control.handle(backend, self, "GET", path, query):
                return
            if cdn.handle(backend, self, path):
                return
            backend.recorder.cdn(path, self.headers.get("If-None-Match"), 404)
            self.send_plain(404, b"not found\n")

        def do_POST(self):
            path, query = self._split()
            try:
                body = self.read_body()
            except ValueError as e:
                self.close_connection = True
                self.send_plain(400, (str(e) + "\n").encode())
                return
            if control.handle(backend, self, "POST", path, query, body):
                return
            if ingest.handle(backend, self, path, body):
                return
            self.send_plain(404, b"not found\n")

    if context is not None:
        return _TLSServer(("127.0.0.1", port), Handler, context)
    return _Server(("127.0.0.1", port), Handler)
