"""An https host on loopback serving client ID metadata documents, for the team server's tests
(the SDKs accept only an https client_id URL, so the documents need TLS).

It makes a throwaway certificate authority and a certificate for 127.0.0.1 and localhost with
`cryptography` (pinned in requirements.lock), writes the authority to DIR/ca.pem (the test hands
it to capsule-mcp as SSL_CERT_FILE), and serves the documents of FILE, a JSON object:
`{"/path": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": "..."}}`.
Every path's fetches are counted; GET /_hits answers them as JSON.

usage: python cimd_host.py --port PORT --dir DIR --documents FILE

Prints `CIMD-HOST READY https://127.0.0.1:PORT` on stdout once it listens; runs until killed.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificates(out: Path) -> tuple[Path, Path]:
    """A CA (written to out/ca.pem) and a leaf for 127.0.0.1/localhost signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capsule-mcp test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path, key_path = out / "leaf.pem", out / "leaf.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--documents", required=True)
    opts = parser.parse_args()
    out = Path(opts.dir)
    documents: dict[str, dict] = json.loads(Path(opts.documents).read_text())
    hits: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            path = self.path
            if path == "/_hits":
                with lock:
                    self.answer(200, {"Content-Type": "application/json"}, json.dumps(hits))
                return
            with lock:
                hits[path] = hits.get(path, 0) + 1
            doc = documents.get(path)
            if doc is None:
                self.answer(404, {"Content-Type": "text/plain"}, "no such document")
                return
            self.answer(doc.get("status", 200), doc.get("headers", {}), doc.get("body", ""))

        def answer(self, status: int, headers: dict[str, str], body: str) -> None:
            data = body.encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            sys.stderr.write("cimd_host: " + (format % args) + "\n")

    cert, key = certificates(out)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"CIMD-HOST READY https://127.0.0.1:{opts.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
