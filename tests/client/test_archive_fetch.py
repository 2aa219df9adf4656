"""Fetching archives over HTTP, and uploading what was fetched to each cloud's presigned URL.

The artifact server is a small Starlette app in this file, reached through `httpx.ASGITransport`;
the large archive comes through a transport that streams a file from disk, because ASGITransport
holds a whole response body in memory and would measure itself rather than the fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ccloud_emulator import Emulator
from ccloud_operator import archives
from ccloud_operator.archives import ArchiveFormat, DigestMismatch, NotAnArchive, Refused, TooLarge, Unreachable
from ccloud_operator.confluent import Cloud, ConfluentClient, ConnectorClass, VersionPhase

if TYPE_CHECKING:
    from tests.client.conftest import Clock

ORIGIN = "https://artifacts.test"
TOKEN = "presigned-t0ken-1f2e3d4c"
AUTH = "Bearer artifact-reader-5b6a7988c0"
CLASS = "io.example.connect.OrdersSource"


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


ORDERS_ZIP = zip_of({"lib/orders-connector.jar": b"classes", "manifest.json": b'{"name": "orders"}'})
ORDERS_JAR = zip_of({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "io/example/Orders.class": b"\xca\xfe"})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactServer:
    """Serves archives, errors, redirects and misbehaving bodies; records the headers each host saw."""

    def __init__(self) -> None:
        self.files = {"orders.zip": ORDERS_ZIP, "orders.jar": ORDERS_JAR, "login.html": b"<html>log in</html>"}
        self.seen: list[tuple[str, str, str | None]] = []  # (host, path, Authorization)
        routes = [
            Route("/files/{name}", self.file),
            Route("/redirect/{name}", self.redirect),
            Route("/elsewhere/{name}", self.elsewhere),
            Route("/loop", self.loop),
            Route("/status/{code:int}", self.status),
            Route("/status/{code:int}/after/{seconds}", self.status),
            Route("/slow", self.slow),
        ]
        self.starlette = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization")
            self.seen.append((headers[b"host"].decode(), scope["path"], auth.decode() if auth else None))
            if scope["path"] == "/truncated":
                return await self.truncated(send)
            if scope["path"] == "/declares-too-much":
                return await self.declares(send)
        await self.starlette(scope, receive, send)

    async def file(self, request: Request) -> Response:
        data = self.files.get(request.path_params["name"])
        return Response(data, media_type="application/zip") if data is not None else Response(status_code=404)

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse(f"/files/{request.path_params['name']}?{request.url.query}", status_code=302)

    async def elsewhere(self, request: Request) -> Response:
        return RedirectResponse(f"https://mirror.test/files/{request.path_params['name']}", status_code=307)

    async def loop(self, request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def status(self, request: Request) -> Response:
        seconds = request.path_params.get("seconds")
        headers = {"Retry-After": seconds} if seconds else {}
        # a body that quotes the request, as some servers do: it must not reach a message
        return Response(f"no: {request.url}", status_code=request.path_params["code"], headers=headers)

    async def slow(self, request: Request) -> Response:
        async def trickle() -> AsyncIterator[bytes]:
            yield ORDERS_ZIP[:10]
            await asyncio.sleep(3600)
            yield ORDERS_ZIP[10:]

        return StreamingResponse(trickle())

    async def truncated(self, send: Send) -> None:
        headers = [(b"content-length", str(len(ORDERS_ZIP)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ORDERS_ZIP[:100], "more_body": False})

    async def declares(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5000000")]})
        await send({"type": "http.response.body", "body": b"PK", "more_body": False})


@pytest.fixture
def server(remember: Callable[[str], str]) -> ArtifactServer:
    remember(TOKEN)
    remember(AUTH)
    return ArtifactServer()


@pytest.fixture
def transport(server: ArtifactServer) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=server)


def url(path: str) -> str:
    return f"{ORIGIN}{path}?token={TOKEN}"


async def test_an_archive_is_fetched_verified_and_read_back(transport: httpx.ASGITransport) -> None:
    with await archives.fetch(url("/files/orders.zip"), sha256=sha(ORDERS_ZIP), transport=transport) as archive:
        assert (archive.size, archive.sha256, archive.content_format) == (len(ORDERS_ZIP), sha(ORDERS_ZIP), "ZIP")
        assert archive.filename == "orders.zip"
        assert archive.stream().read() == ORDERS_ZIP
    assert archive.closed


async def test_a_jar_is_told_from_its_manifest(transport: httpx.ASGITransport) -> None:
    with await archives.fetch(url("/files/orders.jar"), sha256=sha(ORDERS_JAR), transport=transport) as archive:
        assert archive.content_format is ArchiveFormat.JAR
        assert archive.filename == "orders.jar"


async def test_the_authorization_value_arrives_and_follows_a_redirect_on_the_same_host(
    server: ArtifactServer, transport: httpx.ASGITransport
) -> None:
    with await archives.fetch(
        url("/redirect/orders.zip"), sha256=sha(ORDERS_ZIP), authorization=SecretStr(AUTH), transport=transport
    ) as archive:
        assert archive.sha256 == sha(ORDERS_ZIP)
    assert server.seen == [
        ("artifacts.test", "/redirect/orders.zip", AUTH),
        ("artifacts.test", "/files/orders.zip", AUTH),
    ]


async def test_a_redirect_to_another_host_does_not_carry_the_authorization(
    server: ArtifactServer, transport: httpx.ASGITransport
) -> None:
    with await archives.fetch(
        url("/elsewhere/orders.zip"), sha256=sha(ORDERS_ZIP), authorization=SecretStr(AUTH), transport=transport
    ) as archive:
        assert archive.size == len(ORDERS_ZIP)
    assert server.seen == [
        ("artifacts.test", "/elsewhere/orders.zip", AUTH),
        ("mirror.test", "/files/orders.zip", None),
    ]


@pytest.mark.parametrize(
    ("path", "error", "status", "retry_after"),
    [
        ("/files/missing.zip", Refused, 404, None),
        ("/status/403", Refused, 403, None),
        ("/status/401", Refused, 401, None),
        ("/status/500", Unreachable, 500, None),
        ("/status/503/after/30", Unreachable, 503, 30.0),
        ("/status/429/after/7", Unreachable, 429, 7.0),
        ("/status/429", Unreachable, 429, None),
        ("/status/429/after/soon", Unreachable, 429, None),
        ("/loop", Refused, None, None),
        ("/truncated", Unreachable, None, None),
    ],
    ids=[
        "404 will not appear by waiting",
        "403 is a refusal",
        "401 wants another credential",
        "500 may pass",
        "503 says when to come back",
        "429 says when to come back",
        "429 without Retry-After leaves the wait to the caller",
        "an unreadable Retry-After is no wait",
        "a redirect loop is the same every time",
        "a body shorter than its Content-Length is a cut connection",
    ],
)
async def test_how_a_failed_fetch_is_classified(
    transport: httpx.ASGITransport,
    path: str,
    error: type[Refused | Unreachable],
    status: int | None,
    retry_after: float | None,
) -> None:
    with pytest.raises(archives.ArchiveError) as failed:
        await archives.fetch(url(path), sha256=sha(ORDERS_ZIP), authorization=SecretStr(AUTH), transport=transport)
    assert type(failed.value) is error
    assert isinstance(failed.value, Refused | Unreachable)
    assert failed.value.status == status
    assert getattr(failed.value, "retry_after", None) == retry_after
    message = str(failed.value)
    assert message.startswith(f"{ORIGIN}{path}: ")
    assert TOKEN not in message
    assert AUTH not in message


async def test_a_retry_after_date_becomes_seconds() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        date = b"Wed, 01 Jan 2020 00:00:00 GMT"  # in the past: no wait, never a negative one
        await send({"type": "http.response.start", "status": 503, "headers": [(b"retry-after", date)]})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(Unreachable) as unreachable:
        await archives.fetch(url("/x.zip"), sha256=sha(ORDERS_ZIP), transport=httpx.ASGITransport(app=app))
    assert unreachable.value.retry_after == 0.0


async def test_a_wrong_sha256_is_a_mismatch_that_names_both_digests(transport: httpx.ASGITransport) -> None:
    wrong = "ab" * 32
    with pytest.raises(DigestMismatch) as mismatch:
        await archives.fetch(url("/files/orders.zip"), sha256=wrong.upper(), transport=transport)
    assert (mismatch.value.expected, mismatch.value.actual) == (wrong, sha(ORDERS_ZIP))
    assert TOKEN not in str(mismatch.value)


async def test_a_page_that_is_no_archive_is_refused(transport: httpx.ASGITransport) -> None:
    page = b"<html>log in</html>"
    with pytest.raises(NotAnArchive):
        await archives.fetch(url("/files/login.html"), sha256=sha(page), transport=transport)


async def test_a_declared_length_past_the_limit_is_refused_before_reading(transport: httpx.ASGITransport) -> None:
    with pytest.raises(TooLarge) as too_large:
        await archives.fetch(url("/declares-too-much"), sha256=sha(b""), limit=1_000_000, transport=transport)
    assert (too_large.value.limit, too_large.value.seen) == (1_000_000, 5_000_000)


async def test_a_trickling_server_meets_the_deadline(transport: httpx.ASGITransport, clock: Clock) -> None:
    with pytest.raises(Unreachable, match="took longer than 900s"):
        await archives.fetch(url("/slow"), sha256=sha(ORDERS_ZIP), transport=transport)
    assert clock() == pytest.approx(900.0)


@pytest.mark.parametrize(
    "link",
    ["ftp://artifacts.test/orders.zip", "file:///etc/passwd", "artifacts.test/orders.zip"],
    ids=["ftp is not fetched", "nor a local file", "nor a URL without a scheme"],
)
async def test_only_http_and_https_are_fetched(server: ArtifactServer, link: str) -> None:
    with pytest.raises(Refused, match="only http and https"):
        await archives.fetch(link, sha256=sha(ORDERS_ZIP), transport=httpx.ASGITransport(app=server))
    assert server.seen == []


async def test_a_refused_connection_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nobody listens on the port now: a real connection error, no transport in between
    with pytest.raises(Unreachable, match="ConnectError") as unreachable:
        await archives.fetch(f"http://127.0.0.1:{port}/orders.zip?token={TOKEN}", sha256=sha(ORDERS_ZIP))
    assert unreachable.value.status is None
    assert TOKEN not in str(unreachable.value)


# ---- a large archive: streamed through, memory flat, nothing left behind


class StreamTransport(httpx.AsyncBaseTransport):
    """Answers 200 with the chunks `body()` yields, pulled one by one as a socket would deliver them."""

    def __init__(self, body: Callable[[], AsyncIterator[bytes]], length: int | None = None) -> None:
        self.body = body
        self.length = length

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": str(self.length)} if self.length is not None else {}
        return httpx.Response(200, headers=headers, stream=_Stream(self.body()))


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk


def file_transport(path: Path) -> StreamTransport:
    """Serves one file from disk in 1 MiB chunks, with its Content-Length."""

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                yield chunk

    return StreamTransport(chunks, path.stat().st_size)


async def test_a_body_without_a_length_stops_at_the_first_chunk_past_the_limit() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100_000):
            sent += 1
            yield b"x" * 1024

    with pytest.raises(TooLarge) as too_large:
        await archives.fetch(url("/endless"), sha256=sha(b""), limit=10_000, transport=StreamTransport(endless))
    assert (too_large.value.limit, too_large.value.seen) == (10_000, 10 * 1024)
    assert sent == 10  # the eleventh kilobyte was never asked for


def big_jar(path: Path, mib: int) -> str:
    """A JAR of `mib` MiB of incompressible entries, written in pieces; its sha256."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")
        for n in range(mib):
            zf.writestr(f"lib/blob-{n}.bin", os.urandom(1024 * 1024))
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def spool_files(spool_dir: Path) -> list[str]:
    """Open descriptors of this process on files in `spool_dir` (unnamed temp files show as deleted)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool_dir)):
            found.append(target)
    return found


async def test_a_40_mib_archive_streams_through_in_little_memory_and_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "big.jar"
    digest = big_jar(source, 40)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    transport = file_transport(source)

    tracemalloc.start()
    try:
        archive = await archives.fetch(url("/big.jar"), sha256=digest, transport=transport, spool_dir=str(spool_dir))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with archive:
        assert (archive.size, archive.content_format) == (source.stat().st_size, ArchiveFormat.JAR)
        assert archive.size > 40 * 1024 * 1024
        # the memory spool, its copy when it rolls over to disk, and a chunk or two in flight
        assert peak < 3 * archives.SPOOL_SIZE, (
            f"peak {peak / 2**20:.1f} MiB for a {archive.size / 2**20:.0f} MiB archive"
        )
        assert os.listdir(spool_dir) == []  # unnamed: nothing to find even while it is open
        assert len(spool_files(spool_dir)) == 1  # but open, on disk, past the memory spool
    assert spool_files(spool_dir) == []


async def test_a_failed_fetch_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "big.jar"
    big_jar(source, 8)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    with pytest.raises(DigestMismatch):
        await archives.fetch(
            url("/big.jar"), sha256="0" * 64, transport=file_transport(source), spool_dir=str(spool_dir)
        )
    assert spool_files(spool_dir) == []


# ---- what was fetched, uploaded to each cloud


@pytest.mark.parametrize("cloud", list(Cloud), ids=["AWS multipart POST", "GCP raw PUT", "Azure PUT as BlockBlob"])
async def test_a_fetched_archive_streams_to_each_clouds_store_and_makes_a_ready_version(
    client: ConfluentClient, emulator: Emulator, transport: httpx.ASGITransport, cloud: Cloud
) -> None:
    env = emulator.environment_id
    plugin = await client.plugins.create(f"fetched-{cloud.lower()}", cloud, env)
    with await archives.fetch(url("/files/orders.jar"), sha256=sha(ORDERS_JAR), transport=transport) as archive:
        presigned = await client.plugins.presigned_upload_url(archive.content_format, cloud, env)
        await client.uploads.upload(presigned, archive.stream(), filename=archive.filename)
    stored = emulator.core.state.uploads[presigned.upload_id]
    assert (stored.size, stored.sha256, stored.valid_archive) == (len(ORDERS_JAR), sha(ORDERS_JAR), True)
    version = await client.plugin_versions.create(
        plugin.id, env, "1.0.0", [ConnectorClass(class_name=CLASS, type="SOURCE")], presigned.upload_id
    )
    assert (await client.plugin_versions.get(plugin.id, version.id, env)).phase == VersionPhase.READY


@pytest.mark.parametrize("cloud", [Cloud.GCP, Cloud.AZURE], ids=["GCP PUT", "Azure PUT"])
async def test_a_retried_put_sends_the_whole_stream_again(
    client: ConfluentClient, emulator: Emulator, cloud: Cloud
) -> None:
    presigned = await client.plugins.presigned_upload_url("ZIP", cloud, emulator.environment_id)
    emulator.fail("PUT", "/_uploads/*", status=503, count=1)
    with archives.from_bytes(ORDERS_ZIP, sha256=sha(ORDERS_ZIP)) as archive:
        await client.uploads.upload(presigned, archive.stream())
    stored = emulator.core.state.uploads[presigned.upload_id]
    assert (stored.size, stored.sha256) == (len(ORDERS_ZIP), sha(ORDERS_ZIP))
    assert [r.status for r in emulator.calls("PUT", "/_uploads/*")] == [503, 200 if cloud is Cloud.GCP else 201]


async def test_a_file_is_uploaded_from_where_it_stands(client: ConfluentClient, emulator: Emulator) -> None:
    presigned = await client.plugins.presigned_upload_url("ZIP", Cloud.AWS, emulator.environment_id)
    file = io.BytesIO(b"a header to skip" + ORDERS_ZIP)
    file.seek(len(b"a header to skip"))
    await client.uploads.upload(presigned, file)
    stored = emulator.core.state.uploads[presigned.upload_id]
    assert (stored.size, stored.sha256) == (len(ORDERS_ZIP), sha(ORDERS_ZIP))
