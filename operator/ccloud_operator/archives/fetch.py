"""Fetching an archive from an http(s) URL: streamed into a `Spool`, never wholly in memory.

Redirects are followed (httpx drops the Authorization header when one leaves the origin). The whole
download has a deadline besides httpx's per-operation timeouts, so a server that trickles cannot
hold a reconcile forever; a body shorter than its Content-Length counts as a cut connection.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from ccloud_operator.archives.archive import (
    MAX_ARCHIVE_SIZE,
    Archive,
    Refused,
    Spool,
    TooLarge,
    Unreachable,
    expected_digest,
)
from ccloud_operator.redact import no_queries_in_httpx_logs, scrub

__all__ = ["fetch", "where"]

log = logging.getLogger("ccloud_operator.archives")


no_queries_in_httpx_logs()


def where(url: str) -> str:
    """`url` fit for a message: scheme, host, port and path; never user info, query or fragment."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


async def fetch(
    url: str,
    *,
    sha256: str,
    authorization: SecretStr | None = None,
    limit: int = MAX_ARCHIVE_SIZE,
    transport: httpx.AsyncBaseTransport | None = None,
    io_timeout: float = 30.0,
    deadline: float = 900.0,
    spool_dir: str | None = None,
) -> Archive:
    """GET `url` into a verified `Archive` (the caller closes it); an `ArchiveError` otherwise.

    `authorization` is sent as the Authorization header; `io_timeout` bounds each connect and read,
    `deadline` the whole download; `spool_dir` is where the temp file goes once past `SPOOL_SIZE`.
    """
    source = where(url)
    expected = expected_digest(sha256)
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL:
        raise Refused(source, "not a valid URL") from None
    if scheme not in ("http", "https"):
        raise Refused(source, "only http and https URLs are fetched")
    headers = {"User-Agent": "ccloud-operator", "Accept": "*/*"}
    secrets = [*httpx.URL(url).params.values()]
    if authorization is not None:
        headers["Authorization"] = authorization.get_secret_value()
        secrets.append(authorization.get_secret_value())
    spool = Spool(source, limit, spool_dir)
    try:
        await _download(url, headers, spool, transport, io_timeout, deadline, secrets)
        archive = spool.seal(expected, httpx.URL(url).path)
    except BaseException:
        spool.close()
        raise
    log.info("fetched %s: %d bytes, %s, sha256 %s", source, archive.size, archive.content_format, archive.sha256)
    return archive


async def _download(
    url: str,
    headers: dict[str, str],
    spool: Spool,
    transport: httpx.AsyncBaseTransport | None,
    io_timeout: float,
    deadline: float,
    secrets: list[str],
) -> None:
    source = spool.source
    try:
        async with (
            asyncio.timeout(deadline),
            httpx.AsyncClient(transport=transport, timeout=io_timeout, follow_redirects=True) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            _check_status(response, source)
            declared = _declared_length(response)
            if declared is not None and declared > spool.limit:
                raise TooLarge(source, spool.limit, declared)
            async for chunk in response.aiter_bytes():
                spool.write(chunk)
            if declared is not None and response.num_bytes_downloaded < declared:
                raise Unreachable(
                    source, f"the body ended after {response.num_bytes_downloaded} of its {declared} bytes"
                )
    except TimeoutError:
        raise Unreachable(source, f"the download took longer than {deadline:g}s") from None
    except (httpx.TooManyRedirects, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # A redirect loop or a redirect to ftp:// answers the same way every time.
        raise Refused(source, f"{type(exc).__name__}: {scrub(str(exc), secrets)}") from None
    except httpx.TimeoutException as exc:
        raise Unreachable(source, f"{type(exc).__name__}: timed out after {io_timeout:g}s") from None
    except httpx.RequestError as exc:
        raise Unreachable(source, f"{type(exc).__name__}: {scrub(str(exc) or 'no detail', secrets)}") from None


def _check_status(response: httpx.Response, source: str) -> None:
    status = response.status_code
    if response.is_success:
        return
    # The standard phrase, not the server's, and never the body: neither is ours to repeat.
    answer = f"GET answered {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if status == httpx.codes.TOO_MANY_REQUESTS or status >= 500:
        raise Unreachable(source, answer, status=status, retry_after=_retry_after(response.headers.get("retry-after")))
    raise Refused(source, answer, status=status)


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
