"""CDN front end (spec 1.1-1.2): GET /<sha256(secret)> serves the envelope,
GET /<sha256(secret)>.enc the AES-GCM blob; ETag / If-None-Match; faults.
"""

import os
import select
import socket
import time

from state import encrypt, etag_of, secret_path


def _none_match(header, etag):
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag == etag:
            return True
    return False


def _wait_for_client_to_give_up(backend, conn, seconds):
    """Holds a connection without answering until the peer closes it, `seconds`
    pass (None = no limit), or the server stops. True if the client gave up."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not backend.stop.is_set():
        step = 0.2
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            step = min(step, left)
        try:
            readable, _, _ = select.select([conn], [], [], step)
            if readable and not conn.recv(1, socket.MSG_PEEK):
                return True
        except OSError:
            return True
    return False


def handle(backend, handler, path):
    """Serves one CDN GET on `handler` (a BaseHTTPRequestHandler). Returns False if
    the path is not a CDN path, so the caller can answer 404."""
    served = backend.state
    base = secret_path(backend.secret)
    if path == base:
        enc = False
    elif path == base + ".enc":
        enc = True
    else:
        return False
    inm = handler.headers.get("If-None-Match")
    rec = backend.recorder

    if enc and served.encrypted is None:
        rec.cdn(path, inm, 404, note="no encryption key configured")
        handler.send_plain(404, b"no encryption key configured\n")
        return True

    body = served.encrypted if enc else served.envelope
    etag = served.enc_etag if enc else served.etag
    fault = backend.faults.take("cdn", enc=enc)
    mode = fault["mode"] if fault else None

    if mode == "status":
        rec.cdn(path, inm, fault["status"], fault="status")
        handler.send_plain(fault["status"], b"injected fault\n")
        return True
    if mode == "timeout":
        gave_up = _wait_for_client_to_give_up(backend, handler.connection, fault.get("seconds"))
        rec.cdn(path, inm, None, fault="timeout", client_gave_up=gave_up)
        handler.close_connection = True
        return True
    if mode == "slow":
        backend.sleep(fault["seconds"])
    elif mode == "corrupt":
        body = os.urandom(len(body))
    elif mode == "truncate":
        body = body[: len(body) // 2]
    elif mode == "wrong_key":
        body = encrypt(os.urandom(len(served.key)), served.envelope)

    if mode in ("corrupt", "truncate", "wrong_key"):
        # A damaged body always goes out (never a 304), with its own ETag.
        etag = etag_of(body)
    elif _none_match(inm, etag):
        rec.cdn(path, inm, 304, fault=mode)
        handler.send_response(304)
        handler.send_header("ETag", etag)
        handler.end_headers()
        return True

    rec.cdn(path, inm, 200, fault=mode, etag=etag, size=len(body))
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("ETag", etag)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True
