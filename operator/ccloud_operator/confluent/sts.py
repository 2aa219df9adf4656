"""Workload identity: Confluent access tokens for an identity pool, from an external JWT.

`WorkloadIdentity` is a credential like `Credentials` (an API key): the transport asks it for an
`httpx.Auth` and for the values to scrub from error texts. Its auth puts `Authorization: Bearer …` on
every request, with an access token from Confluent's Security Token Service:

    POST /sts/v1/oauth2/token   grant_type=token-exchange, subject_token=<JWT>, identity_pool_id=pool-…

The JWT comes from the `subject_token` callable it is given (in the operator: a Kubernetes
ServiceAccount token, for the audience the pool's filter expects). One exchange at a time per pool,
shared by every request that needs a token meanwhile (single flight); the token is used until
`REFRESH_FRACTION` of its life is gone, then exchanged again before it expires. A request answered
401 while its token should still be good drops that token and is sent once more with a fresh one (the
token was revoked, or the clocks disagree). A refused exchange is `TokenExchangeFailed`, naming the
pool and Confluent's reason; it is remembered for `FAILURE_MEMORY` seconds so a thousand resources
on one refused pool cost one exchange, not a thousand.

No token, subject or access, is ever logged or put in an exception: both are scrubbed like an API secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from ccloud_operator.confluent.errors import (
    ApiError,
    ConfluentError,
    RateLimited,
    ServerError,
    TransportError,
    from_response,
    scrub,
)
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.confluent.transport import ApiObserver

__all__ = ["AccessToken", "TokenExchangeFailed", "WorkloadIdentity"]

log = logging.getLogger("ccloud_operator.confluent.sts")

TOKEN_PATH = "/sts/v1/oauth2/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
MAX_LIFETIME = 900  # the spec's maximum (and default) expires_in
REFRESH_FRACTION = 0.75  # exchange again once three quarters of the token's life have passed
FAILURE_MEMORY = 5.0


class TokenExchangeFailed(ConfluentError):
    """The Security Token Service did not give a token for the pool: refused, or unreachable."""

    def __init__(self, pool: str, reason: str, *, status: int | None = None, transient: bool = False) -> None:
        self.pool = pool
        self.reason = reason
        self.status = status
        self.transient = transient
        super().__init__(f"token exchange for identity pool {pool} failed: {reason}")


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # time.monotonic()
    refresh_at: float

    def __repr__(self) -> str:
        return f"AccessToken(expires_at={self.expires_at:.0f})"


class WorkloadIdentity:
    """The credential of one identity pool: Bearer access tokens from token exchange (see the module)."""

    def __init__(
        self,
        pool: str,
        subject_token: Callable[[], Awaitable[str]],
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        lifetime: int = MAX_LIFETIME,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        observer: ApiObserver | None = None,
    ) -> None:
        self.pool = pool
        self.observer = observer
        self.lifetime = max(60, min(lifetime, MAX_LIFETIME))
        self.exchanges = 0  # how many exchanges were sent: the single flight's proof
        self._subject_token = subject_token
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": "ccloud-operator", "Accept": "application/json"},
        )
        self._token: AccessToken | None = None
        self._failure: tuple[TokenExchangeFailed, float] | None = None
        self._subject = ""  # the latest subject token, to scrub; never logged
        self._lock = asyncio.Lock()

    @property
    def key(self) -> str:
        """Who calls, for the rate governor, shared reads and messages: the pool's ID, never a token."""
        return self.pool

    def __repr__(self) -> str:
        return f"WorkloadIdentity(pool={self.pool!r})"

    def __str__(self) -> str:
        return self.pool

    def auth(self) -> httpx.Auth:
        return _Bearer(self)

    def secrets(self) -> Iterable[str]:
        """Values no error text may carry: the current access token and the latest subject token."""
        return [v for v in (self._token.value if self._token else "", self._subject) if v]

    async def token(self) -> str:
        """A valid access token: the one in hand, or a new one from one exchange every caller shares."""
        now = self._clock()
        token = self._token
        if token is not None and now < token.refresh_at:
            return token.value
        async with self._lock:
            now = self._clock()
            if self._token is not None and now < self._token.refresh_at:
                return self._token.value
            if self._failure is not None and now < self._failure[1]:
                raise self._failure[0]
            try:
                self._token = await self._exchange()
            except TokenExchangeFailed as exc:
                self._failure = (exc, self._clock() + FAILURE_MEMORY)
                if token is not None and now < token.expires_at and exc.transient:
                    log.warning("%s; the current token stays in use until it expires", exc)
                    return token.value
                raise
            self._failure = None
            return self._token.value

    def expire(self, value: str) -> None:
        """Drop `value` if it is the token in hand (Confluent refused it), so the next call exchanges."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _exchange(self) -> AccessToken:
        try:
            self._subject = await self._subject_token()
        except Exception as exc:  # the token source is Kubernetes' or a file's; say which failed, not how it leaked
            raise TokenExchangeFailed(
                self.pool, f"no token to exchange: {type(exc).__name__}: {scrub(str(exc), self.secrets())[:200]}"
            ) from None
        form = {
            "grant_type": GRANT_TYPE,
            "subject_token": self._subject,
            "subject_token_type": JWT,
            "requested_token_type": ACCESS_TOKEN,
            "identity_pool_id": self.pool,
            "expires_in": str(self.lifetime),
        }
        attempt = 0
        while True:
            attempt += 1
            self.exchanges += 1
            error = await self._post(form)
            if not isinstance(error, ConfluentError):
                return error
            transient = isinstance(error, RateLimited | ServerError | TransportError)
            if not transient or attempt >= self._retry.max_attempts:
                status = error.status if isinstance(error, ApiError) else None
                raise TokenExchangeFailed(self.pool, str(error), status=status, transient=transient) from None
            wait = self._retry.delay(attempt, error)
            log.warning(
                "token exchange for identity pool %s: attempt %d in %.2fs after %s", self.pool, attempt + 1, wait, error
            )
            await asyncio.sleep(wait)

    async def _post(self, form: dict[str, str]) -> AccessToken | ConfluentError:
        secrets = {self._subject}
        asked, started = self._clock(), time.monotonic()
        try:
            response = await self._http.post(TOKEN_PATH, data=form)
        except httpx.TransportError as exc:
            self._observe("error", started)
            return TransportError(f"POST {TOKEN_PATH}: {type(exc).__name__}: {scrub(str(exc), secrets)[:200]}")
        self._observe(str(response.status_code), started)
        if not response.is_success:
            return _refusal(response, secrets)
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in") or self.lifetime)
        except (ValueError, KeyError, TypeError):
            return ApiError(
                response.status_code, "invalid_response", f"POST {TOKEN_PATH}: no access_token in the answer"
            )
        log.info("identity pool %s: exchanged a token, valid for %.0fs", self.pool, lifetime)
        return AccessToken(value, asked + lifetime, asked + lifetime * REFRESH_FRACTION)

    def _observe(self, status: str, started: float) -> None:
        if self.observer is not None:
            self.observer.requested(f"POST {TOKEN_PATH}", status, time.monotonic() - started)


def _refusal(response: httpx.Response, secrets: set[str]) -> ConfluentError:
    """Confluent's error (`{"errors": [...]}`), or the OAuth shape (`{"error", "error_description"}`)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"] + (f": {body['error_description']}" if body.get("error_description") else "")
        error = from_response(response, secrets=secrets)
        error.args = (f"{response.status_code} {scrub(text, secrets)[:200]}",)
        return error
    return from_response(response, secrets=secrets)


class _Bearer(httpx.Auth):
    def __init__(self, identity: WorkloadIdentity) -> None:
        self.identity = identity

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.identity.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Refused before its time (revoked, or the clocks disagree): once more with a new token.
            self.identity.expire(token)
            request.headers["Authorization"] = f"Bearer {await self.identity.token()}"
            yield request

    def sync_auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        raise RuntimeError("WorkloadIdentity works with httpx.AsyncClient only")
