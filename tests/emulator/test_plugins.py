"""Plugins of both APIs and the presigned uploads behind them, for every cloud."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator, Timing

from .conftest import ClientFactory, Clock, archive, upload

CLOUDS = ["AWS", "GCP", "AZURE"]
INVALID = "Version creation failed due to invalid plugin archive."


async def presign_ccpm(client: httpx.AsyncClient, emu: Emulator, cloud: str, fmt: str = "zip") -> dict[str, Any]:
    body = {"content_format": fmt, "cloud": cloud, "environment": {"id": emu.environment_id}}
    response = await client.post("/ccpm/v1/presigned-upload-url", json=body)
    assert response.status_code == 201, response.text
    presigned: dict[str, Any] = response.json()
    return presigned


async def new_plugin(client: httpx.AsyncClient, emu: Emulator, cloud: str, name: str = "p") -> str:
    spec = {"display_name": name, "cloud": cloud, "environment": {"id": emu.environment_id}}
    response = await client.post("/ccpm/v1/plugins", json={"spec": spec})
    assert response.status_code == 202, response.text
    assert response.headers["location"].endswith(f"/ccpm/v1/plugins/{response.json()['id']}")
    plugin_id: str = response.json()["id"]
    return plugin_id


async def new_version(
    client: httpx.AsyncClient, emu: Emulator, plugin_id: str, upload_id: str, version: str = "1.2.3"
) -> httpx.Response:
    spec = {
        "version": version,
        "connector_classes": [{"class_name": "io.example.Source", "type": "SOURCE"}],
        "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": upload_id},
        "environment": {"id": emu.environment_id},
    }
    return await client.post(f"/ccpm/v1/plugins/{plugin_id}/versions", json={"spec": spec})


async def phase(client: httpx.AsyncClient, emu: Emulator, plugin_id: str, version_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params={"environment": emu.environment_id}
    )
    assert response.status_code == 200
    status: dict[str, Any] = response.json()["status"]
    return status


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_the_upload_url_points_at_the_emulator_in_the_clouds_shape(
    client: httpx.AsyncClient, emu: Emulator, cloud: str
) -> None:
    presigned = await presign_ccpm(client, emu, cloud)
    assert presigned["upload_url"].startswith("https://api.confluent.cloud/_uploads/")
    assert presigned["content_format"] == "ZIP"
    assert presigned["environment"]["id"] == emu.environment_id
    wanted = {
        "AWS": {"bucket", "key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"},
        "GCP": {"bucket", "object_path"},
        "AZURE": {"storage_account", "container", "blob_path", "sas_token"},
    }[cloud]
    assert wanted <= set(presigned["upload_form_data"])


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_a_valid_upload_makes_a_version_that_turns_ready(
    make_client: ClientFactory, clock: Clock, cloud: str
) -> None:
    emu = Emulator(timing=Timing(plugin_version_processing=30), clock=clock)
    async with make_client(emu) as client:
        plugin_id = await new_plugin(client, emu, cloud)
        presigned = await presign_ccpm(client, emu, cloud)
        uploaded = await upload(client, presigned, archive())
        assert uploaded.status_code == {"AWS": 204, "GCP": 200, "AZURE": 201}[cloud]
        created = await new_version(client, emu, plugin_id, presigned["upload_id"])
        assert created.status_code == 202
        body = created.json()
        assert body["status"] == {"phase": "PROCESSING"}
        assert body["spec"]["upload_source"] == {"location": "PRESIGNED_URL_LOCATION", "upload_id": ""}
        assert body["spec"]["content_format"] == "ZIP"
        clock.advance(29.9)
        assert await phase(client, emu, plugin_id, body["id"]) == {"phase": "PROCESSING"}
        clock.advance(0.1)
        assert await phase(client, emu, plugin_id, body["id"]) == {"phase": "READY"}


@pytest.mark.parametrize(
    "data", [b"this is not a zip", archive()[:40], b""], ids=["not a zip", "a truncated zip", "an empty file"]
)
async def test_a_bad_archive_makes_the_version_fail_with_confluents_message(
    client: httpx.AsyncClient, emu: Emulator, data: bytes
) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    assert (await upload(client, presigned, data)).status_code == 204
    created = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert created.status_code == 202
    assert await phase(client, emu, plugin_id, created.json()["id"]) == {"phase": "FAILED", "error_message": INVALID}


async def test_azure_needs_the_blob_type_header(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await presign_ccpm(client, emu, "AZURE")
    refused = await client.put(presigned["upload_url"], content=archive(), auth=None)
    assert refused.status_code == 400
    assert "<Code>MissingRequiredHeader</Code>" in refused.text
    assert emu.core.state.uploads[presigned["upload_id"]].received_at is None


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_a_tampered_signature_is_refused(client: httpx.AsyncClient, emu: Emulator, cloud: str) -> None:
    presigned = await presign_ccpm(client, emu, cloud)
    signature = {"AWS": "x-amz-signature", "GCP": "X-Goog-Signature", "AZURE": "sig"}[cloud]
    if cloud == "AWS":
        presigned["upload_form_data"][signature] = "0" * 64
    else:
        url = httpx.URL(presigned["upload_url"])
        presigned["upload_url"] = str(url.copy_set_param(signature, "0" * 64))
    response = await upload(client, presigned, archive())
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


async def test_an_upload_url_expires_after_an_hour(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(clock=clock)
    async with make_client(emu) as client:
        presigned = await presign_ccpm(client, emu, "GCP")
        clock.advance(3600)
        assert (await upload(client, presigned, archive())).status_code == 200
        clock.advance(1)
        response = await upload(client, presigned, archive())
    assert response.status_code == 403
    assert "expired" in response.text


async def test_aws_upload_needs_the_file_part(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await presign_ccpm(client, emu, "AWS")
    response = await client.post(
        presigned["upload_url"], data=presigned["upload_form_data"], files={"other": ("x", b"y")}, auth=None
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda spec: spec.update(version="not-semver"), 422),
        (lambda spec: spec.update(connector_classes=[]), 400),
        (lambda spec: spec.update(connector_classes=[{"class_name": "1bad", "type": "SOURCE"}]), 422),
        (lambda spec: spec["upload_source"].update(upload_id="00000000-0000-0000-0000-000000000000"), 400),
        (lambda spec: spec.update(environment={"id": "env-nope00"}), 404),
    ],
    ids=["version must be semver", "classes required", "class must be a java name", "unknown upload", "wrong env"],
)
async def test_invalid_versions_are_refused(client: httpx.AsyncClient, emu: Emulator, mutate: Any, status: int) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    await upload(client, presigned, archive())
    spec = {
        "version": "v1.0.0",
        "connector_classes": [{"class_name": "io.example.Source", "type": "SOURCE"}],
        "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": presigned["upload_id"]},
        "environment": {"id": emu.environment_id},
    }
    mutate(spec)
    response = await client.post(f"/ccpm/v1/plugins/{plugin_id}/versions", json={"spec": spec})
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["status"] == str(status)


async def test_a_version_string_is_unique_in_its_plugin(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    await upload(client, presigned, archive())
    first = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert first.status_code == 202
    again = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert again.status_code == 409
    assert again.headers["location"].endswith(f"/versions/{first.json()['id']}")


async def test_ccpm_plugins_are_scoped_to_their_environment(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id = await new_plugin(client, emu, "GCP", name="gcp-one")
    await new_plugin(client, emu, "AWS", name="aws-one")
    other = emu.add_environment("other")
    missing = await client.get(f"/ccpm/v1/plugins/{plugin_id}", params={"environment": other})
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["detail"] == "failed to retrieve custom plugin: Not Found"
    listed = await client.get("/ccpm/v1/plugins", params={"environment": emu.environment_id, "spec.cloud": "GCP"})
    assert [p["id"] for p in listed.json()["data"]] == [plugin_id]
    taken = await client.post(
        "/ccpm/v1/plugins",
        json={"spec": {"display_name": "gcp-one", "cloud": "GCP", "environment": {"id": emu.environment_id}}},
    )
    assert taken.status_code == 409


async def test_updating_a_ccpm_plugin_needs_its_environment_in_the_body(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    refused = await client.patch(f"/ccpm/v1/plugins/{plugin_id}", json={"spec": {"display_name": "x"}})
    assert refused.status_code == 400
    renamed = await client.patch(
        f"/ccpm/v1/plugins/{plugin_id}",
        json={"spec": {"display_name": "renamed", "environment": {"id": emu.environment_id}}},
    )
    assert renamed.json()["spec"]["display_name"] == "renamed"


async def test_deleting_a_ccpm_plugin_deletes_its_versions(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    await upload(client, presigned, archive())
    version_id = (await new_version(client, emu, plugin_id, presigned["upload_id"])).json()["id"]
    env = {"environment": emu.environment_id}
    assert (await client.delete(f"/ccpm/v1/plugins/{plugin_id}", params=env)).status_code == 204
    assert version_id not in emu.core.state.ccpm_versions
    assert (await client.get(f"/ccpm/v1/plugins/{plugin_id}", params=env)).status_code == 404


async def legacy_upload(client: httpx.AsyncClient, cloud: str, data: bytes) -> dict[str, Any]:
    response = await client.post("/connect/v1/presigned-upload-url", json={"content_format": "ZIP", "cloud": cloud})
    assert response.status_code == 200
    presigned: dict[str, Any] = response.json()
    assert presigned["kind"] == "PresignedUrl"
    await upload(client, presigned, data)
    return presigned


def legacy_body(upload_id: str, cloud: str = "AWS", name: str = "legacy") -> dict[str, Any]:
    return {
        "display_name": name,
        "connector_class": "io.example.LegacySource",
        "connector_type": "SOURCE",
        "cloud": cloud,
        "sensitive_config_properties": ["legacy.token.value"],
        "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": upload_id},
    }


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_a_legacy_plugin_is_created_from_its_upload(client: httpx.AsyncClient, emu: Emulator, cloud: str) -> None:
    presigned = await legacy_upload(client, cloud, archive())
    created = await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(presigned["upload_id"], cloud))
    assert created.status_code == 201, created.text
    plugin = created.json()
    assert plugin["id"].startswith("ccp-")
    assert (plugin["cloud"], plugin["content_format"], plugin["runtime_language"]) == (cloud, "ZIP", "JAVA")
    assert created.headers["location"].endswith(f"/connect/v1/custom-connector-plugins/{plugin['id']}")
    listed = await client.get("/connect/v1/custom-connector-plugins", params={"cloud": cloud})
    assert [p["id"] for p in listed.json()["data"]] == [plugin["id"]]


async def test_a_legacy_plugin_refuses_a_bad_archive_and_a_taken_name(client: httpx.AsyncClient, emu: Emulator) -> None:
    bad = await legacy_upload(client, "AWS", b"garbage")
    refused = await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(bad["upload_id"]))
    assert refused.status_code == 400
    assert "valid zip or jar" in refused.json()["errors"][0]["detail"]
    good = await legacy_upload(client, "AWS", archive())
    assert (
        await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(good["upload_id"]))
    ).status_code == 201
    taken = await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(good["upload_id"]))
    assert taken.status_code == 409


async def test_a_legacy_plugin_keeps_its_immutable_fields(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await legacy_upload(client, "AWS", archive())
    plugin_id = (
        await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(presigned["upload_id"]))
    ).json()["id"]
    refused = await client.patch(f"/connect/v1/custom-connector-plugins/{plugin_id}", json={"connector_class": "a.B"})
    assert refused.status_code == 400
    patched = await client.patch(
        f"/connect/v1/custom-connector-plugins/{plugin_id}", json={"sensitive_config_properties": ["a.b"]}
    )
    assert patched.json()["sensitive_config_properties"] == ["a.b"]
    assert (await client.delete(f"/connect/v1/custom-connector-plugins/{plugin_id}")).status_code == 204
    gone = await client.get(f"/connect/v1/custom-connector-plugins/{plugin_id}")
    assert gone.json()["errors"][0]["code"] == "not_found"


async def test_a_custom_connector_can_run_a_legacy_plugin(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await legacy_upload(client, "AWS", archive())
    plugin_id = (
        await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(presigned["upload_id"]))
    ).json()["id"]
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
        "legacy.token.value": "hidden",
    }
    base = f"/connect/v1/environments/{emu.environment_id}/clusters/{emu.kafka_cluster_id}/connectors"
    created = await client.post(base, json={"name": "old-style", "config": config})
    assert created.status_code == 201, created.text
    assert created.json()["config"]["legacy.token.value"] == "****************"
    assert created.json()["config"]["connector.class"] == "io.example.LegacySource"


async def test_runtimes_are_listed(client: httpx.AsyncClient) -> None:
    body = (await client.get("/connect/v1/custom-connector-runtimes")).json()
    assert {r["custom_connect_plugin_runtime_name"] for r in body["data"]} >= {"3.9.0"}
