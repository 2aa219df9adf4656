"""The admin HTTP API under /_emulator/ and the state file that outlives a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from ccloud_emulator import Emulator

from .conftest import ClientFactory, connectors_path


@pytest.fixture
async def admin(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    # no credentials: the admin API needs none
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu/_emulator") as c:
        yield c


async def test_info_names_the_defaults_and_never_the_secret(admin: httpx.AsyncClient, emu: Emulator) -> None:
    info = (await admin.get("/info")).json()
    assert (info["organization_id"], info["environment_id"], info["kafka_cluster_id"], info["api_key"]) == (
        emu.organization_id,
        emu.environment_id,
        emu.kafka_cluster_id,
        emu.api_key,
    )
    assert emu.api_secret not in json.dumps(info)
    assert (await admin.get("/health")).json() == {"status": "ok"}
    assert emu.api_secret not in repr(emu)


async def test_info_lists_every_environment_and_kafka_cluster(
    admin: httpx.AsyncClient, emu: Emulator, client: httpx.AsyncClient
) -> None:
    env = (await admin.post("/environments", json={"display_name": "demo", "id": "env-demo01"})).json()["id"]
    cluster = (
        await admin.post("/kafka-clusters", json={"environment_id": env, "display_name": "orders", "id": "lkc-demo01"})
    ).json()["id"]
    info = (await admin.get("/info")).json()
    assert info["environments"] == [
        {"id": emu.environment_id, "display_name": "default", "organization_id": emu.organization_id},
        {"id": "env-demo01", "display_name": "demo", "organization_id": emu.organization_id},
    ]
    assert [(c["id"], c["display_name"], c["environment_id"]) for c in info["kafka_clusters"]] == [
        (emu.kafka_cluster_id, "cluster_0", emu.environment_id),
        (cluster, "orders", env),
    ]
    # the bootstrap endpoint is the one the cluster's own read names
    read = (await client.get(f"/cmk/v2/clusters/{cluster}", params={"environment": env})).json()
    assert info["kafka_clusters"][1]["bootstrap_endpoint"] == read["spec"]["kafka_bootstrap_endpoint"]
    assert info == emu.info()


async def test_no_admin_route_ever_returns_a_secret(
    admin: httpx.AsyncClient, emu: Emulator, client: httpx.AsyncClient
) -> None:
    seeded = ("SeededSecretValue" * 4)[:64]
    emu.add_api_key("SEEDEDKEY0000001", seeded)
    sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "owner"})).json()["id"]
    created = (await client.post("/iam/v2/api-keys", json={"spec": {"owner": {"id": sa}}})).json()
    secrets = [emu.api_secret, seeded, created["spec"]["secret"]]
    assert all(len(secret) == 64 for secret in secrets)
    emu.fail("GET", "/org/*", status=503, count=1)
    emu.set_rate_limit(rate=5.0)
    routes = [
        route.path
        for route in emu.app.routes
        if isinstance(route, Route) and route.path.startswith("/_emulator/") and "GET" in (route.methods or ())
    ]
    assert {"/_emulator/info", "/_emulator/requests", "/_emulator/faults"} <= set(routes)
    for path in routes:
        response = await admin.get(path.removeprefix("/_emulator"))
        assert response.status_code == 200, path
        for secret in secrets:
            assert secret not in response.text, path


async def test_faults_over_http(admin: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/faults", json={"method": "GET", "path": "/org/*", "status": 503, "retry_after": 2, "count": 1}
    )
    assert created.status_code == 201
    assert (await client.get("/org/v2/environments")).headers["retry-after"] == "2"
    listed = (await admin.get("/faults")).json()
    assert [(f["id"], f["fired"]) for f in listed] == [(created.json()["id"], 1)]
    assert (await admin.delete(f"/faults/{created.json()['id']}")).status_code == 204
    assert (await admin.delete("/faults/nope")).status_code == 404
    await admin.post("/faults", json={"path": "*", "status": 500})
    assert (await admin.delete("/faults")).status_code == 204
    assert (await client.get("/org/v2/environments")).status_code == 200
    bad = await admin.post("/faults", json={"status": "five hundred"})
    assert bad.status_code == 400


async def test_rate_limit_over_http(admin: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    set_ = await admin.put("/rate-limit", json={"rate": 1, "burst": 1, "concurrency": 4})
    assert set_.json() == {"rate": 1.0, "burst": 1, "concurrency": 4}
    assert (await client.get("/org/v2/environments")).status_code == 200
    assert (await client.get("/org/v2/environments")).status_code == 429
    assert (await admin.delete("/rate-limit")).json()["rate"] is None
    assert (await client.get("/org/v2/environments")).status_code == 200


async def test_request_log_over_http(admin: httpx.AsyncClient, client: httpx.AsyncClient, emu: Emulator) -> None:
    await client.get("/org/v2/environments")
    log = (await admin.get("/requests")).json()
    assert [(r["method"], r["path"], r["status"], r["api_key"]) for r in log] == [
        ("GET", "/org/v2/environments", 200, emu.api_key)
    ]
    assert isinstance(log[0]["time"], float)
    assert (await admin.delete("/requests")).status_code == 204
    assert (await admin.get("/requests")).json() == []


async def test_seeding_over_http(admin: httpx.AsyncClient, emu: Emulator, make_client: ClientFactory) -> None:
    org = (await admin.post("/organizations", json={"display_name": "acme"})).json()["id"]
    env = (await admin.post("/environments", json={"display_name": "prod", "organization_id": org})).json()["id"]
    cluster = (
        await admin.post("/kafka-clusters", json={"environment_id": env, "cloud": "GCP", "region": "europe-west1"})
    ).json()["id"]
    key = await admin.post("/api-keys", json={"key": "ACMEKEY000000001", "secret": "a" * 64, "organization_id": org})
    assert key.status_code == 201
    async with make_client(emu, auth=("ACMEKEY000000001", "a" * 64)) as acme:
        assert [e["id"] for e in (await acme.get("/org/v2/environments")).json()["data"]] == [env]
        read = (await acme.get(f"/cmk/v2/clusters/{cluster}", params={"environment": env})).json()
        assert (read["spec"]["cloud"], read["spec"]["region"]) == ("GCP", "europe-west1")
    assert (await admin.post("/environments", json={"organization_id": "nope"})).status_code == 400


async def test_timing_and_outcomes_over_http(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, emu: Emulator
) -> None:
    timing = (await admin.put("/timing", json={"connector_provisioning": 60})).json()
    assert timing["connector_provisioning"] == 60.0
    assert (await admin.post("/connector-outcomes", json={"name": "x", "state": "BROKEN"})).status_code == 400
    assert (
        await admin.post("/connector-outcomes", json={"name": "x", "state": "FAILED", "trace": "boom"})
    ).status_code == 204
    body = {"name": "x", "config": {"connector.class": "DatagenSource", "kafka.api.key": "K", "kafka.api.secret": "S"}}
    await client.post(connectors_path(emu), json=body)
    assert (await client.get(connectors_path(emu, "/x/status"))).json()["connector"]["state"] == "PROVISIONING"
    await admin.put("/timing", json={"connector_provisioning": 0})
    await client.post(connectors_path(emu, "/x/restart"))
    assert (await client.get(connectors_path(emu, "/x/status"))).json()["connector"]["state"] == "RUNNING"


async def test_reset_over_http(admin: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await client.post("/iam/v2/service-accounts", json={"display_name": "temp"})
    assert (await admin.post("/reset")).status_code == 204
    assert (await client.get("/iam/v2/service-accounts")).json()["data"] == []


async def test_the_admin_api_is_not_rate_limited(admin: httpx.AsyncClient, emu: Emulator) -> None:
    emu.set_rate_limit(rate=1, burst=1)
    assert [(await admin.get("/health")).status_code for _ in range(5)] == [200] * 5


async def test_state_survives_a_restart(tmp_path: Path, make_client: ClientFactory) -> None:
    path = tmp_path / "state" / "emulator.json"
    first = Emulator(state_file=path)
    async with make_client(first) as client:
        sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "durable"})).json()["id"]
        key = (await client.post("/iam/v2/api-keys", json={"spec": {"owner": {"id": sa}}})).json()
        body = {
            "name": "kept",
            "config": {"connector.class": "DatagenSource", "kafka.api.key": "K", "kafka.api.secret": "S"},
        }
        await client.post(connectors_path(first), json=body)
        await client.put(connectors_path(first, "/kept/pause"))
        gone = (await client.post("/iam/v2/service-accounts", json={"display_name": "gone"})).json()["id"]
        await client.delete(f"/iam/v2/service-accounts/{gone}")
    assert path.exists()
    assert not list(path.parent.glob(".emulator.json.*"))  # no temporary file left behind

    second = Emulator(state_file=path)
    assert (second.environment_id, second.kafka_cluster_id) == (first.environment_id, first.kafka_cluster_id)
    async with make_client(second) as client:
        assert (await client.get(f"/iam/v2/service-accounts/{sa}")).json()["display_name"] == "durable"
        assert (await client.get(f"/iam/v2/api-keys/{key['id']}")).status_code == 200
        assert (await client.get(f"/iam/v2/service-accounts/{gone}")).status_code == 403
        status = (await client.get(connectors_path(second, "/kept/status"))).json()
        assert status["connector"]["state"] == "PAUSED"
    async with make_client(second, auth=(key["id"], key["spec"]["secret"])) as new_key:
        assert (await new_key.get("/org/v2/environments")).status_code == 200


def test_a_restart_with_another_cloud_key_keeps_the_state_and_accepts_the_key(tmp_path: Path) -> None:
    path = tmp_path / "emulator.json"
    first = Emulator(state_file=path)
    second = Emulator(api_key="ROTATEDKEY000001", api_secret="r" * 64, state_file=path)
    assert second.organization_id == first.organization_id
    assert "ROTATEDKEY000001" in second.core.state.api_keys


def test_a_state_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format"):
        Emulator(state_file=path)
