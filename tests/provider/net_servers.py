"""Loopback servers for tests/provider/test_net.c: a cleartext gRPC server (grpcio,
generic handlers on raw bytes, so no generated code) and an HTTP/1.1 server
standing in for the CDN and the ingest endpoint. Both bind 127.0.0.1 on
ephemeral ports, announced as "READY <grpc-port> <http-port>" on stdout.

The process ends when its stdin closes (the test exited or crashed), and
after five minutes in any case.
Needs: pip install grpcio   (tested with grpcio==1.85.1)
"""
import hashlib
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def start_grpc():
    import grpc
    from concurrent import futures

    counters = {}
    lock = threading.Lock()

    def metadata(context):
        return {k: v for k, v in context.invocation_metadata()}

    def unary(request, context):
        md = metadata(context)
        deadline = "yes" if context.time_remaining() is not None else "no"
        return b"auth=" + md.get("authorization", "").encode() + b";deadline=" + deadline.encode() + \
            b";body=" + request

    def big(request, context):
        # request: decimal size of the response
        n = int(request.decode() or "0")
        return (bytes(range(256)) * (n // 256 + 1))[:n]  # byte i is i % 256

    def flaky(request, context):
        # request: "<key>:<failures>" -- UNAVAILABLE that many times per key
        key, failures = request.decode().rsplit(":", 1)
        with lock:
            counters[key] = counters.get(key, 0) + 1
            seen = counters[key]
        if seen <= int(failures):
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again (%d)" % seen)
        return b"attempt=%d" % seen

    def fail(request, context):
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "caf\u00e9 100% \n done")

    def slow(request, context):
        time.sleep(3)
        return b"late"

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Big": grpc.unary_unary_rpc_method_handler(big),
        "Flaky": grpc.unary_unary_rpc_method_handler(flaky),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("grpc server could not bind 127.0.0.1")
    server.start()
    return server, port


SECRET = "ClientSecret s3cr3t"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        try:
            if url.path.startswith("/state/"):
                version = q.get("v", ["v1"])[0]
                etag = '"%s"' % version
                if self.headers.get("If-None-Match") == etag:
                    self.reply(304, headers=[("ETag", etag)])
                else:
                    body = ("STATE-%s-%s" % (version, url.path[len("/state/"):])).encode()
                    self.reply(200, body, [("ETag", etag), ("Content-Type", "application/octet-stream")])
            elif url.path == "/noetag":
                self.reply(200, b"x")
            elif url.path.startswith("/status/"):
                self.reply(int(url.path[len("/status/"):]), b"status page")
            elif url.path == "/headers":
                self.reply(200, b"ok", [("X-Mixed-Case", "  Value  "), ("X-Dup", "1"), ("X-Dup", "2"),
                                        ("X-Empty", "")])
            elif url.path == "/hugeheader":
                self.reply(200, b"x", [("X-Huge", "h" * (1 << 20))])
            elif url.path == "/big":
                size = int(q["size"][0])
                with_length = q.get("cl", ["1"])[0] == "1"
                self.send_response(200)
                if with_length:
                    self.send_header("Content-Length", str(size))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                chunk = b"\x5a" * (1 << 20)
                left = size
                while left > 0:
                    n = min(left, len(chunk))
                    self.wfile.write(chunk[:n])
                    left -= n
            else:
                self.reply(404, b"no such path")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.headers.get("Expect"):
            self.reply(417, b"unexpected Expect header")
        elif url.path != "/ingest":
            self.reply(404, b"no such path")
        elif self.headers.get("Authorization") != SECRET:
            self.reply(401, b'{"error":"bad secret"}')
        elif self.headers.get("Content-Type") != q.get("ct", ["application/x-protobuf"])[0]:
            self.reply(400, b"bad content type " + str(self.headers.get("Content-Type")).encode())
        elif hashlib.sha256(body).hexdigest() != q.get("sha256", [""])[0]:
            self.reply(400, b"body mismatch")
        else:
            self.reply(204)


def main():
    try:
        grpc_server, grpc_port = start_grpc()
    except ImportError as e:
        print("ERROR cannot import grpc (pip install grpcio): %s" % e, flush=True)
        return 3
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def watchdog():
        time.sleep(300)
        os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()
    print("READY %d %d" % (grpc_port, httpd.server_address[1]), flush=True)
    try:
        sys.stdin.buffer.read()  # until the test closes the pipe or dies
    finally:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
