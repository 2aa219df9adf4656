"""The `Archive`, its errors, and how bytes become one: limit, digest, then format (see the package docstring)."""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from enum import StrEnum
from pathlib import PurePosixPath
from types import TracebackType
from typing import IO

__all__ = [
    "MAX_ARCHIVE_SIZE",
    "SPOOL_SIZE",
    "Archive",
    "ArchiveError",
    "ArchiveFormat",
    "DigestMismatch",
    "NotAnArchive",
    "Refused",
    "Spool",
    "TooLarge",
    "Unreachable",
    "expected_digest",
    "from_bytes",
]

# CONTRACT.md §5 (upload flow): the Confluent CLI refuses plugin archives over 1 GiB; the specs name no limit.
MAX_ARCHIVE_SIZE = 1 << 30
# Held in memory up to this, then rolled over to an unnamed temp file.
SPOOL_SIZE = 4 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_MANIFEST = "META-INF/MANIFEST.MF"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArchiveFormat(StrEnum):
    ZIP = "ZIP"
    JAR = "JAR"


class ArchiveError(Exception):
    """Base of every archive failure; `source` is where the bytes came from (a URL without its query)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class DigestMismatch(ArchiveError):
    def __init__(self, source: str, expected: str, actual: str) -> None:
        super().__init__(source, f"sha256 is {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual


class TooLarge(ArchiveError):
    """`seen` is the bytes read when reading stopped, or the size the server declared."""

    def __init__(self, source: str, limit: int, seen: int) -> None:
        super().__init__(source, f"larger than the {limit} bytes Confluent accepts (stopped at {seen})")
        self.limit = limit
        self.seen = seen


class NotAnArchive(ArchiveError):
    pass


class Unreachable(ArchiveError):
    """Worth retrying: `status` is the HTTP status when there was one; `retry_after` in seconds if the server said."""

    def __init__(self, source: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(source, message)
        self.status = status
        self.retry_after = retry_after


class Refused(ArchiveError):
    """Terminal: retrying the same URL gets the same answer."""

    def __init__(self, source: str, message: str, *, status: int | None = None) -> None:
        super().__init__(source, message)
        self.status = status


def expected_digest(sha256: str) -> str:
    """`sha256` as lower-case hex; ValueError when it is not 64 hex digits."""
    value = sha256.strip().lower()
    if not _SHA256.match(value):
        raise ValueError("sha256 must be 64 hexadecimal digits")
    return value


class Archive:
    """A verified archive in a spooled temporary file; close it (or use `with`) to delete it.

    Made by `fetch` and `from_bytes` only, after the size, the digest and the format were checked.
    """

    def __init__(
        self, file: IO[bytes], *, size: int, sha256: str, content_format: ArchiveFormat, filename: str
    ) -> None:
        self._file = file
        self.size = size
        self.sha256 = sha256
        self.content_format = content_format
        self.filename = filename

    def stream(self) -> IO[bytes]:
        """The archive's bytes from the start, to read (not to write) for an upload."""
        if self._file.closed:
            raise ValueError("the archive is closed")
        self._file.seek(0)
        return self._file

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Archive({self.filename!r}, {self.content_format}, {self.size} bytes, sha256={self.sha256})"


class Spool:
    """Collects an archive's bytes as they arrive: hashed, counted, refused past `limit`."""

    def __init__(self, source: str, limit: int, spool_dir: str | None = None) -> None:
        self.source = source
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()
        # It outlives this call: the Archive made from it, or `close` on failure, closes it.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE, dir=spool_dir)  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(self.source, self.limit, self.size)
        self._digest.update(chunk)
        self._file.write(chunk)

    def close(self) -> None:
        self._file.close()

    def seal(self, expected: str | None, name: str | None) -> Archive:
        """The `Archive`, once the digest matches `expected` (when given) and the content is a ZIP or JAR."""
        return _seal(self._file, self.size, self._digest.hexdigest(), expected, name, self.source)


def from_bytes(
    data: bytes,
    *,
    sha256: str | None = None,
    name: str | None = None,
    source: str = "the archive",
    limit: int = MAX_ARCHIVE_SIZE,
) -> Archive:
    """An `Archive` of bytes that arrived whole (a ConfigMap's binaryData), with the checks `fetch` makes.

    `sha256`, when given, must match; `name` suggests the filename; `source` names it in errors.
    """
    expected = expected_digest(sha256) if sha256 is not None else None
    if len(data) > limit:
        raise TooLarge(source, limit, len(data))
    # No spool: the bytes are in memory already, and BytesIO shares them instead of copying.
    file: IO[bytes] = io.BytesIO(data)
    try:
        return _seal(file, len(data), hashlib.sha256(data).hexdigest(), expected, name, source)
    except BaseException:
        file.close()
        raise


def _seal(file: IO[bytes], size: int, actual: str, expected: str | None, name: str | None, source: str) -> Archive:
    # The digest first: bytes that are not the ones named are refused as such, whatever they hold.
    if expected is not None and actual != expected:
        raise DigestMismatch(source, expected, actual)
    content_format = _format_of(file, source)
    file.seek(0)
    return Archive(
        file, size=size, sha256=actual, content_format=content_format, filename=_filename(name, content_format)
    )


def _format_of(file: IO[bytes], source: str) -> ArchiveFormat:
    """ZIP or JAR from the content: a JAR is a zip with a manifest. Reads the central directory, not the entries."""
    file.seek(0)
    if file.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
        raise NotAnArchive(source, "neither a ZIP nor a JAR: it does not start with a zip file header")
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise NotAnArchive(source, f"neither a ZIP nor a JAR: its zip directory does not read ({exc})") from None
    # Java finds the manifest whatever the case of its name.
    return ArchiveFormat.JAR if any(n.upper() == _MANIFEST for n in names) else ArchiveFormat.ZIP


def _filename(name: str | None, content_format: ArchiveFormat) -> str:
    """A safe basename for the upload, its extension the detected format's."""
    stem = PurePosixPath(name or "").name
    if stem.lower().endswith((".zip", ".jar")):
        stem = stem[:-4]
    stem = _UNSAFE.sub("-", stem).strip(".-")[:100] or "plugin"
    return f"{stem}.{content_format.lower()}"
