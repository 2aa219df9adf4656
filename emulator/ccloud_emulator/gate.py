"""What stands before every API call: injected faults, auth, rate limits and the request log.

`Gate` is an ASGI middleware. For each request outside the admin prefix it records the call, applies
the first matching fault (latency, an error status, a dropped connection), authenticates the caller,
takes a token from the caller's bucket, and stamps `X-Request-Id` and the `X-RateLimit-*` headers on
the answer. A caller is a Cloud or Kafka API key (Basic), or an identity pool through an access token
the STS issued (`Authorization: Bearer …`, on every API but Kafka REST, which takes its cluster's
keys only); an unknown, expired or revoked token is the same 401 as a bad key. The bucket and the
request log's `identity` are the key ID or the pool ID, never a token. Presigned uploads skip auth
and limits, as object stores do; so does the STS token endpoint, whose callers have no credentials
yet (its URL's query is not recorded, and the log never holds a body). A client that hangs up before
it is answered is logged with status 0, quietly. It knows the state only through `Core` and never
sees a route.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import hmac
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccloud_emulator.core import Caller, Core, RequestRecord
from ccloud_emulator.errors import (
    KAFKA_PREFIX,
    STS_PATH,
    ApiError,
    Dialect,
    dialect_for,
    error_response,
)

__all__ = ["ADMIN_PREFIX", "ConnectionDropped", "Fault", "Gate", "RateLimiter"]

ADMIN_PREFIX = "/_emulator"
# Headers shown when no limit is set, so clients that pace from them never wait.
NOMINAL_LIMIT = 10_000


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised to drop a connection on purpose: under uvicorn the socket closes mid-answer, and an
    in-process httpx client (ASGITransport) sees it as the transport error a real drop would be."""


@dataclass
class Fault:
    """An injected failure for requests whose method and path (an fnmatch glob) match."""

    method: str
    path: str
    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    drop: bool = False
    # with drop: let the request take effect first, so only its answer is lost
    after_processing: bool = False
    count: int | None = None  # None: every matching request
    probability: float = 1.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.method not in ("*", method):
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency": self.latency,
            "drop": self.drop,
            "after_processing": self.after_processing,
            "count": self.count,
            "probability": self.probability,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int = 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    in_flight: int = 0


class RateLimiter:
    """A token bucket per caller, an API key or an identity pool (`rate` tokens a second, `burst`
    deep), and a cap on requests in flight per caller. `X-RateLimit-Reset` is the whole seconds
    until the bucket is full again."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self.burst = 0
        self.concurrency: int | None = None
        self._buckets: dict[str, _Bucket] = {}

    def configure(self, rate: float | None, burst: int | None, concurrency: int | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (None disables the limit)")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1 (None disables the cap)")
        self.rate = rate
        self.burst = max(1, burst if burst is not None else math.ceil(rate or 1))
        self.concurrency = concurrency
        self._buckets.clear()

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), stamp=now)
        elif self.rate is not None:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def _decision(self, bucket: _Bucket, allowed: bool, retry_after: int = 0) -> Decision:
        if self.rate is None:
            return Decision(allowed, NOMINAL_LIMIT, NOMINAL_LIMIT, 0, retry_after)
        reset = math.ceil((self.burst - bucket.tokens) / self.rate - 1e-9)
        return Decision(allowed, self.burst, max(0, math.floor(bucket.tokens)), max(0, reset), retry_after)

    def acquire(self, key: str, now: float) -> Decision:
        bucket = self._bucket(key, now)
        if self.concurrency is not None and bucket.in_flight >= self.concurrency:
            return self._decision(bucket, False, retry_after=1)
        if self.rate is not None:
            if bucket.tokens < 1.0:
                wait = math.ceil((1.0 - bucket.tokens) / self.rate - 1e-9)
                return self._decision(bucket, False, retry_after=max(1, wait))
            bucket.tokens -= 1.0
        bucket.in_flight += 1
        return self._decision(bucket, True)

    def release(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.in_flight > 0:
            bucket.in_flight -= 1

    def peek(self, key: str | None, now: float) -> Decision:
        if key is None or self.rate is None:
            return Decision(True, NOMINAL_LIMIT, NOMINAL_LIMIT, 0)
        return self._decision(self._bucket(key, now), True)


@dataclass(frozen=True)
class Basic:
    key: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Bearer:
    token: str = field(repr=False)


def presented_credentials(scope: Scope) -> Basic | Bearer | None:
    """The Basic key and secret or the Bearer token of the Authorization header, if well formed."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, encoded = value.partition(b" ")
            if scheme.lower() == b"bearer":
                token = encoded.strip().decode("latin-1")
                return Bearer(token) if token else None
            if scheme.lower() != b"basic":
                return None
            try:
                key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return Basic(key, secret) if sep else None
    return None


_BEARER_CHALLENGE = 'Bearer error="invalid_token", error_description="The access token is invalid or has expired"'


def _retry_after_text(seconds: float) -> str:
    # Integral values as integers, as the spec types the header; fractions pass through for fast tests.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class Gate:
    """The ASGI middleware; `faults` and `limiter` are the emulator's own, changed in place."""

    def __init__(
        self,
        app: ASGIApp,
        core: Core,
        limiter: RateLimiter,
        faults: list[Fault],
        record: Callable[[RequestRecord], None],
    ) -> None:
        self.app = app
        self.core = core
        self.limiter = limiter
        self.faults = faults
        self.record = record

    def _match_fault(self, method: str, path: str) -> Fault | None:
        with self.core.lock:
            for fault in self.faults:
                if fault.matches(method, path) and (fault.probability >= 1.0 or random.random() < fault.probability):  # noqa: S311
                    fault.fired += 1
                    return fault
        return None

    def _authenticate(self, credentials: Basic | Bearer | None, path: str) -> Caller | None:
        if credentials is None:
            return None
        with self.core.lock:
            if isinstance(credentials, Bearer):
                if path.startswith(KAFKA_PREFIX):
                    return None
                token = self.core.access_token(credentials.token)
                return None if token is None else Caller(org_id=token.org_id, pool_id=token.pool_id)
            key = self.core.state.api_keys.get(credentials.key)
            if key is None or not hmac.compare_digest(key.secret.encode(), credentials.secret.encode()):
                return None
            if not self.core.key_usable(key, self.core.now()):
                return None
            if path.startswith(KAFKA_PREFIX):
                # /kafka/v3/clusters/{id}/…: only a key for that very cluster
                parts = path.split("/")
                if len(parts) < 5 or key.resource_id != parts[4]:
                    return None
            elif key.resource_id not in ("cloud", "global"):
                return None
            return Caller(api_key=key.id, org_id=key.org_id)

    def _bucket_key(self, credentials: Basic | Bearer | None) -> str | None:
        """Whose bucket a fault's headers show: the key presented, or the pool of the token."""
        if isinstance(credentials, Basic):
            return credentials.key
        if isinstance(credentials, Bearer):
            with self.core.lock:
                token = self.core.access_token(credentials.token)
            return token.pool_id if token is not None else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.time()
        method: str = scope["method"]
        path: str = scope["path"]
        dialect = dialect_for(path)
        credentials = presented_credentials(scope)
        key_id = credentials.key if isinstance(credentials, Basic) else None
        identity: str | None = None
        extra: list[tuple[bytes, bytes]] = []
        if dialect is not Dialect.STORAGE:
            extra.append((b"x-request-id", uuid.uuid4().hex.encode()))
        status = 0

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        async def swallowed(message: Message) -> None:
            pass

        async def drop() -> None:
            nonlocal status
            status = 0
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
            raise ConnectionDropped(f"connection dropped by an injected fault on {method} {path}")

        async def proceed(out: Send, slow: float) -> None:
            """Everything past the gateway: auth, the rate limit, then the API itself."""
            nonlocal identity

            async def answer(error: ApiError) -> None:
                await error_response(error, dialect)(scope, receive, out)

            if dialect is Dialect.STORAGE or path == STS_PATH:
                if path == STS_PATH:
                    extra.extend(self.limiter.peek(None, 0.0).headers())
                if slow > 0:
                    await self.core.sleep(slow)
                await self.app(scope, receive, out)
                return
            caller = self._authenticate(credentials, path)
            with self.core.lock:
                if caller is None:
                    extra.extend(self.limiter.peek(None, 0.0).headers())
                    decision = None
                else:
                    identity = caller.identity
                    decision = self.limiter.acquire(caller.identity, self.core.monotonic())
                    extra.extend(decision.headers())
            if caller is None:
                detail = (
                    "Valid authentication credentials must be provided"
                    if dialect is Dialect.STANDARD
                    else "Unauthorized"
                )
                # a token is challenged as a token (RFC 6750); the body is a bad key's
                challenge = {"WWW-Authenticate": _BEARER_CHALLENGE} if isinstance(credentials, Bearer) else None
                await answer(ApiError(401, detail, headers=challenge))
                return
            assert decision is not None
            if not decision.allowed:
                await answer(ApiError(429, "Too Many Requests", headers={"Retry-After": str(decision.retry_after)}))
                return
            scope["ccloud.caller"] = caller
            try:
                if slow > 0:
                    await self.core.sleep(slow)
                await self.app(scope, receive, out)
            finally:
                with self.core.lock:
                    self.limiter.release(caller.identity)

        try:
            fault = self._match_fault(method, path)
            if fault is None:
                await proceed(stamped, 0.0)
                return
            if fault.drop and fault.after_processing:
                # the request takes effect, but its answer never arrives
                await proceed(swallowed, fault.latency)
                await drop()
            # A failing fault answers like a gateway, before auth; a slow one is slow inside the server.
            if not fault.drop and fault.status is None:
                await proceed(stamped, fault.latency)
                return
            if fault.latency > 0:
                await self.core.sleep(fault.latency)
            if fault.drop:
                await drop()
            assert fault.status is not None
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _retry_after_text(fault.retry_after)
            if dialect is not Dialect.STORAGE:
                bucket = None if path == STS_PATH else self._bucket_key(credentials)
                with self.core.lock:
                    extra.extend(self.limiter.peek(bucket, self.core.monotonic()).headers())
            await error_response(ApiError(fault.status, headers=headers), dialect)(scope, receive, stamped)
        except ConnectionDropped:
            raise
        except ClientDisconnect:
            # The client hung up (say, its timeout ran out during an injected latency) before the
            # handler read the body: nobody is left to answer, so no 500 and no traceback.
            status = 0
        except asyncio.CancelledError:
            # Cancelled from outside (an in-process client that gave up, a server shutting down):
            # what was answered so far stands, and it is no server error.
            raise
        except BaseException:
            # Starlette's outer error middleware answers 500 for what escaped the handlers
            status = status or 500
            raise
        finally:
            # a token request's parameters belong in its body; one sent in the URL is not kept
            query = "" if path == STS_PATH else scope.get("query_string", b"").decode("latin-1")
            self.record(RequestRecord(method, path, query, status, started, key_id, time.time() - started, identity))
