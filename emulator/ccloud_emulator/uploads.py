"""Presigned uploads: the URLs the plugin APIs hand out, and the object-store endpoints behind them.

Each cloud is served the way its client code talks to it (CONTRACT.md §5): AWS S3 takes a multipart
POST with the presigned form fields and the archive as the `file` part; GCS takes a raw PUT; Azure
Blob takes a raw PUT that must carry `x-ms-blob-type: BlockBlob`. The URLs point at the emulator
itself, are signed per upload and expire after an hour. An upload is checked the way Confluent checks
it later: the bytes must open as a zip (a jar is a zip). Errors use the stores' XML, not Confluent's.
`new_upload` and `upload_source` are the plugin APIs' side: issuing an upload, and resolving the
`upload_source` a plugin or version names (those errors are Confluent's).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.state import Cloud, ContentFormat, Upload, UploadApi

__all__ = ["UPLOAD_TTL", "UploadEndpoints", "is_archive", "new_upload", "presign", "upload_source"]

UPLOAD_TTL = 3600.0
BUCKET = "confluent-custom-connectors-emulator"
STORAGE_ACCOUNT = "confluentcustomconnectors"
CONTAINER = "custom-connectors"
_SIGNING_KEY = b"ccloud-emulator-presigned-url"
_OBJECT = re.compile(r"^staging/(?:connect|ccpm)/(?P<id>[0-9a-f-]{36})\.(?:zip|jar)$")


def signature(upload_id: str) -> str:
    return hmac.new(_SIGNING_KEY, upload_id.encode(), hashlib.sha256).hexdigest()


def is_archive(data: bytes) -> bool:
    """True when the bytes open as a zip whose entries all read back (jars are zips)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False


def _object_name(upload: Upload) -> str:
    return f"staging/{upload.api.value}/{upload.id}.{upload.content_format.lower()}"


def presign(base: str, upload: Upload) -> tuple[str, dict[str, str]]:
    """The `upload_url` and `upload_form_data` for an upload, shaped like the real cloud's."""
    obj = _object_name(upload)
    sig = signature(upload.id)
    expires = timestamp(upload.created_at + UPLOAD_TTL)
    if upload.cloud is Cloud.AWS:
        policy = {"expiration": expires, "conditions": [{"bucket": BUCKET}, {"key": obj}]}
        form = {
            "bucket": BUCKET,
            "key": obj,
            "policy": base64.b64encode(json.dumps(policy).encode()).decode(),
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "ASIAEMULATOR/20240101/us-west-2/s3/aws4_request",
            "x-amz-date": timestamp(upload.created_at).replace("-", "").replace(":", "")[:15] + "Z",
            "x-amz-security-token": "emulator",
            "x-amz-signature": sig,
        }
        return f"{base}/_uploads/aws/{BUCKET}/", form
    if upload.cloud is Cloud.GCP:
        url = (
            f"{base}/_uploads/gcp/{BUCKET}/{quote(obj)}"
            f"?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=3600&X-Goog-Signature={sig}"
        )
        return url, {"bucket": BUCKET, "object_path": obj}
    sas = f"sv=2021-08-06&sr=b&sp=cw&se={quote(expires)}&sig={sig}"
    url = f"{base}/_uploads/azure/{STORAGE_ACCOUNT}/{CONTAINER}/{quote(obj)}?{sas}"
    return url, {"storage_account": STORAGE_ACCOUNT, "container": CONTAINER, "blob_path": obj, "sas_token": sas}


def new_upload(core: Core, who: Caller, api: UploadApi, cloud: Cloud, fmt: ContentFormat, env: str | None) -> Upload:
    """Issue an upload for a presigned URL (callers hold the lock)."""
    upload = Upload(
        id=core.new_uuid(),
        org_id=who.org_id,
        api=api,
        cloud=cloud,
        content_format=fmt,
        env_id=env,
        created_at=core.now(),
    )
    core.state.uploads[upload.id] = upload
    core.commit()
    return upload


def upload_source(core: Core, who: Caller, body: dict[str, Any], pointer: str, api: UploadApi) -> Upload:
    """The upload a create request's `upload_source` names: issued by `api` to this organisation,
    and not expired unless it was received in time (callers hold the lock)."""
    source = body.get("upload_source")
    if not isinstance(source, dict):
        raise ApiError(400, "'upload_source' is required", code="invalid_input", pointer=pointer)
    if source.get("location") != "PRESIGNED_URL_LOCATION":
        raise ApiError(
            400,
            "upload_source.location must be PRESIGNED_URL_LOCATION",
            code="invalid_input",
            pointer=f"{pointer}/location",
        )
    upload_id = source.get("upload_id")
    upload = core.state.uploads.get(upload_id) if isinstance(upload_id, str) else None
    if upload is None or upload.org_id != who.org_id or upload.api is not api:
        raise ApiError(400, f"Upload '{upload_id}' was not found", code="invalid_input", pointer=f"{pointer}/upload_id")
    if core.now() > upload.created_at + UPLOAD_TTL and upload.received_at is None:
        raise ApiError(400, f"Upload '{upload_id}' has expired", code="invalid_input", pointer=f"{pointer}/upload_id")
    return upload


class UploadEndpoints:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/_uploads/aws/{bucket}/", self.aws, methods=["POST"]),
            Route("/_uploads/aws/{bucket}", self.aws, methods=["POST"]),
            Route("/_uploads/gcp/{bucket}/{object:path}", self.gcp, methods=["PUT"]),
            Route("/_uploads/azure/{account}/{container}/{object:path}", self.azure, methods=["PUT"]),
        ]

    def _upload(self, obj: str, cloud: Cloud, sig: str | None) -> Upload:
        match = _OBJECT.match(obj)
        upload = self.core.state.uploads.get(match["id"]) if match else None
        if upload is None or upload.cloud is not cloud or _object_name(upload) != obj:
            raise ApiError(404, "The specified upload does not exist.", code="NoSuchKey")
        if not sig or not hmac.compare_digest(sig, signature(upload.id)):
            raise ApiError(403, "The request signature we calculated does not match.", code="SignatureDoesNotMatch")
        if self.core.now() > upload.created_at + UPLOAD_TTL:
            raise ApiError(403, "Request has expired", code="AccessDenied")
        return upload

    def _store(self, upload: Upload, data: bytes) -> None:
        upload.received_at = self.core.now()
        upload.size = len(data)
        upload.sha256 = hashlib.sha256(data).hexdigest()
        upload.valid_archive = is_archive(data)
        self.core.commit()

    async def aws(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(
                412, "Bucket POST must be of the enclosure-type multipart/form-data", code="PreconditionFailed"
            )
        async with request.form(max_part_size=1024 * 1024) as form:
            fields: dict[str, Any] = dict(form)
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "POST requires exactly one file upload per request.", code="InvalidArgument")
            data = await part.read()
        if fields.get("bucket", request.path_params["bucket"]) != request.path_params["bucket"]:
            raise ApiError(400, "The bucket in the form does not match the URL.", code="InvalidArgument")
        with self.core.lock:
            upload = self._upload(str(fields.get("key", "")), Cloud.AWS, str(fields.get("x-amz-signature", "")))
            self._store(upload, data)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return Response(status_code=204, headers={"ETag": f'"{etag}"'})

    async def gcp(self, request: Request) -> Response:
        data = await request.body()
        with self.core.lock:
            upload = self._upload(
                request.path_params["object"], Cloud.GCP, request.query_params.get("X-Goog-Signature")
            )
            self._store(upload, data)
        return Response(status_code=200)

    async def azure(self, request: Request) -> Response:
        if request.headers.get("x-ms-blob-type") != "BlockBlob":
            raise ApiError(
                400,
                "An HTTP header that's mandatory for this request is not specified. (x-ms-blob-type)",
                code="MissingRequiredHeader",
            )
        data = await request.body()
        with self.core.lock:
            upload = self._upload(request.path_params["object"], Cloud.AZURE, request.query_params.get("sig"))
            self._store(upload, data)
        return Response(status_code=201)
