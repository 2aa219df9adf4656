"""`from_response`: every Confluent error shape becomes the right exception, with nothing secret in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    ApiError,
    Conflict,
    ConfluentClient,
    Forbidden,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
    from_response,
)
from ccloud_operator.confluent.errors import parse_retry_after, scrub


def response(
    status: int,
    body: object = None,
    *,
    method: str = "GET",
    path: str = "/iam/v2/service-accounts/sa-1",
    headers: dict[str, str] | None = None,
    text: str | None = None,
) -> httpx.Response:
    content = text if text is not None else ("" if body is None else json.dumps(body))
    return httpx.Response(
        status,
        content=content.encode(),
        headers=headers or {},
        request=httpx.Request(method, f"https://api.confluent.cloud{path}"),
    )


def standard(status: int, code: str, detail: str) -> dict[str, object]:
    return {"errors": [{"id": "e1d2", "status": str(status), "code": code, "detail": detail, "source": {}}]}


CASES = [
    (
        response(404, standard(404, "service_account_not_found", "Service Account Not Found")),
        NotFound,
        "service_account_not_found",
        "Service Account Not Found",
    ),
    (
        response(403, standard(403, "forbidden_access", "Forbidden Access")),
        NotFound,
        "forbidden_access",
        "Forbidden Access",
    ),
    (
        response(403, standard(403, "forbidden_access", "Forbidden Access"), method="DELETE"),
        Forbidden,
        "forbidden_access",
        "Forbidden Access",
    ),
    (
        response(403, {"errors": [{"status": "403", "detail": "invalid API key"}]}),
        Unauthorized,
        None,
        "invalid API key",
    ),
    (
        response(403, standard(403, "user_unauthorized", "Forbidden"), method="POST", path="/iam/v2/service-accounts"),
        Forbidden,
        "user_unauthorized",
        "Forbidden",
    ),
    (
        response(
            401,
            {"errors": [{"id": "cca0", "status": "401", "detail": "Unauthorized", "source": {}}]},
            headers={"WWW-Authenticate": 'Basic error="invalid_key"'},
        ),
        Unauthorized,
        None,
        "Unauthorized",
    ),
    (
        response(
            401,
            {"error": {"code": 401, "message": "Unauthorized"}},
            path="/connect/v1/environments/e/clusters/c/connectors",
        ),
        Unauthorized,
        None,
        "Unauthorized",
    ),
    (
        response(402, standard(402, "quota_exceeded", "service_accounts_per_org exceeded"), method="POST"),
        QuotaExceeded,
        "quota_exceeded",
        "service_accounts_per_org exceeded",
    ),
    (
        response(400, standard(400, "quota_exceeded", "Over quota"), method="POST"),
        QuotaExceeded,
        "quota_exceeded",
        "Over quota",
    ),
    (
        response(409, standard(409, "resource_already_exists", "Service name is already in use"), method="POST"),
        Conflict,
        "resource_already_exists",
        "Service name is already in use",
    ),
    (
        response(
            422,
            {
                "errors": [
                    {
                        "status": "422",
                        "code": "invalid_configuration",
                        "title": "Validation Failed",
                        "detail": "display_name too long",
                        "source": {"pointer": "/display_name"},
                    }
                ]
            },
        ),
        ValidationFailed,
        "invalid_configuration",
        "display_name too long",
    ),
    (response(400, {"error": {"code": 400, "message": "Bad Request"}}), ValidationFailed, None, "Bad Request"),
    (response(404, {"error_code": 404, "message": "resource not found"}), NotFound, None, "resource not found"),
    (
        response(500, {"error_code": 500, "message": "Failed to find any class that implements Connector"}),
        ServerError,
        None,
        "Failed to find any class that implements Connector",
    ),
    (response(503, text="<html>Service Unavailable</html>"), ServerError, None, "<html>Service Unavailable</html>"),
    (response(502), ServerError, None, "Bad Gateway"),
    (response(429, headers={"Retry-After": "7"}), RateLimited, None, "Too Many Requests"),
    (
        response(403, text="<Error><Code>AccessDenied</Code></Error>", method="PUT"),
        Forbidden,
        None,
        "<Error><Code>AccessDenied</Code></Error>",
    ),
    (response(405, {"message": "Method Not Allowed"}), ApiError, None, "Method Not Allowed"),
    (
        response(400, {"errors": [{"code": "invalid_filter", "detail": "bad filter", "resolution": "drop it"}]}),
        ValidationFailed,
        "invalid_filter",
        "bad filter (drop it)",
    ),
]
IDS = [
    "404 standard body is not found",
    "403 on a read hides a missing service account",
    "403 on a delete is a refusal, never taken as gone",
    "403 saying the key is invalid is unauthorized",
    "403 on a create is a refusal",
    "401 standard body",
    "401 connect body",
    "402 is quota",
    "400 that says quota is quota (known Confluent quirk)",
    "409 is conflict",
    "422 is validation",
    "400 connect error object is validation",
    "404 connect error_code body",
    "500 connect error_code body",
    "non-JSON body becomes the detail",
    "empty body falls back to the reason phrase",
    "429 without a body",
    "S3 XML 403 on a PUT is a refusal",
    "unmapped status keeps the base class and a bare message",
    "resolution is appended to the detail",
]


@pytest.mark.parametrize(("resp", "kind", "code", "detail"), CASES, ids=IDS)
def test_every_error_shape_is_classified(
    resp: httpx.Response, kind: type[ApiError], code: str | None, detail: str
) -> None:
    error = from_response(resp)
    assert type(error) is kind
    assert (error.status, error.code, error.detail) == (resp.status_code, code, detail)


def test_str_carries_status_code_detail_and_request_id() -> None:
    resp = response(
        409,
        standard(409, "resource_already_exists", "Service name is already in use"),
        headers={"X-Request-Id": "1f3c9a"},
        method="POST",
    )
    assert str(from_response(resp)) == (
        "HTTP 409 resource_already_exists: Service name is already in use (request 1f3c9a)"
    )


def test_request_id_falls_back_to_the_error_id() -> None:
    assert from_response(response(404, standard(404, "not_found", "gone"))).request_id == "e1d2"


def test_conflict_keeps_the_location_of_the_existing_resource() -> None:
    resp = response(
        409,
        standard(409, "resource_already_exists", "x"),
        method="POST",
        headers={"Location": "https://api.confluent.cloud/iam/v2/service-accounts/sa-9"},
    )
    error = from_response(resp)
    assert isinstance(error, Conflict)
    assert error.location == "https://api.confluent.cloud/iam/v2/service-accounts/sa-9"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "0.25"}, 0.25), ({"X-RateLimit-Reset": "3"}, 3.0), ({}, None)],
    ids=["seconds", "fractional seconds", "reset header when no Retry-After", "nothing said"],
)
def test_rate_limited_carries_how_long_to_wait(headers: dict[str, str], expected: float | None) -> None:
    error = from_response(response(429, headers=headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected


def test_retry_after_as_an_http_date() -> None:
    ten_seconds_before = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=ten_seconds_before) == pytest.approx(10.0)


SECRET = "s3cr3t-Value-That-Must-Not-Leak-0123456789abcdef"


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"detail": f"value {SECRET} rejected for kafka.api.secret"}]},
        {"error_code": 400, "message": f"Invalid value {SECRET} for configuration connection.password"},
        {"error": {"code": 500, "message": f"Authorization: Basic {SECRET}"}},
        {"message": f"password={SECRET}"},
    ],
    ids=["echoed in a standard detail", "echoed in a connect message", "an auth header echoed", "key=value form"],
)
def test_secrets_in_error_bodies_never_reach_the_exception(body: object, remember: Callable[[str], str]) -> None:
    remember(SECRET)
    error = from_response(response(400, body), secrets=[SECRET])
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert "****" in error.detail


def test_secret_patterns_are_scrubbed_even_when_nobody_named_them() -> None:
    text = scrub('auth: Bearer eyJhbGciOiJIUzI1NiJ9.payload and "password": "hunter2hunter2"')
    assert "eyJhbGciOiJIUzI1NiJ9" not in text
    assert "hunter2hunter2" not in text


def test_prose_that_names_a_config_key_is_left_alone() -> None:
    text = "kafka.api.secret: Provided Kafka ApiKey is invalid"
    assert scrub(text) == text


def test_long_error_bodies_are_cut() -> None:
    error = from_response(response(500, text="x" * 5000))
    assert len(error.detail) <= 200
    assert error.detail.endswith("…")


CONNECTORS = "/connect/v1/environments/*/clusters/*/connectors"


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("POST", "/iam/v2/service-accounts", 400, ValidationFailed),
        ("POST", "/iam/v2/service-accounts", 402, QuotaExceeded),
        ("POST", "/iam/v2/service-accounts", 403, Forbidden),
        ("GET", "/org/v2/environments/*", 403, NotFound),
        ("GET", "/org/v2/environments/*", 404, NotFound),
        ("POST", "/iam/v2/service-accounts", 409, Conflict),
        ("POST", "/iam/v2/service-accounts", 422, ValidationFailed),
        ("POST", "/iam/v2/service-accounts", 500, ServerError),
        ("GET", CONNECTORS, 401, Unauthorized),
        ("GET", CONNECTORS, 404, NotFound),
        ("GET", CONNECTORS, 500, ServerError),
    ],
    ids=[
        "400 standard",
        "402 standard",
        "403 on a create",
        "403 on a read",
        "404 standard",
        "409 standard",
        "422 standard",
        "500 on a create (not retried)",
        "401 in Connect's shape",
        "404 in Connect's shape",
        "500 in Connect's shape",
    ],
)
async def test_the_emulators_error_answers_are_classified(
    client: ConfluentClient, emulator: Emulator, method: str, path: str, status: int, kind: type[ApiError]
) -> None:
    # Retried statuses fail every attempt, so what is raised is the classified last answer.
    emulator.fail(method, path, status=status)
    calls = {
        "POST": lambda: client.service_accounts.create("errors"),
        "GET": lambda: (
            client.connectors.list(emulator.environment_id, emulator.kafka_cluster_id)
            if path == CONNECTORS
            else client.environments.get(emulator.environment_id)
        ),
    }
    with pytest.raises(kind) as caught:
        await calls[method]()
    assert caught.value.status == status
    assert caught.value.detail
    assert str(caught.value).startswith(f"HTTP {status}")
