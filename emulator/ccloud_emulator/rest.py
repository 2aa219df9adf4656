"""What the standard (non-Connect) APIs share: JSON bodies, field rules, pagination, references, CRNs.

Pagination follows CONTRACT.md §1.5: `page_size` (default 10, at most 100) is read on the first
request only, `page_token` is opaque, and `metadata.next` is an absolute URL that repeats the filters.
It knows the request and the response, never the state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ccloud_emulator.core import Caller
from ccloud_emulator.errors import ApiError

__all__ = [
    "JAVA_CLASS",
    "CrnSegment",
    "caller",
    "enum_field",
    "enum_filter",
    "env_crn",
    "env_ref",
    "json_object",
    "json_response",
    "link_field",
    "org_crn",
    "page",
    "parse_crn",
    "property_names",
    "require_query",
    "text_field",
]

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# A Java class name, optionally qualified by its package (the plugin specs' pattern)
JAVA_CLASS = re.compile(r"^(([a-zA-Z][a-zA-Z_$0-9]*(\.[a-zA-Z][a-zA-Z_$0-9]*)*)\.)?([a-zA-Z][a-zA-Z_$0-9]*)$")
_PROPERTY = re.compile(r"^[\w\+\.-]+$")
_LINK = re.compile(r"^$|^(http://|https://).+")

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100

# crn://confluent.cloud/organization=<uuid>[/<kind>=<name>]…
_CRN = re.compile(r"^crn://confluent\.cloud/organization=(?P<org>[^/]*)(?P<rest>/.*)?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CRN_SEGMENT = re.compile(r"^(?P<kind>[a-z][a-z0-9-]*)=(?P<name>[^/=]+)$")
# The parent each segment must follow, where Confluent's resource hierarchy fixes one.
_CRN_PARENTS = {
    "environment": "organization",
    "cloud-cluster": "environment",
    "kafka": "cloud-cluster",
    "topic": "kafka",
    "group": "kafka",
    "transactional-id": "kafka",
}


def caller(request: Request) -> Caller:
    found: Caller = request.scope["ccloud.caller"]
    return found


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object", code="invalid_json")
    return data


def text_field(body: dict[str, Any], name: str, pointer: str, *, required: bool, max_length: int = 0) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required", code="invalid_input", pointer=pointer)
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string", code="invalid_input", pointer=pointer)
    if max_length and len(value) > max_length:
        raise ApiError(422, f"'{name}' must be at most {max_length} characters", code="invalid_input", pointer=pointer)
    return value


def enum_field(value: object, allowed: type[E], pointer: str, default: str = "") -> E:
    """One of `allowed`'s members, in any case (clients send "zip" as well as "ZIP")."""
    if value is None and default:
        value = default
    if not isinstance(value, str) or value.upper() not in allowed.__members__:
        choices = ", ".join(allowed.__members__)
        raise ApiError(400, f"'{pointer.strip('/')}' must be one of {choices}", code="invalid_input", pointer=pointer)
    return allowed(value.upper())


def enum_filter(request: Request, name: str, allowed: type[E]) -> E | None:
    """An optional list filter naming one of `allowed`'s members exactly ("exact match", as the specs
    say): anything else, lower case and empty included, is a 400 rather than a silently empty page."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in allowed.__members__:
        choices = ", ".join(allowed.__members__)
        raise ApiError(
            400, f"Invalid filter '{name}={value}': must be one of {choices}", code="invalid_filter", parameter=name
        )
    return allowed(value)


def property_names(value: object, pointer: str) -> list[str]:
    """`sensitive_config_properties`: a list of config property names (absent means none)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and _PROPERTY.match(v) for v in value):
        raise ApiError(422, "sensitive_config_properties must be a list of property names", pointer=pointer)
    return list(value)


def link_field(body: dict[str, Any], pointer: str) -> str:
    """`documentation_link`: empty, or an http(s) URL of at most 512 characters."""
    link = text_field(body, "documentation_link", pointer, required=False, max_length=512)
    if not _LINK.match(link):
        raise ApiError(422, "documentation_link must be an http(s) URL", pointer=pointer)
    return link


def require_query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise ApiError(400, f"Missing required parameter '{name}'", code="missing_parameter", parameter=name)
    return value


def org_crn(org_id: str) -> str:
    return f"crn://confluent.cloud/organization={org_id}"


def env_crn(org_id: str, env_id: str) -> str:
    return f"{org_crn(org_id)}/environment={env_id}"


CrnSegment = tuple[str, str]


def parse_crn(value: object, *, pointer: str = "", parameter: str = "") -> tuple[str, list[CrnSegment]]:
    """The organisation and the `kind=name` segments after it of a Confluent CRN pattern, checked
    for shape: an organisation UUID first, each segment where the hierarchy puts it (environment,
    cloud-cluster, kafka with the cluster's ID, then topic, group or transactional-id), no kind twice,
    and a `*` only as the last character (a prefix pattern). Whether the organisation is the caller's
    and the environment and cluster exist is the caller's to check. A 400 names `pointer` (a body
    field) or `parameter` (a query parameter)."""

    def bad(why: str) -> ApiError:
        where = pointer.strip("/") or parameter
        return ApiError(
            400,
            f"Invalid {where} '{value}': {why}",
            code="invalid_input",
            pointer=pointer or None,
            parameter=parameter or None,
        )

    if not isinstance(value, str):
        raise ApiError(
            400,
            f"'{(pointer.strip('/') or parameter)}' must be a string",
            code="invalid_input",
            pointer=pointer or None,
            parameter=parameter or None,
        )
    match = _CRN.match(value)
    if match is None:
        raise bad("a CRN starts crn://confluent.cloud/organization=<organization ID>")
    org = match["org"]
    if not _UUID.match(org):
        raise bad("the organization is a UUID")
    segments: list[CrnSegment] = []
    rest = match["rest"] or ""
    parts = rest.split("/")[1:] if rest else []
    for index, part in enumerate(parts):
        found = _CRN_SEGMENT.match(part)
        if found is None:
            raise bad(f"'{part}' is not a kind=name segment")
        kind, name = found["kind"], found["name"]
        if kind == "organization" or any(kind == seen for seen, _ in segments):
            raise bad(f"'{kind}' appears twice")
        parent = segments[-1][0] if segments else "organization"
        wanted = _CRN_PARENTS.get(kind)
        if wanted is not None and parent != wanted:
            raise bad(f"'{kind}=' must follow '{wanted}='")
        if kind == "kafka" and name != segments[-1][1]:
            raise bad("'kafka=' names the cloud-cluster it follows")
        if "*" in name[:-1] or (name.endswith("*") and index != len(parts) - 1):
            raise bad("'*' may only end the last segment")
        segments.append((kind, name))
    return org, segments


def env_ref(base: str, org_id: str, env_id: str) -> dict[str, str]:
    return {
        "id": env_id,
        "related": f"{base}/org/v2/environments/{env_id}",
        "resource_name": env_crn(org_id, env_id),
    }


def _encode_token(offset: int, size: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, size]).encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset, size = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(400, "The page token is invalid", code="invalid_page_token", parameter="page_token") from None
    if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size < 1:
        raise ApiError(400, "The page token is invalid", code="invalid_page_token", parameter="page_token")
    return offset, size


def page(
    request: Request,
    base: str,
    *,
    api_version: str,
    kind: str,
    items: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    filters: Sequence[str] = (),
    default_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """One page of a standard list, with absolute `first`/`prev`/`next` links that keep the filters;
    `default_size` is the spec's default `page_size` for this list."""
    token = request.query_params.get("page_token")
    if token:
        offset, size = _decode_token(token)
    else:
        offset = 0
        raw_size = request.query_params.get("page_size")
        try:
            size = int(raw_size) if raw_size else default_size
        except ValueError:
            raise ApiError(
                400, "page_size must be an integer", code="invalid_page_size", parameter="page_size"
            ) from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ApiError(
                400,
                f"page_size must be between 1 and {MAX_PAGE_SIZE}",
                code="invalid_page_size",
                parameter="page_size",
            )
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in filters]

    def link(at: int) -> str:
        query = [*kept, ("page_token", _encode_token(at, size))] if at else [*kept, ("page_size", str(size))]
        return f"{base}{request.url.path}?{urlencode(query)}"

    metadata: dict[str, Any] = {"first": link(0), "total_size": len(items)}
    if offset > 0:
        metadata["prev"] = link(max(0, offset - size))
    if offset + size < len(items):
        metadata["next"] = link(offset + size)
    return {
        "api_version": api_version,
        "kind": kind,
        "metadata": metadata,
        "data": [render(item) for item in items[offset : offset + size]],
    }
