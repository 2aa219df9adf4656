"""Archives from bytes: the size limit, the digest, ZIP or JAR from the content, and what an Archive gives back."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from ccloud_operator import archives
from ccloud_operator.archives import ArchiveFormat, DigestMismatch, NotAnArchive, TooLarge
from ccloud_operator.archives.archive import Spool


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


PLUGIN_ZIP = zip_of({"lib/orders-connector.jar": b"classes", "manifest.json": b'{"name": "orders"}'})
PLUGIN_JAR = zip_of({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "io/example/Orders.class": b"\xca\xfe"})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_zip_from_bytes_is_verified_and_reads_back_whole() -> None:
    with archives.from_bytes(PLUGIN_ZIP, sha256=sha(PLUGIN_ZIP), name="orders-1.0.zip") as archive:
        assert archive.content_format is ArchiveFormat.ZIP
        assert (archive.size, archive.sha256) == (len(PLUGIN_ZIP), sha(PLUGIN_ZIP))
        assert archive.filename == "orders-1.0.zip"
        assert archive.stream().read() == PLUGIN_ZIP
        # stream() rewinds: a second reader (a retried upload) gets every byte again
        assert archive.stream().read() == PLUGIN_ZIP
    assert archive.closed
    with pytest.raises(ValueError, match="closed"):
        archive.stream()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"}, ArchiveFormat.JAR),
        ({"meta-inf/manifest.mf": b"Manifest-Version: 1.0\n"}, ArchiveFormat.JAR),
        ({"lib/a.jar": b"x", "META-INF/": b""}, ArchiveFormat.ZIP),
        ({"doc/META-INF/MANIFEST.MF": b"x"}, ArchiveFormat.ZIP),
    ],
    ids=[
        "a manifest makes a JAR",
        "Java finds the manifest in any case",
        "an empty META-INF is still a ZIP",
        "a manifest below the root is not the JAR's",
    ],
)
def test_the_format_comes_from_the_content(entries: dict[str, bytes], expected: ArchiveFormat) -> None:
    data = zip_of(entries)
    # the name says .zip: only the content decides
    with archives.from_bytes(data, name="plugin.zip") as archive:
        assert archive.content_format is expected
        assert archive.filename == f"plugin.{expected.lower()}"


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>Please log in</body></html>",
        b"",
        PLUGIN_ZIP[: len(PLUGIN_ZIP) // 2],
        zip_of({}),
        b"PK\x03\x04" + b"\x00" * 64,
    ],
    ids=[
        "a login page served with 200",
        "nothing at all",
        "a zip cut in half has no directory",
        "an empty zip has no local header",
        "the magic alone is not a zip",
    ],
)
def test_what_is_neither_zip_nor_jar_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnArchive, match="neither a ZIP nor a JAR") as refused:
        archives.from_bytes(data, source="ConfigMap team-a/plugins key orders.zip")
    assert str(refused.value).startswith("ConfigMap team-a/plugins key orders.zip: ")


def test_the_digest_is_compared_case_insensitively() -> None:
    with archives.from_bytes(PLUGIN_JAR, sha256=f"  {sha(PLUGIN_JAR).upper()} ") as archive:
        assert archive.sha256 == sha(PLUGIN_JAR)
        assert archive.content_format is ArchiveFormat.JAR


def test_a_wrong_digest_names_both_and_wins_over_a_bad_format() -> None:
    wrong = "0" * 64
    not_a_zip = b"definitely not an archive"
    with pytest.raises(DigestMismatch) as mismatch:
        archives.from_bytes(not_a_zip, sha256=wrong, source="the orders archive")
    assert (mismatch.value.expected, mismatch.value.actual) == (wrong, sha(not_a_zip))
    assert wrong in str(mismatch.value)
    assert sha(not_a_zip) in str(mismatch.value)


@pytest.mark.parametrize(
    "digest",
    ["", "abc", "g" * 64, sha(PLUGIN_ZIP) + "0", "sha256:" + sha(PLUGIN_ZIP)],
    ids=["empty", "too short", "not hex", "one digit too many", "with an algorithm prefix"],
)
def test_a_digest_that_is_no_sha256_is_a_value_error(digest: str) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        archives.from_bytes(PLUGIN_ZIP, sha256=digest)


def test_bytes_at_the_limit_pass_and_one_more_is_too_large() -> None:
    with archives.from_bytes(PLUGIN_ZIP, limit=len(PLUGIN_ZIP)) as archive:
        assert archive.size == len(PLUGIN_ZIP)
    with pytest.raises(TooLarge) as too_large:
        archives.from_bytes(PLUGIN_ZIP, limit=len(PLUGIN_ZIP) - 1)
    assert (too_large.value.limit, too_large.value.seen) == (len(PLUGIN_ZIP) - 1, len(PLUGIN_ZIP))


def test_the_default_limit_is_confluents_one_gib() -> None:
    assert archives.MAX_ARCHIVE_SIZE == 1024**3


def test_a_spool_stops_at_the_first_chunk_past_the_limit() -> None:
    spool = Spool("https://artifacts.example/orders.zip", limit=10)
    spool.write(b"12345")
    spool.write(b"12345")
    with pytest.raises(TooLarge) as too_large:
        spool.write(b"1")
    spool.close()
    assert (too_large.value.limit, too_large.value.seen) == (10, 11)
    assert str(too_large.value).startswith("https://artifacts.example/orders.zip: larger than the 10 bytes")


@pytest.mark.parametrize(
    ("name", "data", "filename"),
    [
        ("/artifacts/datagen-0.6.7.zip", PLUGIN_ZIP, "datagen-0.6.7.zip"),
        ("/artifacts/datagen-0.6.7.zip", PLUGIN_JAR, "datagen-0.6.7.jar"),
        ("/download", PLUGIN_ZIP, "download.zip"),
        (None, PLUGIN_JAR, "plugin.jar"),
        ("/", PLUGIN_ZIP, "plugin.zip"),
        ('/a/../we ird;name".ZIP', PLUGIN_ZIP, "we-ird-name.zip"),
    ],
    ids=[
        "the URL's basename",
        "the extension follows the content",
        "no extension gets one",
        "no name at all",
        "a bare slash",
        "unsafe characters go",
    ],
)
def test_the_filename_suggestion(name: str | None, data: bytes, filename: str) -> None:
    with archives.from_bytes(data, name=name) as archive:
        assert archive.filename == filename


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://artifacts.example/p/orders.zip?X-Amz-Signature=abc&token=t0k3n",
            "https://artifacts.example/p/orders.zip",
        ),
        ("https://user:hunter22@artifacts.example:8443/orders.zip#frag", "https://artifacts.example:8443/orders.zip"),
        ("http://[::1]:8080/orders.zip?sig=1", "http://[::1]:8080/orders.zip"),
    ],
    ids=["a presigned query goes", "user info and fragment go", "an IPv6 host keeps its brackets"],
)
def test_messages_name_a_url_without_its_secrets(url: str, shown: str) -> None:
    assert archives.where(url) == shown


def test_an_archives_repr_shows_what_it_is() -> None:
    with archives.from_bytes(PLUGIN_JAR, name="orders.jar") as archive:
        assert repr(archive) == f"Archive('orders.jar', JAR, {len(PLUGIN_JAR)} bytes, sha256={sha(PLUGIN_JAR)})"
