"""Uploading a plugin archive to the presigned URL Confluent hands out, the way each cloud wants it.

- AWS: `POST` multipart/form-data, every `upload_form_data` entry as a field, then the archive as
  the part `file`;
- GCP: `PUT` of the raw bytes;
- Azure: `PUT` of the raw bytes with `x-ms-blob-type: BlockBlob`.

The URL belongs to a cloud's object store, not to Confluent: no Confluent credential goes there,
and its query string and form fields (signatures, tokens) are never logged.
"""

from __future__ import annotations

from enum import StrEnum

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


class Uploads:
    """Sends archive bytes to a `PresignedUrl`."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def upload(
        self,
        presigned: PresignedUrl,
        content: bytes,
        *,
        filename: str | None = None,
        cloud: Cloud | str | None = None,
    ) -> None:
        """Upload `content` as the cloud of the presigned URL expects (AWS when nobody says)."""
        target = Cloud((cloud or presigned.cloud or Cloud.AWS).upper())
        kind = content_type(presigned.content_format)
        name = filename or f"plugin.{presigned.content_format.lower()}"
        secrets = [*presigned.upload_form_data.values(), *httpx.URL(presigned.upload_url).params.values()]
        if target is Cloud.AWS:
            await self._api.foreign(
                "POST",
                presigned.upload_url,
                data=presigned.upload_form_data,
                files={"file": (name, content, kind)},
                secrets=secrets,
            )
            return
        headers = {"Content-Type": kind}
        if target is Cloud.AZURE:
            headers["x-ms-blob-type"] = "BlockBlob"
        await self._api.foreign("PUT", presigned.upload_url, content=content, headers=headers, secrets=secrets)
