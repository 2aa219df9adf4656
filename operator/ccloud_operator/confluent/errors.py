"""What can go wrong talking to Confluent Cloud, as one exception tree.

    ConfluentError                 anything this client raises on purpose
    ├── TransportError             no HTTP answer arrived (timeout, reset, DNS, TLS)
    │   └── ConnectFailed          the request never left: no server saw it
    └── ApiError                   Confluent answered with an error status
        │                          (status, code, detail, request_id)
        ├── ValidationFailed       400, 422: the request is wrong, sending it again will not help
        ├── Unauthorized           401, and the 403 whose body says the API key is invalid
        ├── QuotaExceeded          402 (and the 400 that says "quota", a known Confluent quirk)
        ├── Forbidden              403 on a write (create, update, delete), or from an object store
        ├── NotFound               404, 410, and a 403 on a read: Confluent hides existence
        ├── Conflict               409 (location of the conflicting resource)
        ├── RateLimited            429 (retry_after)
        └── ServerError            5xx

`from_response` turns any of Confluent's error bodies into one of these: the standard
`{"errors": [...]}`, the Connect API's `{"error": {"code", "message"}}` and
`{"error_code", "message"}`, a bare `{"message"}`, and non-JSON bodies (S3 XML, HTML).

The detail is cut to ~200 characters and scrubbed of every value the caller marks secret, so an
exception string is always safe to log or to put in a Kubernetes condition. Knows nothing of
retries, pacing or Kubernetes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

import httpx

from ccloud_operator.redact import scrub

__all__ = [
    "ApiError",
    "Conflict",
    "ConfluentError",
    "ConnectFailed",
    "Forbidden",
    "NotFound",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "ValidationFailed",
    "from_response",
    "scrub",
]


class ConfluentError(Exception):
    """Base of everything this client raises on purpose."""


class TransportError(ConfluentError):
    """No HTTP answer arrived; the request may or may not have reached Confluent."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class ConnectFailed(TransportError):
    """The connection was never made, so the request cannot have reached the server."""


class ApiError(ConfluentError):
    """Confluent answered with an error status.

    `code` is Confluent's error code when the body has one (`resource_already_exists`), `detail` its
    human text, both scrubbed and truncated; `request_id` is Confluent's `X-Request-Id`.
    `refused` says Confluent turned the request down outright: whatever it asked, nothing was done.
    """

    refused: ClassVar[bool] = False

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str = "",
        request_id: str | None = None,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        head = f"HTTP {self.status}" + (f" {self.code}" if self.code else "")
        text = f"{head}: {self.detail}" if self.detail else head
        return text + (f" (request {self.request_id})" if self.request_id else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__str__()!r})"

    @classmethod
    def from_response(
        cls, response: httpx.Response, *, secrets: Iterable[str] = (), confluent: bool = True
    ) -> ApiError:
        """The error a Confluent response stands for (see `from_response`)."""
        return from_response(response, secrets=secrets, confluent=confluent)


class ValidationFailed(ApiError):
    """400 or 422: the request itself is wrong; sending it again will not help."""

    refused = True


class Unauthorized(ApiError):
    """401, or a 403 that says the API key is invalid: the credentials are refused."""

    refused = True


class QuotaExceeded(ApiError):
    """402: an organisation quota is used up."""

    refused = True


class Forbidden(ApiError):
    """403 on a write: the credentials are valid but may not do this (never taken to mean "gone")."""

    refused = True


class NotFound(ApiError):
    """404 or 410, and a 403 on a read (Confluent hides what you may not see, and deleted keys)."""

    refused = True


class Conflict(ApiError):
    """409: the resource exists already; `location` points at it when Confluent says."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str = "",
        request_id: str | None = None,
        *,
        method: str = "",
        path: str = "",
        location: str | None = None,
    ) -> None:
        self.location = location
        super().__init__(status, code, detail, request_id, method=method, path=path)


class RateLimited(ApiError):
    """429: too many requests; `retry_after` is how many seconds Confluent asked to wait."""

    def __init__(
        self,
        status: int = 429,
        code: str | None = None,
        detail: str = "",
        request_id: str | None = None,
        *,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, detail, request_id, method=method, path=path)


class ServerError(ApiError):
    """5xx: Confluent failed; retried when the method allows it (never 501)."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _fields(body: object, text: str) -> tuple[str | None, str, str | None]:
    """(code, detail, error id) from any of Confluent's error shapes."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("code") or first.get("title")
            detail = first.get("detail") or first.get("message") or first.get("title") or ""
            if first.get("resolution"):
                detail = f"{detail} ({first['resolution']})"
            return _str(code), str(detail), _str(first.get("id"))
        error = body.get("error")
        if isinstance(error, dict):
            return _connect_code(error.get("code")), str(error.get("message") or ""), None
        if "error_code" in body or "message" in body:
            return _connect_code(body.get("error_code")), str(body.get("message") or ""), None
    return None, text, None


def _str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _connect_code(value: object) -> str | None:
    # The Connect API's "code" is just the HTTP status again: no information worth printing twice.
    return None if value is None or isinstance(value, int) else str(value)


def _says_invalid_key(response: httpx.Response, text: str) -> bool:
    auth = response.headers.get("www-authenticate", "")
    return "invalid_key" in auth or "invalid api key" in text.lower() or "invalid_api_key" in text.lower()


def from_response(response: httpx.Response, *, secrets: Iterable[str] = (), confluent: bool = True) -> ApiError:
    """The `ApiError` subclass for an error response, with its body's code and scrubbed detail.

    `confluent=False` is for answers from elsewhere (an object store): their 403 is a refusal.
    """
    secrets = tuple(secrets)
    try:
        raw = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        raw = ""
    try:
        body: object = json.loads(raw) if raw else None
    except ValueError:
        body = None
    code, detail, error_id = _fields(body, raw)
    detail = scrub(detail or response.reason_phrase, secrets)
    request_id = response.headers.get("x-request-id") or error_id
    try:
        method, path = response.request.method, response.request.url.path
    except RuntimeError:
        method, path = "", ""
    status = response.status_code
    code = code and scrub(code, secrets, 60)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("x-ratelimit-reset"))
        return RateLimited(status, code, detail, request_id, method=method, path=path, retry_after=retry_after)
    if status == 409:
        location = response.headers.get("location")
        return Conflict(status, code, detail, request_id, method=method, path=path, location=location)
    kind = _class_for(status, method, path, f"{code} {detail} {raw}", response)
    if status == 403 and not confluent:
        kind = Forbidden
    return kind(status, code, detail, request_id, method=method, path=path)


def _class_for(status: int, method: str, path: str, text: str, response: httpx.Response) -> type[ApiError]:
    if status == 401:
        return Unauthorized
    if status == 403:
        if _says_invalid_key(response, text):
            return Unauthorized
        # A 403 on a read means not found (Confluent hides existence, and answers 403 for deleted keys and
        # accounts); on a write it is a refusal: a delete the credential may not make must not look done.
        return NotFound if method in _READS or _is_action(path) else Forbidden
    if status == 402 or (status == 400 and "quota" in text.lower()):
        return QuotaExceeded
    if status in (400, 422):
        return ValidationFailed
    if status in (404, 410):
        return NotFound
    if status >= 500:
        return ServerError
    return ApiError


_READS = frozenset({"GET", "HEAD"})


def _is_action(path: str) -> bool:
    # POST .../restart acts on an existing connector, so its 403 hides existence like a GET's.
    return path.rstrip("/").endswith("/restart")
