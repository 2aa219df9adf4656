"""JSON Web Tokens for the STS: a signed JWT parsed and checked, its signature verified with
`cryptography` against the identity provider's JWKS, which is fetched with httpx and cached.

Signatures: RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (PSS, salt the hash's length) and
ES256/384/512 (P-256, P-384, P-521; the JWS raw `r || s` form). `none`, the shared-secret HS*
algorithms and JWE are refused. A JWK is used when it is an RSA or EC key for signing (`use`
absent or `sig`, `key_ops` absent or with `verify`), and for the token's `alg` (its own `alg`, or
when it has none, any algorithm of its type and curve); other keys in the set are skipped.

`JwksCache` keeps one JWKS per provider, fetched on first use and again when the provider's
`jwks_uri` changes. A token whose `kid` is not in the set makes it fetch again at once, but no more
than once per `refetch_interval` seconds for such unknown kids (a flood of made-up kids is not a
flood of fetches); if a fetch fails, the keys it had stay. Fetches verify TLS against `verify`
(the emulator's `trusted_ca`, or the system's trust).

Every `JwtError` says why without quoting the token: claim names, the `kid`, the issuer and times.
It knows HTTP only to fetch a JWKS; nothing of pools, filters or the emulator's state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccloud_emulator.core import timestamp

__all__ = [
    "ALGORITHMS",
    "LEEWAY",
    "Jwk",
    "JwksCache",
    "JwksFetchError",
    "Jwt",
    "JwtError",
    "Refresh",
    "check_claims",
    "parse_jwks",
    "parse_jwt",
    "verify_signature",
]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# How far the clocks of the identity provider and the emulator may disagree, in seconds
LEEWAY = 30.0
MAX_TOKEN = 64 * 1024
MAX_JWKS = 1024 * 1024
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES: dict[str, tuple[ec.EllipticCurve, str]] = {
    "P-256": (ec.SECP256R1(), "ES256"),
    "P-384": (ec.SECP384R1(), "ES384"),
    "P-521": (ec.SECP521R1(), "ES512"),
}


class JwtError(Exception):
    """Why a subject token is refused. The reason never contains the token or a part of it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksFetchError(JwtError):
    """The JWKS could not be had: unreachable, an error status, or not a JWK set (`invalid`)."""

    def __init__(self, reason: str, *, invalid: bool = False) -> None:
        super().__init__(reason)
        self.invalid = invalid


def _shown(value: object, limit: int = 200) -> str:
    """A claim value as a message shows it, cut short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _b64decode(segment: str, what: str) -> bytes:
    if not _B64URL.match(segment):
        raise JwtError(f"the subject token's {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JwtError(f"the subject token's {what} is not base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise JwtError(f"the subject token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise JwtError(f"the subject token's {what} is not a JSON object")
    return value


@dataclass(frozen=True)
class Jwt:
    """A compact JWS, parsed but not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def alg(self) -> str:
        alg: str = self.header["alg"]
        return alg

    @property
    def kid(self) -> str | None:
        kid: str | None = self.header.get("kid")
        return kid


def parse_jwt(token: str) -> Jwt:
    """The token as a signed JWT with a supported algorithm; JwtError otherwise."""
    if len(token) > MAX_TOKEN:
        raise JwtError(f"the subject token is longer than {MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) == 5:
        raise JwtError("the subject token is an encrypted JWT (JWE): a signed JWT is needed")
    if len(parts) != 3:
        raise JwtError("the subject token is not a JWT: a JWT has three dot-separated parts")
    header = _json_object(_b64decode(parts[0], "header"), "header")
    claims = _json_object(_b64decode(parts[1], "payload"), "payload")
    signature = _b64decode(parts[2], "signature")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwtError("the subject token's header has no alg")
    if alg == "none":
        raise JwtError("the subject token is not signed (alg none)")
    if alg not in ALGORITHMS:
        raise JwtError(
            f"the subject token's algorithm {_shown(alg, 20)} is not supported: one of {', '.join(ALGORITHMS)}"
        )
    if "crit" in header:
        raise JwtError("the subject token's header has critical extensions (crit), which are not supported")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JwtError("the subject token's kid is not a string")
    if not signature:
        raise JwtError("the subject token has no signature")
    return Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class Jwk:
    """A usable signing key of a JWKS."""

    kid: str | None
    kty: str
    alg: str | None  # as published; None fits any algorithm of the key's type (and curve)
    key: PublicKey = field(repr=False)

    @property
    def algorithm(self) -> str:
        """The published `alg`, or the one its type implies (what the provider's `keys` show)."""
        if self.alg is not None:
            return self.alg
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return next(a for c, a in _CURVES.values() if c.name == self.key.curve.name)
        return "RS256"

    def fits(self, alg: str) -> bool:
        if self.alg is not None:
            return self.alg == alg
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return alg == self.algorithm
        return alg.startswith(("RS", "PS"))


def _int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {name}")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64url") from None
    return int.from_bytes(raw, "big")


def _jwk(raw: dict[str, Any]) -> Jwk | None:
    """The key, or None for one that is not an RSA or EC signing key, or is malformed."""
    kty, kid, alg = raw.get("kty"), raw.get("kid"), raw.get("alg")
    if raw.get("use", "sig") != "sig":
        return None
    ops = raw.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    if kid is not None and not isinstance(kid, str):
        return None
    if alg is not None and alg not in ALGORITHMS:
        return None
    try:
        if kty == "RSA":
            if alg is not None and not alg.startswith(("RS", "PS")):
                return None
            return Jwk(kid, kty, alg, rsa.RSAPublicNumbers(_int(raw, "e"), _int(raw, "n")).public_key())
        if kty == "EC":
            curve = _CURVES.get(raw.get("crv", ""))
            if curve is None or (alg is not None and alg != curve[1]):
                return None
            numbers = ec.EllipticCurvePublicNumbers(_int(raw, "x"), _int(raw, "y"), curve[0])
            return Jwk(kid, kty, alg, numbers.public_key())
    except ValueError:
        return None
    return None


def parse_jwks(document: object) -> list[Jwk]:
    """The usable keys of a JWK set (`{"keys": [...]}`); ValueError if it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWK set is a JSON object with a "keys" list')
    return [k for k in (_jwk(raw) for raw in document["keys"] if isinstance(raw, dict)) if k is not None]


def verify_signature(jwk: Jwk, jwt: Jwt) -> bool:
    """Whether `jwk` signed `jwt` (with the token's `alg`, which the key must fit)."""
    alg = jwt.alg
    digest = _HASHES[alg[2:]]()
    try:
        if alg.startswith("ES"):
            if not isinstance(jwk.key, ec.EllipticCurvePublicKey):
                return False
            size = (jwk.key.curve.key_size + 7) // 8
            if len(jwt.signature) != 2 * size:
                return False
            r = int.from_bytes(jwt.signature[:size], "big")
            s = int.from_bytes(jwt.signature[size:], "big")
            jwk.key.verify(encode_dss_signature(r, s), jwt.signing_input, ec.ECDSA(digest))
            return True
        if not isinstance(jwk.key, rsa.RSAPublicKey):
            return False
        scheme: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        jwk.key.verify(jwt.signature, jwt.signing_input, scheme, digest)
        return True
    except (InvalidSignature, ValueError):
        return False


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # seconds since the epoch, up to the year 9999 (infinities and the like are no time)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 253_402_300_800:
        raise JwtError(f"the subject token's {name} claim is not a number of seconds")
    return float(value)


def check_claims(claims: dict[str, Any], *, issuer: str, now: float, leeway: float = LEEWAY) -> None:
    """RFC 7519's checks, as the STS makes them: `iss` is the provider's issuer, `exp` is there and
    not past, `nbf` and `iat` are not in the future, and an `aud` is there (the pool's filter says
    which); each with `leeway` seconds of clock skew."""
    iss = claims.get("iss")
    if iss is None:
        raise JwtError("the subject token has no iss claim")
    if iss != issuer:
        raise JwtError(f"the subject token's issuer '{_shown(iss)}' is not the identity provider's issuer '{issuer}'")
    exp = _number(claims, "exp")
    if exp is None:
        raise JwtError("the subject token has no exp claim")
    if now >= exp + leeway:
        raise JwtError(f"the subject token expired at {timestamp(exp)}")
    nbf = _number(claims, "nbf")
    if nbf is not None and now + leeway < nbf:
        raise JwtError(f"the subject token is not valid before {timestamp(nbf)}")
    iat = _number(claims, "iat")
    if iat is not None and now + leeway < iat:
        raise JwtError(f"the subject token was issued in the future ({timestamp(iat)})")
    aud = claims.get("aud")
    if aud is None:
        raise JwtError("the subject token has no aud claim")
    if isinstance(aud, str):
        aud = [aud]
    if not isinstance(aud, list) or not aud or not all(isinstance(a, str) and a for a in aud):
        raise JwtError("the subject token's aud claim is not a string or a list of strings")


@dataclass
class _Entry:
    uri: str
    keys: list[Jwk]
    fetched_at: float  # wall clock, for the provider's JWKS status
    # steady clock of the last fetch made for an unknown kid (None: none yet)
    unknown_kid_fetch: float | None = None


@dataclass(frozen=True)
class Refresh:
    """What a refresh of a provider's JWKS found: its status and the last successful fetch."""

    status: str  # OK, ERROR_FETCHING_JWKS or INVALID_JWKS_URI
    refreshed_at: float | None


@cache
def _system_trust() -> ssl.SSLContext:
    # made once, on the first fetch: loading the system's CAs takes tens of milliseconds
    return ssl.create_default_context()


class JwksCache:
    """The JWKS of each identity provider, keyed by provider ID; safe across threads and loops.
    `verify` is the TLS trust for fetches (None: the system's); `transport` replaces the network."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float],
        monotonic: Callable[[], float],
        refetch_interval: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self._verify = verify
        self._transport = transport
        self._now = now
        self._monotonic = monotonic
        self.refetch_interval = refetch_interval
        self._timeout = timeout
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def forget(self, provider_id: str) -> None:
        with self._lock:
            self._entries.pop(provider_id, None)

    def keys(self, provider_id: str, uri: str) -> list[Jwk] | None:
        """The keys last fetched from `uri` for this provider, or None if none were."""
        with self._lock:
            entry = self._entries.get(provider_id)
            return list(entry.keys) if entry is not None and entry.uri == uri else None

    async def _fetch(self, uri: str) -> list[Jwk]:
        # a transport of its own needs no trust
        verify = self._verify or (True if self._transport is not None else _system_trust())
        try:
            async with httpx.AsyncClient(
                verify=verify, transport=self._transport, timeout=self._timeout, follow_redirects=True
            ) as client:
                response = await client.get(uri, headers={"Accept": "application/jwk-set+json, application/json"})
        except httpx.HTTPError as error:
            raise JwksFetchError(f"{type(error).__name__}: {error}") from None
        if response.status_code != 200:
            raise JwksFetchError(f"it answered HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS:
            raise JwksFetchError(f"it is larger than {MAX_JWKS} bytes", invalid=True)
        try:
            return parse_jwks(json.loads(response.content))
        except (ValueError, RecursionError) as error:
            reason = str(error) if "JWK set" in str(error) else "it is not JSON"
            raise JwksFetchError(reason, invalid=True) from None

    async def _load(self, provider_id: str, uri: str) -> _Entry:
        keys = await self._fetch(uri)
        with self._lock:
            old = self._entries.get(provider_id)
            entry = _Entry(
                uri, keys, self._now(), old.unknown_kid_fetch if old is not None and old.uri == uri else None
            )
            self._entries[provider_id] = entry
            return entry

    async def refresh(self, provider_id: str, uri: str) -> Refresh:
        """Fetch now, whatever the cache holds (the spec's refresh of a provider's JWKS)."""
        try:
            entry = await self._load(provider_id, uri)
        except JwksFetchError as error:
            with self._lock:
                old = self._entries.get(provider_id)
                last = old.fetched_at if old is not None and old.uri == uri else None
            return Refresh("INVALID_JWKS_URI" if error.invalid else "ERROR_FETCHING_JWKS", last)
        return Refresh("OK", entry.fetched_at)

    def _claim_unknown_kid_fetch(self, provider_id: str) -> bool:
        """Whether a fetch for an unknown kid may go now; if so, it is counted from now."""
        with self._lock:
            entry = self._entries.get(provider_id)
            if entry is None:
                return True
            now = self._monotonic()
            if entry.unknown_kid_fetch is not None and now - entry.unknown_kid_fetch < self.refetch_interval:
                return False
            entry.unknown_kid_fetch = now
            return True

    async def verify(self, provider_id: str, uri: str, jwt: Jwt) -> Jwk:
        """The provider's key that signed `jwt`; JwtError saying why there is none."""
        with self._lock:
            entry = self._entries.get(provider_id)
            if entry is not None and entry.uri != uri:
                entry = None
        if entry is None:
            try:
                entry = await self._load(provider_id, uri)
            except JwksFetchError as error:
                raise JwtError(
                    f"the JWKS of identity provider {provider_id} could not be fetched from {uri}: {error.reason}"
                ) from None
        kid = jwt.kid
        if kid is None:
            fitting = [k for k in entry.keys if k.fits(jwt.alg)]
            if not fitting:
                raise JwtError(
                    f"the subject token has no kid and no key of identity provider {provider_id} is for {jwt.alg}"
                )
            for key in fitting:
                if verify_signature(key, jwt):
                    return key
            raise JwtError(
                f"the subject token's signature does not verify with any key of identity provider {provider_id}"
            )
        named = [k for k in entry.keys if k.kid == kid]
        note = ""
        if not named:
            if self._claim_unknown_kid_fetch(provider_id):
                try:
                    entry = await self._load(provider_id, uri)
                except JwksFetchError as error:
                    note = f" (fetching it again failed: {error.reason})"
                named = [k for k in entry.keys if k.kid == kid]
            else:
                note = f" (it is fetched again at most every {self.refetch_interval:g} seconds for an unknown kid)"
        if not named:
            raise JwtError(
                f"the subject token's kid '{_shown(kid, 100)}' is not in the JWKS of identity provider "
                f"{provider_id} at {uri}{note}"
            )
        fitting = [k for k in named if k.fits(jwt.alg)]
        if not fitting:
            raise JwtError(f"key '{kid}' of identity provider {provider_id} is for {named[0].algorithm}, not {jwt.alg}")
        for key in fitting:
            if verify_signature(key, jwt):
                return key
        raise JwtError(
            f"the subject token's signature does not verify with key '{kid}' of identity provider {provider_id}"
        )
