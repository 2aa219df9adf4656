"""Connector plugins: CCPM plugins and versions, the legacy API, and the upload for every cloud."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    Cloud,
    ConfluentClient,
    ConnectorClass,
    ContentFormat,
    Forbidden,
    NotFound,
    PresignedUrl,
    VersionPhase,
)

CLASS = "io.example.connect.OrdersSource"


def archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lib/orders-connector.jar", b"not really a jar, but a zip entry")
        zf.writestr("manifest.json", b'{"name": "orders"}')
    return buffer.getvalue()


@pytest.mark.parametrize("cloud", list(Cloud), ids=["AWS multipart POST", "GCP raw PUT", "Azure PUT as BlockBlob"])
async def test_ccpm_plugin_version_from_an_upload_becomes_ready(
    client: ConfluentClient, emulator: Emulator, cloud: Cloud
) -> None:
    env = emulator.environment_id
    plugin = await client.plugins.create(f"orders-{cloud.lower()}", cloud, env, description="orders")
    assert plugin.id.startswith("ccp-")
    assert plugin.spec.cloud == cloud

    presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, cloud, env)
    assert presigned.upload_url not in repr(presigned)
    await client.uploads.upload(presigned, archive(), filename="orders.zip")

    version = await client.plugin_versions.create(
        plugin.id,
        env,
        version="1.2.3",
        connector_classes=[ConnectorClass(class_name=CLASS, type="SOURCE")],
        upload_id=presigned.upload_id,
        sensitive_config_properties=["orders.password"],
        documentation_link="https://example.com/orders",
    )
    assert version.spec.version == "1.2.3"
    ready = await client.plugin_versions.get(plugin.id, version.id, env)
    assert ready.phase == VersionPhase.READY
    assert ready.spec.sensitive_config_properties == ["orders.password"]
    assert [v.id for v in await client.plugin_versions.list(plugin.id, env)] == [version.id]

    await client.plugin_versions.delete(plugin.id, version.id, env)
    with pytest.raises(NotFound):
        await client.plugin_versions.get(plugin.id, version.id, env)
    await client.plugins.delete(plugin.id, env)
    with pytest.raises(NotFound):
        await client.plugins.get(plugin.id, env)


async def test_a_version_from_a_broken_archive_fails_with_confluents_message(
    client: ConfluentClient, emulator: Emulator
) -> None:
    env = emulator.environment_id
    plugin = await client.plugins.create("broken", Cloud.AWS, env)
    presigned = await client.plugins.presigned_upload_url("zip", "aws", env)
    await client.uploads.upload(presigned, b"this is not a zip archive")
    version = await client.plugin_versions.create(
        plugin.id, env, "0.0.1", [ConnectorClass(class_name=CLASS, type="SOURCE")], presigned.upload_id
    )
    failed = await client.plugin_versions.get(plugin.id, version.id, env)
    assert failed.phase == VersionPhase.FAILED
    assert failed.status.error_message


async def test_ccpm_plugins_are_listed_found_and_renamed(client: ConfluentClient, emulator: Emulator) -> None:
    env = emulator.environment_id
    ids = [(await client.plugins.create(f"listed-{n}", Cloud.GCP, env)).id for n in range(4)]
    aws = await client.plugins.create("listed-aws", Cloud.AWS, env)
    assert {p.id for p in await client.plugins.list(env)} >= {*ids, aws.id}
    assert aws.id not in {p.id for p in await client.plugins.list(env, cloud=Cloud.GCP)}
    found = await client.plugins.find_by_display_name(env, "listed-2")
    assert found is not None and found.id == ids[2]

    renamed = await client.plugins.update(ids[2], env, display_name="listed-two", description="renamed")
    assert (renamed.spec.display_name, renamed.spec.description) == ("listed-two", "renamed")
    assert await client.plugins.find_by_display_name(env, "listed-2") is None


async def test_legacy_custom_plugin_lifecycle(client: ConfluentClient) -> None:
    presigned = await client.custom_plugins.presigned_upload_url(ContentFormat.JAR, Cloud.AWS)
    await client.uploads.upload(presigned, archive(), filename="orders.jar")
    plugin = await client.custom_plugins.create(
        "orders-legacy",
        CLASS,
        "SOURCE",
        presigned.upload_id,
        description="legacy",
        sensitive_config_properties=["orders.password"],
    )
    assert plugin.id.startswith("ccp-")
    assert (plugin.connector_class, plugin.connector_type) == (CLASS, "SOURCE")
    assert (await client.custom_plugins.get(plugin.id)).display_name == "orders-legacy"
    assert plugin.id in {p.id for p in await client.custom_plugins.list()}
    found = await client.custom_plugins.find_by_display_name("orders-legacy")
    assert found is not None and found.id == plugin.id

    updated = await client.custom_plugins.update(plugin.id, description="still legacy")
    assert updated.description == "still legacy"
    await client.custom_plugins.delete(plugin.id)
    with pytest.raises(NotFound):
        await client.custom_plugins.get(plugin.id)


async def test_runtimes_are_listed(client: ConfluentClient) -> None:
    runtimes = await client.custom_plugins.runtimes()
    assert runtimes
    assert all(r.custom_connect_plugin_runtime_name for r in runtimes)


async def test_a_tampered_presigned_url_is_refused_by_the_store(client: ConfluentClient, emulator: Emulator) -> None:
    presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, Cloud.GCP, emulator.environment_id)
    signature = httpx.URL(presigned.upload_url).params["X-Goog-Signature"]
    forged = presigned.model_copy(update={"upload_url": presigned.upload_url.replace(signature, "0" * len(signature))})
    with pytest.raises(Forbidden) as refused:
        await client.uploads.upload(forged, archive())
    assert refused.value.status == 403
    assert signature not in str(refused.value)


async def test_uploads_carry_no_confluent_credentials(
    emulator: Emulator, make_client: Callable[..., ConfluentClient]
) -> None:
    seen: list[httpx.Request] = []

    class Spy(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=emulator.app)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await self.inner.handle_async_request(request)

    async with make_client(emulator, transport=Spy()) as client:
        presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, Cloud.AZURE, emulator.environment_id)
        await client.uploads.upload(presigned, archive())
    upload = seen[-1]
    assert upload.method == "PUT"
    assert upload.headers["x-ms-blob-type"] == "BlockBlob"
    assert upload.headers["content-type"] == "application/zip"
    assert "authorization" not in upload.headers
    assert "authorization" in seen[0].headers


def test_presigned_urls_hide_their_signatures_from_repr() -> None:
    presigned = PresignedUrl(
        upload_id="u-1",
        upload_url="https://bucket.example/?sig=SIGNATURE-123",
        upload_form_data={"x-amz-signature": "SIGNATURE-456"},
    )
    assert "SIGNATURE" not in repr(presigned)
