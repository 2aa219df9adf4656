"""Connector plugin archives: fetched from an http(s) URL or built from bytes, verified, then read for upload.

What it knows: HTTP (httpx), sha256, zip files. What it must not know: Kubernetes (a ConfigMap's
binaryData arrives as bytes, a Secret's value as a `SecretStr`), Confluent (the upload is the
client's), kopf. The result is an `Archive`: a spooled temporary file (memory up to a few MiB, then
an unnamed temp file) whose sha256 matched before anyone could read it, known to be a ZIP or a JAR,
and gone when the archive is closed.

Every failure is one of these; only `Unreachable` is worth retrying:

    ArchiveError
     ├── DigestMismatch(expected, actual)   the bytes are not the ones the spec names
     ├── TooLarge(limit, seen)              larger than Confluent takes; reading stopped there
     ├── NotAnArchive                       neither a ZIP nor a JAR
     ├── Unreachable(status, retry_after)   connection errors, timeouts, a cut body, 5xx, 429
     └── Refused(status)                    any other 4xx, a redirect loop, a URL that is not http(s)

Messages name the URL without its query string or user info (a presigned or tokenised URL must not
leak) and never the Authorization value.
"""

from ccloud_operator.archives.archive import (
    MAX_ARCHIVE_SIZE,
    SPOOL_SIZE,
    Archive,
    ArchiveError,
    ArchiveFormat,
    DigestMismatch,
    NotAnArchive,
    Refused,
    TooLarge,
    Unreachable,
    from_bytes,
)
from ccloud_operator.archives.fetch import fetch, where

__all__ = [
    "MAX_ARCHIVE_SIZE",
    "SPOOL_SIZE",
    "Archive",
    "ArchiveError",
    "ArchiveFormat",
    "DigestMismatch",
    "NotAnArchive",
    "Refused",
    "TooLarge",
    "Unreachable",
    "fetch",
    "from_bytes",
    "where",
]
