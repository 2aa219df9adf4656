"""The one place requests leave for Confluent: auth, pacing, retries, logging, error mapping.

`ApiTransport` wraps an `httpx.AsyncClient` (the `transport` argument is the seam for tests:
`httpx.ASGITransport(app=emulator.app)`). Every request waits for the credential's
`RateGovernor`, is retried by the `RetryPolicy`, is logged as one line without its body, and turns
into an `ApiError` when Confluent answers with an error.

The governor hears of every answer, and of every request that got none. When Confluent is down it
holds the callers in its queue while one probe at a time finds out when it is back: a caller waits
there as it would for a spent budget, and the wait costs it no attempt. A wait Confluent asked for
(Retry-After) longer than the policy's cap is not sat through: the caller gets `RateLimited` at once,
to schedule.

An `ApiObserver`, when given, hears of every attempt (its operation with the IDs templated away, its
status, how long it took) and of every wait for the governor: that is how metrics are kept without
the client knowing of them.

What never reaches a log line or an exception: the Authorization header, the API secret, secrets
the caller names (config values, new API key secrets), query strings of foreign URLs (presigned
upload signatures), and error bodies beyond ~200 scrubbed characters.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from ccloud_operator.confluent.errors import (
    ApiError,
    ConfluentError,
    ConnectFailed,
    RateLimited,
    TransportError,
    from_response,
    scrub,
)
from ccloud_operator.confluent.governor import RateGovernor
from ccloud_operator.confluent.models import ApiModel
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.redact import no_queries_in_httpx_logs

__all__ = [
    "DEFAULT_BASE_URL",
    "FOREIGN",
    "ApiObserver",
    "ApiTransport",
    "Credential",
    "Credentials",
    "Params",
    "operation",
    "segment",
]

DEFAULT_BASE_URL = "https://api.confluent.cloud"
MAX_PAGES = 10_000
REMEMBERED = 256

log = logging.getLogger("ccloud_operator.confluent")

M = TypeVar("M", bound=ApiModel)
Params = Mapping[str, str | int | Sequence[str]]

# httpx errors raised before a single byte of the request was sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# The operation of every request to a URL outside Confluent's API (a presigned upload).
FOREIGN = "{foreign}"
_API = re.compile(r"[a-z][a-z0-9-]{0,30}")  # the group and version: iam, v2
_COLLECTION = re.compile(r"[a-z][a-z-]{0,40}")  # service-accounts, config: no digits, which IDs have
_DEPTH = 12


class ApiObserver(Protocol):
    """Hears what the transport does, for metrics; must be quick and must not raise."""

    def requested(self, operation: str, status: str, seconds: float) -> None:
        """One attempt ended: `status` is the HTTP status, or `error` when no answer came."""

    def waited(self, seconds: float) -> None:
        """A request waited `seconds` for the credential's governor before it was sent."""


def operation(method: str, path: str) -> str:
    """`GET /iam/v2/service-accounts/{id}`: the method and the path with every ID templated away.

    Confluent's paths alternate collection and ID after the API group and version
    (`/connect/v1/environments/{id}/clusters/{id}/connectors/{id}/config`), so every other segment is
    an ID, and so is any collection-place segment that is not a plain lowercase word: what is left is
    a short list of words, never an ID, a name or a secret.
    """
    if not path.startswith("/"):
        return f"{method} {FOREIGN}"
    parts = [p for p in path.split("?", 1)[0].split("/") if p][:_DEPTH]
    templated = [part if _is_word(i, part) else "{id}" for i, part in enumerate(parts)]
    return f"{method} /{'/'.join(templated)}"


def _is_word(index: int, part: str) -> bool:
    if index < 2:
        return _API.fullmatch(part) is not None
    return index % 2 == 0 and _COLLECTION.fullmatch(part) is not None


no_queries_in_httpx_logs()


class Credential(Protocol):
    """What a client authenticates with: a Cloud API key (`Credentials`) or an identity pool's
    tokens (`sts.WorkloadIdentity`)."""

    @property
    def key(self) -> str:
        """Who calls, for the rate governor, shared reads and messages: an API key's or a pool's ID."""

    def auth(self) -> httpx.Auth:
        """What signs each request to Confluent's API."""

    def secrets(self) -> Iterable[str]:
        """The values no error text may carry."""


class Credentials(BaseModel):
    """A Confluent Cloud API key and its secret; repr and str show the key only."""

    model_config = ConfigDict(frozen=True)

    key: str
    secret: SecretStr

    def __str__(self) -> str:
        return self.key

    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.key, self.secret.get_secret_value())

    def secrets(self) -> Iterable[str]:
        return (self.secret.get_secret_value(),)


class ApiTransport:
    """Sends requests for one credential (see the module docstring)."""

    def __init__(
        self,
        credentials: Credential,
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None,
        retry: RetryPolicy,
        governor: RateGovernor,
        timeout: float,
        page_size: int,
        upload_timeout: float = 600.0,
        observer: ApiObserver | None = None,
    ) -> None:
        self.credentials = credentials
        self.observer = observer
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.governor = governor
        self.page_size = page_size
        # Secrets met on the way (new API keys' secrets): the latest REMEMBERED, so memory stays flat.
        self._remembered: OrderedDict[str, None] = OrderedDict()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            auth=credentials.auth(),
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": "ccloud-operator", "Accept": "application/json"},
        )
        # Presigned upload URLs are someone else's: no Confluent credential may travel there.
        self._foreign = httpx.AsyncClient(transport=transport, timeout=upload_timeout, follow_redirects=True)

    async def aclose(self) -> None:
        await self._foreign.aclose()
        await self._http.aclose()

    def remember_secret(self, value: str) -> None:
        """Scrub `value` from every error text from now on (a new API key secret, for one).

        Only the latest `REMEMBERED` are kept: an error text quotes what this request sent, and a
        secret is sent in the calls right after it is learnt (its propagation probe), not months later.
        """
        if value:
            self._remembered[value] = None
            self._remembered.move_to_end(value)
            while len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)

    @property
    def _secrets(self) -> set[str]:
        return {*self.credentials.secrets(), *self._remembered}

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: object = None,
        secrets: Iterable[str] = (),
        auth: httpx.Auth | None = None,
        governor: RateGovernor | None = None,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        """Send one Confluent request, paced and retried; a 2xx response or an exception."""
        secrets = self._secrets.union(secrets)
        kwargs: dict[str, Any] = {"params": params, "json": json}
        if auth is not None:
            kwargs["auth"] = auth
        return await self._send(
            self._http, method, url, kwargs, secrets, governor or self.governor, retry or self.retry
        )

    async def foreign(self, method: str, url: str, *, secrets: Iterable[str] = (), **kwargs: Any) -> httpx.Response:
        """Send to a URL outside Confluent's API (a presigned upload): no auth, no governor."""
        return await self._send(self._foreign, method, url, kwargs, self._secrets.union(secrets), None, self.retry)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request`, then the decoded JSON body (None when the body is empty)."""
        response = await self.request(method, url, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code,
                "invalid_response",
                "the body is not JSON",
                response.headers.get("x-request-id"),
                method=method,
                path=self._where(response.request.url),
            ) from None

    async def model(self, model: type[M], method: str, url: str, **kwargs: Any) -> M:
        """`json`, validated into `model`."""
        body = await self.json(method, url, **kwargs)
        return parse(model, body, f"{method} {url}")

    async def paginate(self, model: type[M], path: str, params: Params | None = None, *, sized: bool = True) -> list[M]:
        """Every item of a standard list, following `metadata.next` to the last page.

        `sized=False` leaves out `page_size`, for the lists whose spec has no such parameter.
        """
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), **({"page_size": self.page_size} if sized else {})}
        items: list[M] = []
        seen: set[str] = set()
        while url is not None:
            body = await self.json("GET", url, params=query)
            if not isinstance(body, dict):
                raise ApiError(200, "invalid_response", f"GET {path} returned no list object")
            items.extend(parse(model, item, f"GET {path}") for item in body.get("data") or [])
            next_url = (body.get("metadata") or {}).get("next")
            # None, not {}: httpx would replace the next URL's own query with an empty one.
            url, query = (self._reroot(next_url), None) if next_url else (None, None)
            if url is not None and (url in seen or len(seen) >= MAX_PAGES):
                raise ApiError(200, "pagination_loop", f"GET {path}: metadata.next repeats or never ends")
            if url is not None:
                seen.add(url)
        return items

    def _reroot(self, next_url: str) -> str:
        # metadata.next is absolute; keep its path and query but send it to the host we were given,
        # so our credentials never travel to a host nobody configured.
        parsed = httpx.URL(next_url)
        return parsed.raw_path.decode("ascii")

    def _api_path(self, url: httpx.URL) -> str:
        """The still-escaped path below our API's base URL; empty for a URL elsewhere."""
        base = self._http.base_url
        if url.netloc != base.netloc:
            return ""
        path = url.raw_path.decode("ascii").split("?", 1)[0]
        prefix = base.raw_path.decode("ascii").rstrip("/")
        return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path

    def _where(self, url: httpx.URL) -> str:
        """A URL fit for a log line: the path on our API host, else host and path; never a query."""
        if url.netloc == self._http.base_url.netloc:
            return url.path
        return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"

    async def _send(
        self,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        kwargs: dict[str, Any],
        secrets: set[str],
        governor: RateGovernor | None,
        retry: RetryPolicy,
    ) -> httpx.Response:
        target = http.build_request(method, url, params=kwargs.get("params")).url
        where = self._where(target)
        op = operation(method, self._api_path(target) if http is self._http else "")
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(http, method, url, kwargs, secrets, governor, retry, where, op)
            if isinstance(outcome, httpx.Response):
                return outcome
            if attempt >= retry.max_attempts or not retry.should_retry(method, outcome):
                raise outcome
            wait = retry.delay(attempt, outcome)
            log.warning(
                "%s %s attempt %d/%d in %.2fs after %s", method, where, attempt + 1, retry.max_attempts, wait, outcome
            )
            await asyncio.sleep(wait)

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        kwargs: dict[str, Any],
        secrets: set[str],
        governor: RateGovernor | None,
        retry: RetryPolicy,
        where: str,
        op: str,
    ) -> httpx.Response | ConfluentError:
        """One try: the successful response, or the error it ended with."""
        if governor is not None:
            throttled = governor.throttled_for()
            if throttled > retry.cap:
                # Waiting that long here would hold a caller hostage; the caller schedules it instead.
                return RateLimited(
                    429,
                    "throttled",
                    f"Confluent asked this credential to wait {throttled:.0f}s",
                    retry_after=throttled,
                    method=method,
                    path=where,
                )
            asked = time.monotonic()
            ticket = await governor.acquire()
            if self.observer is not None:
                self.observer.waited(time.monotonic() - asked)
        started = time.monotonic()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if governor is not None:
                # No answer is as much a sign of an outage as a 503; our own pool running dry is not.
                governor.release(ticket, unanswered=not isinstance(exc, httpx.PoolTimeout))
            self._observe(op, "error", started)
            kind = ConnectFailed if isinstance(exc, _NOT_SENT) else TransportError
            reason = scrub(str(exc) or type(exc).__name__, secrets)
            log.info("%s %s failed: %s: %s", method, where, type(exc).__name__, reason)
            error = kind(f"{method} {where}: {type(exc).__name__}: {reason}", method=method, path=where)
            error.__cause__ = exc
            return error
        except BaseException:
            if governor is not None:
                governor.release(ticket)
            raise
        if governor is not None:
            governor.release(ticket, response.status_code, response.headers)
        elapsed = self._observe(op, str(response.status_code), started) * 1000
        request_id = response.headers.get("x-request-id", "-")
        log.debug("%s %s %d in %.0fms (request %s)", method, where, response.status_code, elapsed, request_id)
        if response.is_success:
            return response
        return from_response(response, secrets=secrets, confluent=http is self._http)

    def _observe(self, op: str, status: str, started: float) -> float:
        """Tell the observer of one attempt; the seconds it took."""
        seconds = time.monotonic() - started
        if self.observer is not None:
            self.observer.requested(op, status, seconds)
        return seconds


def segment(value: str) -> str:
    """`value` escaped to be one path segment (connector names may hold any character)."""
    return quote(value, safe="")


def parse(model: type[M], body: object, what: str) -> M:
    """Validate a response body into `model`; a body that does not fit is Confluent's error."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        # pydantic's message would quote the input, which may hold secrets: name the fields only.
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors()[:5])
        raise ApiError(200, "invalid_response", f"{what}: unexpected {model.__name__} ({fields})") from None
