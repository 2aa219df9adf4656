"""Presigned uploads: the URLs the plugin APIs hand out, and the object-store endpoints behind them.

Each cloud is served the way its client code talks to it (CONTRACT.md §5): AWS S3 takes a multipart
POST with the presigned form fields and the archive as the `file` part; GCS takes a raw PUT; Azure
Blob takes a raw PUT that must carry `x-ms-blob-type: BlockBlob`. The URLs point at the emulator
itself, are signed per upload and expire after an hour. An upload is checked the way Confluent checks
it later: the bytes must open as a zip (a jar is a zip). Errors use the stores' XML, not Confluent's.
A store takes at most `core.archive_limit` bytes (1 GiB, what the Confluent CLI allows) and only
the content type of the format the URL was issued for; whatever it refuses is not stored, and the
bytes are streamed to a spooled file, never held whole in memory.
`new_upload`, `upload_source` and `consume` are the plugin APIs' side: issuing an upload, resolving
the `upload_source` a plugin or version names (those errors are Confluent's), and marking it used.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import re
import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.state import Cloud, ContentFormat, Upload, UploadApi

__all__ = ["UPLOAD_TTL", "UploadEndpoints", "consume", "is_archive", "new_upload", "presign", "upload_source"]

UPLOAD_TTL = 3600.0
BUCKET = "confluent-custom-connectors-emulator"
STORAGE_ACCOUNT = "confluentcustomconnectors"
CONTAINER = "custom-connectors"
_SIGNING_KEY = b"ccloud-emulator-presigned-url"
_SPOOL = 8 * 1024 * 1024
# the media types uploaders send for each format (the CLI: application/zip or application/java-archive)
_MEDIA_TYPES = {
    "application/zip": ContentFormat.ZIP,
    "application/x-zip-compressed": ContentFormat.ZIP,
    "application/java-archive": ContentFormat.JAR,
    "application/x-java-archive": ContentFormat.JAR,
}
_OBJECT = re.compile(r"^staging/(?:connect|ccpm)/(?P<id>[0-9a-f-]{36})\.(?:zip|jar)$")


def signature(upload_id: str) -> str:
    return hmac.new(_SIGNING_KEY, upload_id.encode(), hashlib.sha256).hexdigest()


def is_archive(data: bytes | IO[bytes]) -> bool:
    """True when the bytes open as a zip whose entries all read back (jars are zips)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False


def _object_name(upload: Upload) -> str:
    return f"staging/{upload.api.value}/{upload.id}.{upload.content_format.lower()}"


def presign(base: str, upload: Upload, limit: int) -> tuple[str, dict[str, str]]:
    """The `upload_url` and `upload_form_data` for an upload, shaped like the real cloud's."""
    obj = _object_name(upload)
    sig = signature(upload.id)
    expires = timestamp(upload.created_at + UPLOAD_TTL)
    if upload.cloud is Cloud.AWS:
        conditions: list[object] = [{"bucket": BUCKET}, {"key": obj}, ["content-length-range", 0, limit]]
        policy = {"expiration": expires, "conditions": conditions}
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
    if upload.received_at is None:
        raise ApiError(
            400,
            f"Upload '{upload_id}' has no archive: nothing was uploaded to its URL",
            code="invalid_input",
            pointer=f"{pointer}/upload_id",
        )
    if upload.used_by:
        # Confluent moves the object out of staging when it makes the plugin or version
        raise ApiError(
            400,
            f"Upload '{upload_id}' was already used by {upload.used_by}",
            code="invalid_input",
            pointer=f"{pointer}/upload_id",
        )
    return upload


def consume(upload: Upload, by: str) -> None:
    """Mark an upload as the source of `by`, so no other create takes it (callers hold the lock)."""
    upload.used_by = by


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

    def _check_type(self, upload: Upload, content_type: str | None, refusal: ApiError) -> None:
        """Refuse the other format's media type (a generic or missing one is accepted, as S3 does)."""
        declared = _MEDIA_TYPES.get((content_type or "").split(";")[0].strip().lower())
        if declared is not None and declared is not upload.content_format:
            raise refusal

    def _inspect(self, upload: Upload, file: IO[bytes]) -> str:
        """Record what arrived (when, its size and digest, whether it opens as an archive); its MD5."""
        digest = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        file.seek(0)
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
            md5.update(chunk)
            size += len(chunk)
        file.seek(0)
        valid = size > 0 and is_archive(file)
        with self.core.lock:
            upload.received_at = self.core.now()
            upload.size = size
            upload.sha256 = digest.hexdigest()
            upload.valid_archive = valid
            self.core.commit()
        return md5.hexdigest()

    @contextlib.asynccontextmanager
    async def _spool(self, request: Request, too_large: ApiError) -> AsyncIterator[IO[bytes]]:
        """The raw body in a spooled file, refused once it passes the archive limit."""
        limit = self.core.archive_limit
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as file:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                file.write(chunk)
            yield file

    async def aws(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(
                412, "Bucket POST must be of the enclosure-type multipart/form-data", code="PreconditionFailed"
            )
        limit = self.core.archive_limit
        too_large = ApiError(400, "Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge")
        declared = request.headers.get("content-length", "")
        # the form fields are small: a body much larger than the limit cannot hold a file within it
        if declared.isdigit() and int(declared) > limit + _SPOOL:
            raise too_large
        async with request.form(max_part_size=1024 * 1024) as form:
            fields: dict[str, Any] = dict(form)
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "POST requires exactly one file upload per request.", code="InvalidArgument")
            if fields.get("bucket", request.path_params["bucket"]) != request.path_params["bucket"]:
                raise ApiError(400, "The bucket in the form does not match the URL.", code="InvalidArgument")
            with self.core.lock:
                upload = self._upload(str(fields.get("key", "")), Cloud.AWS, str(fields.get("x-amz-signature", "")))
            if part.size is not None and part.size > limit:
                raise too_large
            self._check_type(
                upload,
                part.content_type,
                ApiError(
                    403,
                    "Invalid according to Policy: Policy Condition failed: the file's Content-Type is not the "
                    f"presigned content format ({upload.content_format.value})",
                    code="AccessDenied",
                ),
            )
            etag = self._inspect(upload, part.file)
        return Response(status_code=204, headers={"ETag": f'"{etag}"'})

    async def gcp(self, request: Request) -> Response:
        with self.core.lock:
            upload = self._upload(
                request.path_params["object"], Cloud.GCP, request.query_params.get("X-Goog-Signature")
            )
        # the Content-Type is one of the headers the URL is signed for
        self._check_type(
            upload,
            request.headers.get("content-type"),
            ApiError(
                403,
                "The request signature we calculated does not match the signature you provided: "
                f"the Content-Type is not the one signed for ({upload.content_format.value})",
                code="SignatureDoesNotMatch",
            ),
        )
        too_large = ApiError(
            400,
            "Your proposed upload is larger than the maximum object size specified in your Policy.",
            code="EntityTooLarge",
        )
        async with self._spool(request, too_large) as file:
            self._inspect(upload, file)
        return Response(status_code=200)

    async def azure(self, request: Request) -> Response:
        if request.headers.get("x-ms-blob-type") != "BlockBlob":
            raise ApiError(
                400,
                "An HTTP header that's mandatory for this request is not specified. (x-ms-blob-type)",
                code="MissingRequiredHeader",
            )
        with self.core.lock:
            upload = self._upload(request.path_params["object"], Cloud.AZURE, request.query_params.get("sig"))
        self._check_type(
            upload,
            request.headers.get("content-type"),
            ApiError(
                403,
                "This request is not authorized to perform this operation: the Content-Type is not the "
                f"signed content format ({upload.content_format.value})",
                code="AuthorizationFailure",
            ),
        )
        too_large = ApiError(
            413,
            "The request body is too large and exceeds the maximum permissible limit.",
            code="RequestBodyTooLarge",
        )
        async with self._spool(request, too_large) as file:
            self._inspect(upload, file)
        return Response(status_code=201)
