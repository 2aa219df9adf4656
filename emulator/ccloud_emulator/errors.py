"""Errors as each Confluent API family writes them.

`ApiError` is raised by the handlers with an HTTP status and a detail; `error_response` renders it in
the dialect of the path it answers (CONTRACT.md §1.3): `errors[]` for the standard APIs,
`{"error":{"code","message"}}` or `{"error_code","message"}` for Connect v1, Kafka REST's
`{"error_code","message"}`, and the object stores' XML for uploads. It knows nothing of the state.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from enum import StrEnum
from xml.sax.saxutils import escape

from starlette.responses import Response

__all__ = ["ApiError", "ConnectShape", "Dialect", "dialect_for", "error_response", "plugin_not_found"]

CONNECT_PREFIX = "/connect/v1/environments/"
KAFKA_PREFIX = "/kafka/v3/"
UPLOAD_PREFIX = "/_uploads/"
# the STS token exchange: a standard error body, but no credentials and no rate limit before it
STS_PATH = "/sts/v1/oauth2/token"


class Dialect(StrEnum):
    STANDARD = "standard"
    CONNECT = "connect"
    KAFKA = "kafka"
    STORAGE = "storage"


class ConnectShape(StrEnum):
    """Connect v1 answers some errors as `{"error":{…}}` and others as `{"error_code":…}`."""

    NESTED = "nested"
    FLAT = "flat"


def dialect_for(path: str) -> Dialect:
    if path.startswith(CONNECT_PREFIX):
        return Dialect.CONNECT
    if path.startswith(KAFKA_PREFIX):
        return Dialect.KAFKA
    if path.startswith(UPLOAD_PREFIX):
        return Dialect.STORAGE
    return Dialect.STANDARD


_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad Request"),
    401: ("user_unauthenticated", "Authentication Required"),
    402: ("quota_exceeded", "Over Quota"),
    403: ("forbidden_access", "Forbidden Access"),
    404: ("not_found", "Not Found"),
    405: ("method_not_allowed", "Method Not Allowed"),
    409: ("resource_already_exists", "Resource Already Exists"),
    422: ("invalid_configuration", "Validation Failed"),
    429: ("too_many_requests", "Too Many Requests"),
    500: ("internal_server_error", "Internal Server Error"),
    502: ("bad_gateway", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("gateway_timeout", "Gateway Timeout"),
}

_CONNECT_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "resource not found",
    429: "Too Many Requests",
    500: "Oops, something went wrong",
}

_STORAGE_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchUpload",
    405: "MethodNotAllowed",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error answer. `detail` must never contain a secret: it is sent and may be logged."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        code: str | None = None,
        title: str | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
        location: str | None = None,
        shape: ConnectShape = ConnectShape.NESTED,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_code, default_title = _DEFAULTS.get(status, ("error", "Error"))
        self.status = status
        self.code = code or default_code
        self.title = title or default_title
        self.detail = detail or self.title
        self.pointer = pointer
        self.parameter = parameter
        self.location = location
        self.shape = shape
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.code}: {self.detail}")


def plugin_not_found() -> ApiError:
    """What both plugin APIs answer for a plugin that is not there."""
    return ApiError(404, "failed to retrieve custom plugin: Not Found", code="not_found")


def error_response(error: ApiError, dialect: Dialect) -> Response:
    headers = dict(error.headers)
    if error.location:
        headers["Location"] = error.location
    body: object
    if dialect is Dialect.STORAGE:
        code = _STORAGE_CODES.get(error.status, "InvalidRequest") if error.code in _DEFAULT_CODES else error.code
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(error.detail)}</Message></Error>"
        )
        return Response(xml, status_code=error.status, headers=headers, media_type="application/xml")
    if dialect is Dialect.KAFKA:
        # Kafka REST codes are the HTTP status with a sub-code: 40101 is "unauthorized"
        body = {"error_code": error.status * 100 + 1 if error.status == 401 else error.status, "message": error.detail}
    elif dialect is Dialect.CONNECT:
        message = error.detail if error.detail != error.title else _CONNECT_MESSAGES.get(error.status, error.title)
        if error.shape is ConnectShape.FLAT:
            body = {"error_code": error.status, "message": message}
        else:
            body = {"error": {"code": error.status, "message": message}}
    else:
        item: dict[str, object] = {
            "id": uuid.uuid4().hex,
            "status": str(error.status),
            "code": error.code,
            "title": error.title,
            "detail": error.detail,
        }
        if error.pointer:
            item["source"] = {"pointer": error.pointer}
        elif error.parameter:
            item["source"] = {"parameter": error.parameter}
        else:
            item["source"] = {}
        body = {"errors": [item]}
        if error.status == 401:
            headers.setdefault(
                "WWW-Authenticate", 'Basic error="invalid_key", error_description="The API Key is invalid"'
            )
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=error.status,
        headers=headers,
        media_type="application/json",
    )


_DEFAULT_CODES = {code for code, _ in _DEFAULTS.values()}
