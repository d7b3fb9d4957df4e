"""The served CDN state: auto-detects raw ResolverState vs ClientResolverState
bytes, wraps the former in an envelope, and precomputes the plain and encrypted
bodies with their ETags (the encrypted body is made once per state so its ETag is
stable and If-None-Match works for .enc too).
"""

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError

LOG_DESTINATIONS = {"unspecified": 0, "edge": 1, "spotify_edge": 1, "cloudflare": 2}


def parse_log_destinations(text):
    """'edge,cloudflare' -> [1, 2]; names or enum numbers; '' -> []."""
    out = []
    for part in (text or "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part.isdigit():
            out.append(int(part))
        elif part in LOG_DESTINATIONS:
            out.append(LOG_DESTINATIONS[part])
        else:
            raise ValueError("unknown log destination %r (edge, cloudflare or a number)" % part)
    return out


def secret_path(secret):
    """CDN path for a client secret: '/' + lowercase hex sha256 (spec 1.1)."""
    return "/" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def etag_of(body):
    return '"%s"' % hashlib.sha256(body).hexdigest()


def encrypt(key, plaintext):
    """nonce(12) || AES-GCM ciphertext || tag(16), no associated data (spec 1.2)."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def decrypt(key, blob):
    if len(blob) < 12:
        raise ValueError("Encrypted state too short (missing nonce)")
    return AESGCM(key).decrypt(blob[:12], blob[12:], None)


def parse_key(hex_key):
    if not hex_key:
        return None
    key = bytes.fromhex(hex_key)
    if len(key) not in (16, 24, 32):
        raise ValueError("encryption key must be 16, 24 or 32 bytes of hex (32 for AES-256)")
    return key


def to_envelope(pb, data, account, log_destinations):
    """Returns (ClientResolverState bytes, how) where how is 'envelope' or 'wrapped'.

    Bytes that parse as a ClientResolverState whose field 1 is itself a ResolverState
    with flags or clients are served unchanged; anything else must parse as a
    ResolverState and is wrapped. Raises ValueError when neither fits.
    """
    env = pb.admin.ClientResolverState()
    try:
        env.ParseFromString(data)
        inner = pb.admin.ResolverState()
        inner.ParseFromString(env.state)
        if len(inner.flags) or len(inner.clients):
            return data, "envelope"
    except DecodeError:
        pass
    raw = pb.admin.ResolverState()
    try:
        raw.ParseFromString(data)
    except DecodeError as e:
        raise ValueError("state is neither a ClientResolverState nor a ResolverState: %s" % e)
    env = pb.admin.ClientResolverState(
        state=data, account=account, log_destinations=log_destinations
    )
    return env.SerializeToString(), "wrapped"


class ServedState:
    """Immutable snapshot of what the CDN serves; replaced wholesale on update."""

    def __init__(self, pb, data, account, log_destinations, key):
        self.envelope, self.how = to_envelope(pb, data, account, log_destinations)
        self.etag = etag_of(self.envelope)
        self.key = key
        if key is not None:
            self.encrypted = encrypt(key, self.envelope)
            self.enc_etag = etag_of(self.encrypted)
        else:
            self.encrypted = None
            self.enc_etag = None
        env = pb.admin.ClientResolverState()
        env.ParseFromString(self.envelope)
        self.account = env.account
        self.log_destinations = list(env.log_destinations)

    def describe(self):
        return {
            "etag": self.etag,
            "enc_etag": self.enc_etag,
            "size": len(self.envelope),
            "source": self.how,
            "account": self.account,
            "log_destinations": self.log_destinations,
        }
