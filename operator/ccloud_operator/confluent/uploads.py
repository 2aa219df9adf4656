"""Uploading a plugin archive to the presigned URL Confluent hands out, the way each cloud wants it.

- AWS: `POST` multipart/form-data, every `upload_form_data` entry as a field, then the archive as
  the part `file`;
- GCP: `PUT` of the raw bytes;
- Azure: `PUT` of the raw bytes with `x-ms-blob-type: BlockBlob`.

The archive is bytes or a binary file (read from where it stands to its end): a file is streamed in
chunks with its Content-Length, never read whole, and read again from the same place on a retry.

The URL belongs to a cloud's object store, not to Confluent: no Confluent credential goes there,
and its query string and form fields (signatures, tokens) are never logged.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import IO

import httpx
from pydantic import Field

from ccloud_operator.confluent.models import ApiModel, EnvironmentReference
from ccloud_operator.confluent.transport import ApiTransport

__all__ = ["Cloud", "ContentFormat", "PresignedUrl", "Uploads", "content_type"]


class Cloud(StrEnum):
    AWS = "AWS"
    GCP = "GCP"
    AZURE = "AZURE"


class ContentFormat(StrEnum):
    ZIP = "ZIP"
    JAR = "JAR"


class PresignedUrl(ApiModel):
    """Where to upload one archive; `upload_id` then goes into the plugin or version create."""

    api_version: str | None = None
    kind: str | None = None
    content_format: str = ContentFormat.ZIP
    cloud: str | None = None
    upload_id: str
    # The URL and the form carry signatures: out of every repr.
    upload_url: str = Field(repr=False)
    upload_form_data: dict[str, str] = Field(default_factory=dict, repr=False)
    environment: EnvironmentReference | None = None


def content_type(content_format: str) -> str:
    return "application/java-archive" if content_format.upper() == ContentFormat.JAR else "application/zip"


class _Body:
    """A binary file from where it stood to its end, as httpx streams it: `read`/`seek`/`tell` for a
    multipart part, `__aiter__` for a raw PUT. No `fileno` (httpx would take the size from `fstat`,
    which misses what a spooled file has not flushed) and no `__iter__` (httpx would send it sync)."""

    CHUNK = 64 * 1024

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._start = file.tell()
        self.length = file.seek(0, os.SEEK_END) - self._start
        file.seek(self._start)

    def tell(self) -> int:
        return self._file.tell() - self._start

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: self._start, os.SEEK_CUR: self._file.tell(), os.SEEK_END: self._start + self.length}
        return self._file.seek(max(self._start, base[whence] + offset)) - self._start

    def read(self, size: int = -1) -> bytes:
        left = max(0, self.length - self.tell())
        return self._file.read(left if size < 0 else min(size, left))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # From the start every time: a retried PUT sends the whole archive again.
        self.seek(0)
        while chunk := self.read(self.CHUNK):
            yield chunk


class Uploads:
    """Sends an archive (bytes or a binary file) to a `PresignedUrl`."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def upload(
        self,
        presigned: PresignedUrl,
        content: bytes | IO[bytes],
        *,
        filename: str | None = None,
        cloud: Cloud | str | None = None,
    ) -> None:
        """Upload `content` as the cloud of the presigned URL expects (AWS when nobody says).

        A file is read from its current position to its end, in chunks; the caller closes it.
        """
        target = Cloud((cloud or presigned.cloud or Cloud.AWS).upper())
        kind = content_type(presigned.content_format)
        name = filename or f"plugin.{presigned.content_format.lower()}"
        secrets = [*presigned.upload_form_data.values(), *httpx.URL(presigned.upload_url).params.values()]
        body = content if isinstance(content, bytes) else _Body(content)
        if target is Cloud.AWS:
            await self._api.foreign(
                "POST",
                presigned.upload_url,
                data=presigned.upload_form_data,
                files={"file": (name, body, kind)},
                secrets=secrets,
            )
            return
        headers = {"Content-Type": kind}
        if target is Cloud.AZURE:
            headers["x-ms-blob-type"] = "BlockBlob"
        if isinstance(body, _Body):
            # GCP wants Content-Length set; given one, httpx sends the stream unchunked.
            headers["Content-Length"] = str(body.length)
        await self._api.foreign("PUT", presigned.upload_url, content=body, headers=headers, secrets=secrets)
