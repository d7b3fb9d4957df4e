#!/usr/bin/env python3
"""Throwaway certificates for the HTTPS listener (server.py --tls-cert/--tls-key):
a CA, a server certificate it signs for 127.0.0.1 and localhost, and a second,
unrelated CA that must not verify it.

  tls_certs.py OUT_DIR     writes ca.pem, server.pem, server-key.pem, wrong-ca.pem

Keys are new on every run and valid for a day: nothing here is worth keeping.
Needs `cryptography` (the testserver venv has it; the script re-executes there).
"""

import datetime
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import usevenv  # noqa: E402

usevenv.ensure()

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)))


def make_ca(common_name):
    """(certificate, key) of a self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (_builder(_name(common_name), _name(common_name), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_server_cert(ca_cert, ca_key):
    """(certificate, key) for 127.0.0.1 and localhost, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (_builder(_name("confidence-testserver"), ca_cert.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def write_all(out_dir):
    """Writes the four files; returns their paths by name (ca, server, server_key, wrong_ca)."""
    os.makedirs(out_dir, exist_ok=True)
    ca_cert, ca_key = make_ca("confidence-testserver throwaway CA")
    server_cert, server_key = make_server_cert(ca_cert, ca_key)
    wrong_cert, _ = make_ca("confidence-testserver unrelated CA")
    paths = {name: os.path.join(out_dir, name.replace("_", "-") + ".pem")
             for name in ("ca", "server", "server_key", "wrong_ca")}
    with open(paths["ca"], "wb") as f:
        f.write(_pem(ca_cert))
    with open(paths["server"], "wb") as f:
        f.write(_pem(server_cert))
    with open(os.open(paths["server_key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    with open(paths["wrong_ca"], "wb") as f:
        f.write(_pem(wrong_cert))
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in write_all(sys.argv[1]).values():
        print(path)
