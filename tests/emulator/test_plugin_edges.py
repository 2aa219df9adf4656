"""What a ConnectorPlugin operator meets beyond the happy path: versions that fail, list filters,
uploads that are missing, reused, misdirected, mistyped, too large or expired, and plugins in use."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator, Timing

from .conftest import ClientFactory, Clock, archive, connectors_path, ready_ccpm_plugin, upload
from .test_plugins import INVALID, legacy_body, legacy_upload, new_plugin, new_version, presign_ccpm

LEGACY = "/connect/v1/custom-connector-plugins"


def error(response: httpx.Response) -> dict[str, Any]:
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert len(errors) == 1
    return errors[0]


async def good_upload(client: httpx.AsyncClient, emu: Emulator, cloud: str = "AWS") -> str:
    presigned = await presign_ccpm(client, emu, cloud)
    assert (await upload(client, presigned, archive())).status_code < 300
    upload_id: str = presigned["upload_id"]
    return upload_id


async def reads(client: httpx.AsyncClient, emu: Emulator, plugin_id: str, version_id: str) -> list[dict[str, Any]]:
    """The version's status as the get and as the list show it."""
    env = {"environment": emu.environment_id}
    got = await client.get(f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params=env)
    listed = await client.get(f"/ccpm/v1/plugins/{plugin_id}/versions", params=env)
    assert got.status_code == listed.status_code == 200
    [entry] = [v for v in listed.json()["data"] if v["id"] == version_id]
    return [got.json()["status"], entry["status"]]


# 1. versions that fail


async def test_a_forced_failure_shows_on_every_read_once_processing_is_over(
    make_client: ClientFactory, clock: Clock
) -> None:
    emu = Emulator(timing=Timing(plugin_version_processing=30), clock=clock)
    emu.set_version_outcome("1.2.3", "FAILED", "Connector class io.example.Source was not found in the archive")
    async with make_client(emu) as client:
        plugin_id = await new_plugin(client, emu, "AWS")
        created = await new_version(client, emu, plugin_id, await good_upload(client, emu))
        assert created.json()["status"] == {"phase": "PROCESSING"}
        assert await reads(client, emu, plugin_id, created.json()["id"]) == [{"phase": "PROCESSING"}] * 2
        clock.advance(30)
        failed = {"phase": "FAILED", "error_message": "Connector class io.example.Source was not found in the archive"}
        assert await reads(client, emu, plugin_id, created.json()["id"]) == [failed] * 2


async def test_a_forced_failure_is_used_once_and_by_its_version_string_only(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.set_version_outcome("2.0.0", "FAILED", "boom")
    plugin_id = await new_plugin(client, emu, "AWS")
    other = (await new_version(client, emu, plugin_id, await good_upload(client, emu), "1.0.0")).json()["id"]
    assert await reads(client, emu, plugin_id, other) == [{"phase": "READY"}] * 2
    failed = (await new_version(client, emu, plugin_id, await good_upload(client, emu), "2.0.0")).json()["id"]
    assert await reads(client, emu, plugin_id, failed) == [{"phase": "FAILED", "error_message": "boom"}] * 2
    second = await new_plugin(client, emu, "AWS", name="second")
    again = (await new_version(client, emu, second, await good_upload(client, emu), "2.0.0")).json()["id"]
    assert await reads(client, emu, second, again) == [{"phase": "READY"}] * 2


async def test_a_forced_failure_waits_for_a_good_archive(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.set_version_outcome(None, "FAILED", "forced")
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    await upload(client, presigned, b"not a zip")
    bad = (await new_version(client, emu, plugin_id, presigned["upload_id"], "1.0.0")).json()["id"]
    assert await reads(client, emu, plugin_id, bad) == [{"phase": "FAILED", "error_message": INVALID}] * 2
    good = (await new_version(client, emu, plugin_id, await good_upload(client, emu), "1.0.1")).json()["id"]
    assert await reads(client, emu, plugin_id, good) == [{"phase": "FAILED", "error_message": "forced"}] * 2


async def test_the_admin_route_forces_a_failure_and_reset_forgets_it(client: httpx.AsyncClient, emu: Emulator) -> None:
    admin = "/_emulator/version-outcomes"
    assert (await client.post(admin, json={"phase": "FAILED"})).status_code == 400
    assert (await client.post(admin, json={"phase": "FAILED", "error_message": "x" * 257})).status_code == 400
    assert (await client.post(admin, json={"phase": "PROCESSING"})).status_code == 400
    assert (await client.post(admin, json={"version": "1.2.3", "error_message": "from admin"})).status_code == 204
    plugin_id = await new_plugin(client, emu, "GCP")
    failed = (await new_version(client, emu, plugin_id, await good_upload(client, emu, "GCP"))).json()["id"]
    assert await reads(client, emu, plugin_id, failed) == [{"phase": "FAILED", "error_message": "from admin"}] * 2
    assert (await client.post(admin, json={"error_message": "never seen"})).status_code == 204
    assert (await client.post("/_emulator/reset")).status_code == 204
    plugin_id = await new_plugin(client, emu, "GCP")
    ready = (await new_version(client, emu, plugin_id, await good_upload(client, emu, "GCP"))).json()["id"]
    assert await reads(client, emu, plugin_id, ready) == [{"phase": "READY"}] * 2


# 2. list filters


async def test_ccpm_plugins_are_filtered_by_environment_and_exact_cloud(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    aws = await new_plugin(client, emu, "AWS", name="aws")
    gcp = await new_plugin(client, emu, "GCP", name="gcp")
    other_env = emu.add_environment("other")
    env = emu.environment_id

    async def listed(**params: str) -> list[str]:
        response = await client.get("/ccpm/v1/plugins", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert await listed(environment=env) == [aws, gcp]
    assert await listed(environment=env, **{"spec.cloud": "GCP"}) == [gcp]
    assert await listed(environment=env, **{"spec.cloud": "AZURE"}) == []
    assert await listed(environment=other_env) == []
    page = await client.get("/ccpm/v1/plugins", params={"environment": env, "spec.cloud": "AWS", "page_size": 1})
    assert "spec.cloud=AWS" in page.json()["metadata"]["first"]


@pytest.mark.parametrize(
    ("params", "status", "code", "parameter"),
    [
        ({}, 400, "missing_parameter", "environment"),
        ({"spec.cloud": "AWS"}, 400, "missing_parameter", "environment"),
        ({"environment": "env-{env}", "spec.cloud": "aws"}, 400, "invalid_filter", "spec.cloud"),
        ({"environment": "env-{env}", "spec.cloud": "MARS"}, 400, "invalid_filter", "spec.cloud"),
        ({"environment": "env-{env}", "spec.cloud": ""}, 400, "invalid_filter", "spec.cloud"),
        ({"environment": "env-nope00"}, 403, "forbidden_access", "environment"),
    ],
    ids=[
        "no environment",
        "a cloud but no environment",
        "lower-case cloud",
        "unknown cloud",
        "empty cloud",
        "unknown environment",
    ],
)
async def test_a_bad_ccpm_plugin_filter_is_refused_naming_the_parameter(
    client: httpx.AsyncClient, emu: Emulator, params: dict[str, str], status: int, code: str, parameter: str
) -> None:
    query = {k: v.replace("env-{env}", emu.environment_id) for k, v in params.items()}
    response = await client.get("/ccpm/v1/plugins", params=query)
    assert response.status_code == status, response.text
    assert (error(response)["code"], error(response)["source"]) == (code, {"parameter": parameter})


async def test_versions_are_listed_per_plugin_and_need_its_environment(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    first = await new_plugin(client, emu, "AWS", name="first")
    second = await new_plugin(client, emu, "AWS", name="second")
    mine = (await new_version(client, emu, first, await good_upload(client, emu))).json()["id"]
    await new_version(client, emu, second, await good_upload(client, emu))
    env = {"environment": emu.environment_id}
    listed = await client.get(f"/ccpm/v1/plugins/{first}/versions", params=env)
    assert [v["id"] for v in listed.json()["data"]] == [mine]
    assert listed.json()["metadata"]["total_size"] == 1
    missing = await client.get(f"/ccpm/v1/plugins/{first}/versions")
    assert missing.status_code == 400
    assert error(missing)["source"] == {"parameter": "environment"}
    elsewhere = await client.get(f"/ccpm/v1/plugins/{first}/versions", params={"environment": emu.add_environment()})
    assert elsewhere.status_code == 404
    assert error(elsewhere)["detail"] == "failed to retrieve custom plugin: Not Found"


async def test_legacy_plugins_are_filtered_by_exact_cloud_within_the_organisation(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    aws = await client.post(LEGACY, json=legacy_body((await legacy_upload(client, "AWS", archive()))["upload_id"]))
    azure_upload = (await legacy_upload(client, "AZURE", archive()))["upload_id"]
    azure = await client.post(LEGACY, json=legacy_body(azure_upload, "AZURE", name="azure"))
    assert aws.status_code == azure.status_code == 201
    by_cloud = await client.get(LEGACY, params={"cloud": "AZURE"})
    assert [p["id"] for p in by_cloud.json()["data"]] == [azure.json()["id"]]
    assert len((await client.get(LEGACY)).json()["data"]) == 2
    refused = await client.get(LEGACY, params={"cloud": "azure"})
    assert refused.status_code == 400
    assert (error(refused)["code"], error(refused)["source"]) == ("invalid_filter", {"parameter": "cloud"})
    other_org = emu.add_organization("other")
    emu.add_api_key("OTHERORGKEY00001", "s" * 64, organization_id=other_org)
    stranger = await client.get(LEGACY, auth=("OTHERORGKEY00001", "s" * 64))
    assert stranger.json()["data"] == []


# 3. uploads


async def test_a_create_from_an_upload_that_received_nothing_is_refused(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    presigned = await presign_ccpm(client, emu, "AWS")
    refused = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert refused.status_code == 400
    assert error(refused)["source"] == {"pointer": "/spec/upload_source/upload_id"}
    assert "nothing was uploaded" in error(refused)["detail"]
    assert not emu.core.state.ccpm_versions
    legacy = (await client.post("/connect/v1/presigned-upload-url", json={"content_format": "ZIP"})).json()
    refused = await client.post(LEGACY, json=legacy_body(legacy["upload_id"]))
    assert refused.status_code == 400
    assert "nothing was uploaded" in error(refused)["detail"]


async def test_an_upload_makes_one_version_or_plugin_only(client: httpx.AsyncClient, emu: Emulator) -> None:
    first = await new_plugin(client, emu, "AWS", name="first")
    second = await new_plugin(client, emu, "AWS", name="second")
    upload_id = await good_upload(client, emu)
    created = await new_version(client, emu, first, upload_id, "1.0.0")
    assert created.status_code == 202
    for plugin_id, version in ((first, "1.0.1"), (second, "1.0.0")):
        reused = await new_version(client, emu, plugin_id, upload_id, version)
        assert reused.status_code == 400, (plugin_id, version)
        assert error(reused)["detail"] == f"Upload '{upload_id}' was already used by {created.json()['id']}"
    legacy_id = (await legacy_upload(client, "AWS", archive()))["upload_id"]
    assert (await client.post(LEGACY, json=legacy_body(legacy_id, name="one"))).status_code == 201
    reused = await client.post(LEGACY, json=legacy_body(legacy_id, name="two"))
    assert reused.status_code == 400
    assert "already used" in error(reused)["detail"]


async def test_a_refused_create_leaves_its_upload_usable(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    upload_id = await good_upload(client, emu)
    taken = await new_version(client, emu, plugin_id, upload_id, "1.0.0")
    assert taken.status_code == 202
    # the same version again is a 409 (it exists), whatever its upload: a retried create finds it
    assert (await new_version(client, emu, plugin_id, upload_id, "1.0.0")).status_code == 409
    fresh = await good_upload(client, emu)
    assert (await new_version(client, emu, plugin_id, fresh, "not-semver")).status_code == 422
    assert (await new_version(client, emu, plugin_id, fresh, "1.0.1")).status_code == 202


@pytest.mark.parametrize("mismatch", ["environment", "cloud"])
async def test_a_ccpm_upload_serves_only_its_environment_and_cloud(
    client: httpx.AsyncClient, emu: Emulator, mismatch: str
) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    env = emu.add_environment("other") if mismatch == "environment" else emu.environment_id
    cloud = "GCP" if mismatch == "cloud" else "AWS"
    body = {"content_format": "ZIP", "cloud": cloud, "environment": {"id": env}}
    presigned = (await client.post("/ccpm/v1/presigned-upload-url", json=body)).json()
    await upload(client, presigned, archive())
    refused = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert refused.status_code == 400
    assert error(refused)["source"] == {"pointer": "/spec/upload_source/upload_id"}
    assert not emu.core.state.uploads[presigned["upload_id"]].used_by


async def test_each_plugin_api_takes_only_its_own_uploads_and_cloud(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id = await new_plugin(client, emu, "AWS")
    legacy_id = (await legacy_upload(client, "AWS", archive()))["upload_id"]
    assert (await new_version(client, emu, plugin_id, legacy_id)).status_code == 400
    ccpm_id = await good_upload(client, emu)
    assert (await client.post(LEGACY, json=legacy_body(ccpm_id))).status_code == 400
    gcp_id = (await legacy_upload(client, "GCP", archive()))["upload_id"]
    wrong_cloud = await client.post(LEGACY, json=legacy_body(gcp_id, "AWS"))
    assert wrong_cloud.status_code == 400
    assert error(wrong_cloud)["source"] == {"pointer": "/upload_source"}


@pytest.mark.parametrize(
    ("cloud", "status", "code"),
    [("AWS", 403, "AccessDenied"), ("GCP", 403, "SignatureDoesNotMatch"), ("AZURE", 403, "AuthorizationFailure")],
)
async def test_the_store_refuses_the_other_formats_content_type(
    client: httpx.AsyncClient, emu: Emulator, cloud: str, status: int, code: str
) -> None:
    presigned = await presign_ccpm(client, emu, cloud, fmt="ZIP")
    # the conftest upload sends application/java-archive for a .jar, as the CLI does
    refused = await upload(client, presigned, archive(), filename="plugin.jar")
    assert refused.status_code == status
    assert f"<Code>{code}</Code>" in refused.text
    assert emu.core.state.uploads[presigned["upload_id"]].received_at is None
    jar = await presign_ccpm(client, emu, cloud, fmt="JAR")
    assert (await upload(client, jar, archive(), filename="plugin.zip")).status_code == status
    assert (await upload(client, jar, archive(), filename="plugin.jar")).status_code < 300


async def test_a_generic_content_type_is_taken_as_the_presigned_format(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    presigned = await presign_ccpm(client, emu, "AWS", fmt="JAR")
    files = {"file": ("plugin.jar", archive(), "application/octet-stream")}
    accepted = await client.post(presigned["upload_url"], data=presigned["upload_form_data"], files=files, auth=None)
    assert accepted.status_code == 204
    plugin_id = await new_plugin(client, emu, "AWS")
    created = await new_version(client, emu, plugin_id, presigned["upload_id"])
    assert created.json()["spec"]["content_format"] == "JAR"


@pytest.mark.parametrize(
    ("cloud", "status", "code"),
    [("AWS", 400, "EntityTooLarge"), ("GCP", 400, "EntityTooLarge"), ("AZURE", 413, "RequestBodyTooLarge")],
)
async def test_an_archive_over_the_limit_is_refused_by_the_store(
    make_client: ClientFactory, cloud: str, status: int, code: str
) -> None:
    data = archive({"lib/big.jar": bytes(range(256)) * 64})
    emu = Emulator(archive_limit=len(data) - 1)
    async with make_client(emu) as client:
        presigned = await presign_ccpm(client, emu, cloud)
        refused = await upload(client, presigned, data)
        assert refused.status_code == status
        assert f"<Code>{code}</Code>" in refused.text
        assert emu.core.state.uploads[presigned["upload_id"]].received_at is None
        emu.core.archive_limit = len(data)
        assert (await upload(client, presigned, data)).status_code < 300
        assert emu.core.state.uploads[presigned["upload_id"]].size == len(data)


@pytest.mark.parametrize("cloud", ["GCP", "AZURE"])
async def test_a_streamed_archive_is_cut_off_at_the_limit(make_client: ClientFactory, cloud: str) -> None:
    emu = Emulator(archive_limit=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"\0" * 200

    async with make_client(emu) as client:
        presigned = await presign_ccpm(client, emu, cloud)
        headers = {"Content-Type": "application/zip", "x-ms-blob-type": "BlockBlob"}
        refused = await client.put(presigned["upload_url"], content=chunks(), headers=headers, auth=None)
        assert refused.status_code in (400, 413)
        assert emu.core.state.uploads[presigned["upload_id"]].received_at is None


async def test_the_aws_policy_states_the_size_limit(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await presign_ccpm(client, emu, "AWS")
    policy = json.loads(base64.b64decode(presigned["upload_form_data"]["policy"]))
    assert ["content-length-range", 0, 1 << 30] in policy["conditions"]


async def test_an_upload_left_empty_past_its_hour_has_expired(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(clock=clock)
    async with make_client(emu) as client:
        plugin_id = await new_plugin(client, emu, "AWS")
        never = await presign_ccpm(client, emu, "AWS")
        in_time = await presign_ccpm(client, emu, "AWS")
        await upload(client, in_time, archive())
        clock.advance(3601)
        expired = await new_version(client, emu, plugin_id, never["upload_id"], "1.0.0")
        assert expired.status_code == 400
        assert "has expired" in error(expired)["detail"]
        # what arrived in time stays usable: the hour bounds the URL, not the object
        assert (await new_version(client, emu, plugin_id, in_time["upload_id"], "1.0.1")).status_code == 202


# 4. plugins in use


async def test_a_ccpm_plugin_in_use_keeps_itself_and_its_versions(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id, version_id = await ready_ccpm_plugin(client, emu)
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
    }
    assert (await client.post(connectors_path(emu), json={"name": "user", "config": config})).status_code == 201
    env = {"environment": emu.environment_id}
    refused = await client.delete(f"/ccpm/v1/plugins/{plugin_id}", params=env)
    assert refused.status_code == 400
    assert (error(refused)["code"], error(refused)["detail"]) == (
        "plugin_in_use",
        "The plugin is used by connector(s): user",
    )
    assert (await client.get(f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params=env)).status_code == 200


async def test_a_legacy_plugin_in_use_cannot_be_deleted(client: httpx.AsyncClient, emu: Emulator) -> None:
    presigned = await legacy_upload(client, "AWS", archive())
    plugin_id = (await client.post(LEGACY, json=legacy_body(presigned["upload_id"]))).json()["id"]
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
    }
    for name in ("b-user", "a-user"):
        assert (await client.post(connectors_path(emu), json={"name": name, "config": config})).status_code == 201
    refused = await client.delete(f"{LEGACY}/{plugin_id}")
    assert refused.status_code == 400
    assert (error(refused)["code"], error(refused)["detail"]) == (
        "plugin_in_use",
        "The plugin is used by connector(s): a-user, b-user",
    )
    for name in ("a-user", "b-user"):
        await client.delete(connectors_path(emu, f"/{name}"))
    assert (await client.delete(f"{LEGACY}/{plugin_id}")).status_code == 204
