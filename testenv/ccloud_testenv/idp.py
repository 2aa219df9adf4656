"""An OIDC identity provider for tests: signing keys, the JWKS it publishes, JWTs it signs.

It serves its JWKS in process (`idp.transport`, for `Emulator(jwks_transport=…)`) or on a real
socket (`serve_jwks(idp)`, plain HTTP or HTTPS with a CA of its own), counting the fetches either
way. Keys are made once per session: RSA key generation is slow. Nothing here imports the emulator.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER = "https://idp.test"
JWKS_URI = "https://idp.test/keys"
AUDIENCE = "confluent"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, size: int = 0) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


@cache
def _keys() -> dict[str, PrivateKey]:
    return {
        "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa-2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec-1": ec.generate_private_key(ec.SECP256R1()),
        "ec-384": ec.generate_private_key(ec.SECP384R1()),
    }


def jwk(kid: str, key: PrivateKey, *, alg: bool = True) -> dict[str, str]:
    """The public JWK of `key`, with its `alg` unless told otherwise."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        out = {"kty": "RSA", "kid": kid, "use": "sig", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        if alg:
            out["alg"] = "RS256"
        return out
    point = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv, name = {"secp256r1": ("P-256", "ES256"), "secp384r1": ("P-384", "ES384")}[key.curve.name]
    out = {"kty": "EC", "kid": kid, "use": "sig", "crv": crv, "x": _uint(point.x, size), "y": _uint(point.y, size)}
    if alg:
        out["alg"] = name
    return out


def sign(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """A compact JWS of `claims` signed with `key` by `header["alg"]` (RS*, PS*, ES*)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    data = f"{head}.{body}".encode()
    alg = header["alg"]
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif alg.startswith("PS"):
        signature = key.sign(data, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size), digest)
    else:
        signature = key.sign(data, padding.PKCS1v15(), digest)
    return f"{head}.{body}.{b64url(signature)}"


class FakeIdp:
    """The provider: `published` are the kids its JWKS holds now (change it to rotate keys)."""

    def __init__(self, now: Callable[[], float], issuer: str = ISSUER) -> None:
        self.now = now
        self.issuer = issuer
        self.private = _keys()
        self.published = ["rsa-1", "ec-1"]
        # whether the published JWKs name their alg (a key without one fits any of its type)
        self.with_alg = True
        self.fetches = 0
        self.status = 200

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk(kid, self.private[kid], alg=self.with_alg) for kid in self.published]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """What a Kubernetes service account token carries, valid for ten minutes from now."""
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "system:serviceaccount:prod:orders",
            "aud": [AUDIENCE],
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "orders"}},
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, kid: str | None = "rsa-1", alg: str = "", key: str = "", **claims: Any) -> str:
        """A JWT signed with key `key` (default: the one named `kid`), `None` claims left out."""
        signer = self.private[key or kid or "rsa-1"]
        alg = alg or ("RS256" if isinstance(signer, rsa.RSAPrivateKey) else jwk("x", signer)["alg"])
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        return sign(header, self.claims(**claims), signer)

    def answer(self) -> tuple[int, dict[str, Any]]:
        self.fetches += 1
        return self.status, self.jwks() if self.status == 200 else {"error": "unavailable"}

    @property
    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path != "/keys":
                return httpx.Response(404)
            status, body = self.answer()
            return httpx.Response(status, json=body)

        return httpx.MockTransport(handle)


@dataclass(frozen=True)
class Tls:
    """A CA and a server certificate for 127.0.0.1 that it signed, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test IdP CA"))
        .issuer_name(name("test IdP CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tls


@contextmanager
def serve_jwks(idp: FakeIdp, tls: Tls | None = None) -> Iterator[str]:
    """Serve the provider's JWKS at `<url>/keys` with uvicorn on 127.0.0.1 (a free port) until the
    block ends; yields the base URL, https when `tls` is given."""

    async def keys(request: Request) -> Response:
        status, body = idp.answer()
        return JSONResponse(body, status_code=status)

    app = Starlette(routes=[Route("/keys", keys)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    extra: dict[str, Any] = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **extra)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-idp", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test identity provider did not start")
            time.sleep(0.005)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
