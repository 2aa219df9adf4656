"""connect/v1 connectors: lifecycle, phases, masking, the expanded list and custom validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator, Timing

from .conftest import ClientFactory, Clock, connectors_path, ready_ccpm_plugin

MANAGED = {"connector.class": "DatagenSource", "kafka.api.key": "ORDERSKEY", "kafka.api.secret": "s3cr3t-value"}


async def create(client: httpx.AsyncClient, emu: Emulator, name: str, config: dict[str, str]) -> httpx.Response:
    return await client.post(connectors_path(emu), json={"name": name, "config": config})


async def state_of(client: httpx.AsyncClient, emu: Emulator, name: str) -> str:
    response = await client.get(connectors_path(emu, f"/{name}/status"))
    assert response.status_code == 200, response.text
    state: str = response.json()["connector"]["state"]
    return state


async def test_managed_connector_lifecycle(client: httpx.AsyncClient, emu: Emulator) -> None:
    created = await create(client, emu, "orders", {**MANAGED, "tasks.max": "2"})
    assert created.status_code == 201
    assert created.json()["tasks"] == [{"connector": "orders", "task": 0}, {"connector": "orders", "task": 1}]
    assert "id" not in created.json()
    assert (await client.get(connectors_path(emu))).json() == ["orders"]
    assert (await client.get(connectors_path(emu, "/orders"))).json()["name"] == "orders"
    status = (await client.get(connectors_path(emu, "/orders/status"))).json()
    assert status["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in status["tasks"]] == ["RUNNING", "RUNNING"]
    tasks = (await client.get(connectors_path(emu, "/orders/tasks"))).json()
    assert [t["id"] for t in tasks] == [{"connector": "orders", "task": 0}, {"connector": "orders", "task": 1}]

    deleted = await client.delete(connectors_path(emu, "/orders"))
    assert (deleted.status_code, deleted.json()) == (200, {"error": None})
    gone = await client.get(connectors_path(emu, "/orders"))
    assert (gone.status_code, gone.json()) == (404, {"error_code": 404, "message": "resource not found"})
    assert (await client.get(connectors_path(emu))).json() == []


async def test_provisioning_turns_running_after_the_configured_time(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=60), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "slow", MANAGED)
        status = (await client.get(connectors_path(emu, "/slow/status"))).json()
        assert (status["connector"]["state"], status["tasks"]) == ("PROVISIONING", [])
        clock.advance(59)
        assert await state_of(client, emu, "slow") == "PROVISIONING"
        clock.advance(1)
        assert await state_of(client, emu, "slow") == "RUNNING"
        # PUT config of a new name is a create, and provisions like one
        assert (await client.put(connectors_path(emu, "/fresh/config"), json=MANAGED)).status_code == 200
        assert await state_of(client, emu, "fresh") == "PROVISIONING"


@pytest.mark.parametrize(
    ("paused", "after_update"),
    [(False, "RUNNING"), (True, "PAUSED")],
    ids=["an update keeps a running connector running", "an update keeps a paused connector paused"],
)
async def test_a_config_update_keeps_the_connectors_state(
    make_client: ClientFactory, clock: Clock, paused: bool, after_update: str
) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=60), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "orders", MANAGED)
        clock.advance(60)
        if paused:
            await client.put(connectors_path(emu, "/orders/pause"))
        updated = await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "changed"})
        assert (updated.status_code, updated.json()["config"]["topics"]) == (200, "changed")
        assert await state_of(client, emu, "orders") == after_update


async def test_pause_and_resume_right_after_an_update(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    emu.timing.connector_provisioning = 60
    await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "changed"})
    assert (await client.put(connectors_path(emu, "/orders/pause"))).status_code == 202
    status = (await client.get(connectors_path(emu, "/orders/status"))).json()
    assert (status["connector"]["state"], [t["state"] for t in status["tasks"]]) == ("PAUSED", ["PAUSED"])
    assert (await client.put(connectors_path(emu, "/orders/resume"))).status_code == 202
    assert await state_of(client, emu, "orders") == "RUNNING"


async def test_an_update_while_provisioning_keeps_the_original_deadline(
    make_client: ClientFactory, clock: Clock
) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=60), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "orders", MANAGED)
        clock.advance(30)
        await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "changed"})
        assert await state_of(client, emu, "orders") == "PROVISIONING"
        clock.advance(30)
        assert await state_of(client, emu, "orders") == "RUNNING"


async def test_an_update_leaves_the_outcome_for_the_next_provisioning(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    emu.set_connector_outcome("orders", "FAILED", "boom")
    await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "changed"})
    assert await state_of(client, emu, "orders") == "RUNNING"
    await client.post(connectors_path(emu, "/orders/restart"))
    status = (await client.get(connectors_path(emu, "/orders/status"))).json()
    assert (status["connector"]["state"], status["connector"]["trace"]) == ("FAILED", "boom")


@pytest.mark.parametrize(
    ("outcome", "task_states"),
    [("FAILED", ["FAILED", "FAILED"]), ("DEGRADED", ["FAILED", "RUNNING"])],
    ids=["failed connector fails every task", "degraded connector fails one task"],
)
async def test_an_outcome_set_for_a_name_ends_its_provisioning(
    client: httpx.AsyncClient, emu: Emulator, outcome: str, task_states: list[str]
) -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: cannot reach the database"
    emu.set_connector_outcome("broken", outcome, trace)
    await create(client, emu, "broken", {**MANAGED, "tasks.max": "2"})
    await create(client, emu, "fine", MANAGED)
    status = (await client.get(connectors_path(emu, "/broken/status"))).json()
    assert (status["connector"]["state"], status["connector"]["trace"]) == (outcome, trace)
    assert [t["state"] for t in status["tasks"]] == task_states
    assert await state_of(client, emu, "fine") == "RUNNING"

    assert (await client.post(connectors_path(emu, "/broken/restart"))).status_code == 202
    assert await state_of(client, emu, "broken") == "RUNNING"


async def test_restarting_the_failing_task_heals_a_degraded_connector(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.set_connector_outcome(None, "DEGRADED", "task 0 died")
    await create(client, emu, "flaky", MANAGED)
    assert (await client.post(connectors_path(emu, "/flaky/tasks/7/restart"))).status_code == 404
    assert (await client.post(connectors_path(emu, "/flaky/tasks/0/restart"))).status_code == 202
    assert await state_of(client, emu, "flaky") == "RUNNING"


async def test_pause_and_resume(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    paused = await client.put(connectors_path(emu, "/orders/pause"))
    assert (paused.status_code, paused.content) == (202, b"")
    status = (await client.get(connectors_path(emu, "/orders/status"))).json()
    assert status["connector"]["state"] == "PAUSED"
    assert [t["state"] for t in status["tasks"]] == ["PAUSED"]
    assert (await client.post(connectors_path(emu, "/orders/restart"))).status_code == 202
    assert await state_of(client, emu, "orders") == "PAUSED"
    assert (await client.put(connectors_path(emu, "/orders/resume"))).status_code == 202
    assert await state_of(client, emu, "orders") == "RUNNING"
    assert (await client.put(connectors_path(emu, "/orders/resume"))).status_code == 202


async def test_a_duplicate_name_is_a_conflict_in_connects_shape(client: httpx.AsyncClient, emu: Emulator) -> None:
    assert (await create(client, emu, "orders", MANAGED)).status_code == 201
    again = await create(client, emu, "orders", MANAGED)
    assert (again.status_code, again.json()) == (409, {"error_code": 409, "message": "Connector orders already exists"})


async def test_an_unknown_environment_or_cluster_is_account_not_found(client: httpx.AsyncClient, emu: Emulator) -> None:
    other_env = emu.add_environment("other")
    for url in (
        f"/connect/v1/environments/env-nope00/clusters/{emu.kafka_cluster_id}/connectors",
        f"/connect/v1/environments/{other_env}/clusters/{emu.kafka_cluster_id}/connectors",
    ):
        response = await client.get(url)
        assert (response.status_code, response.json()) == (
            404,
            {"error": {"code": 404, "message": "account not found"}},
        )


async def test_reads_mask_secrets_and_add_the_servers_keys(client: httpx.AsyncClient, emu: Emulator) -> None:
    config = {**MANAGED, "database.password": "pw", "ssl.truststore.password": "pw2", "topics": "orders"}
    created = (await create(client, emu, "orders", config)).json()["config"]
    read = (await client.get(connectors_path(emu, "/orders/config"))).json()
    assert created == read
    for key in ("kafka.api.key", "kafka.api.secret", "database.password", "ssl.truststore.password"):
        assert read[key] == "****************", key
    assert read["topics"] == "orders"
    assert read["cloud.environment"] == "prod"
    assert read["cloud.provider"] == "aws"
    assert read["kafka.region"] == "us-west-2"
    assert read["kafka.endpoint"].startswith("SASL_SSL://pkc-")
    assert read["name"] == "orders"
    assert "s3cr3t-value" not in (await client.get(connectors_path(emu, "?expand=info"))).text


async def test_a_masked_value_written_back_keeps_the_stored_secret(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    masked = (await client.get(connectors_path(emu, "/orders/config"))).json()
    updated = await client.put(connectors_path(emu, "/orders/config"), json={**masked, "topics": "more"})
    assert updated.status_code == 200
    assert updated.json()["config"]["topics"] == "more"
    key = f"{emu.kafka_cluster_id}/orders"
    assert emu.core.state.connectors[key].config["kafka.api.secret"] == "s3cr3t-value"


async def test_put_config_creates_then_replaces_the_whole_config(client: httpx.AsyncClient, emu: Emulator) -> None:
    first = await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "a", "extra": "x"})
    assert first.status_code == 200
    second = await client.put(connectors_path(emu, "/orders/config"), json={**MANAGED, "topics": "b"})
    assert second.status_code == 200
    config = (await client.get(connectors_path(emu, "/orders/config"))).json()
    assert config["topics"] == "b"
    assert "extra" not in config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kafka.api.key": "K", "kafka.api.secret": "S"}, "connector.class"),
        ({"connector.class": "DatagenSource", "kafka.api.key": "K"}, "kafka.api.secret"),
        ({**MANAGED, "name": "other"}, "must equal the connector name"),
        ({**MANAGED, "kafka.auth.mode": "SERVICE_ACCOUNT", "kafka.service.account.id": "sa-nope00"}, "sa-nope00"),
        ({**MANAGED, "kafka.auth.mode": "OAUTH"}, "kafka.auth.mode"),
        ({**MANAGED, "tasks.max": 2}, "map of strings"),
        ({**MANAGED, "confluent.connector.type": "CUSTOM"}, "confluent.custom.plugin.id"),
        ({**MANAGED, "confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": "ccp-nope00"}, "ccp-nope00"),
    ],
    ids=[
        "managed needs a class",
        "an API key needs its secret",
        "config name must match",
        "service account must exist",
        "unknown auth mode",
        "values must be strings",
        "custom needs a plugin id",
        "custom plugin must exist",
    ],
)
async def test_invalid_configs_are_bad_requests(
    client: httpx.AsyncClient, emu: Emulator, config: dict[str, Any], message: str
) -> None:
    response = await create(client, emu, "orders", config)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert (await client.get(connectors_path(emu))).json() == []


async def test_a_custom_connector_runs_its_plugins_class_and_masks_its_sensitive_properties(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    plugin_id, _ = await ready_ccpm_plugin(client, emu, sensitive=("db.secret.value", "api.credential"))
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "confluent.custom.plugin.version": "1.0.0",
        "connector.class": "io.example.OrdersSource",
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
        "api.credential": "plain-looking",
        "db.host": "db.example",
    }
    created = await create(client, emu, "custom", config)
    assert created.status_code == 201, created.text
    assert created.json()["type"] == "source"
    read = (await client.get(connectors_path(emu, "/custom/config"))).json()
    assert read["api.credential"] == "****************"
    assert read["db.host"] == "db.example"

    listed = (await client.get(connectors_path(emu, "?expand=id"))).json()
    assert listed["custom"]["id"]["id"].startswith("clcc-")
    assert listed["custom"]["id"]["id_type"] == "ID"


async def test_a_custom_connector_without_class_or_version_gets_the_latest_ready_one(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    plugin_id, _ = await ready_ccpm_plugin(client, emu, classes=(("io.example.OrdersSink", "SINK"),))
    config = {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": plugin_id, **MANAGED}
    del config["connector.class"]
    created = await create(client, emu, "sink", config)
    assert created.status_code == 201, created.text
    assert created.json()["type"] == "sink"
    assert created.json()["config"]["connector.class"] == "io.example.OrdersSink"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"connector.class": "io.example.Elsewhere"}, "is not one of the classes"),
        ({"confluent.custom.plugin.version": "9.9.9"}, "9.9.9"),
    ],
    ids=["class outside the plugin", "unknown version"],
)
async def test_custom_connectors_are_checked_against_their_plugin(
    client: httpx.AsyncClient, emu: Emulator, extra: dict[str, str], message: str
) -> None:
    plugin_id, _ = await ready_ccpm_plugin(client, emu)
    config = {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": plugin_id, **MANAGED, **extra}
    response = await create(client, emu, "custom", config)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_a_version_still_processing_cannot_run_a_connector(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(timing=Timing(plugin_version_processing=30), clock=clock)
    async with make_client(emu) as client:
        plugin_id, _ = await ready_ccpm_plugin(client, emu)
        config = {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": plugin_id, **MANAGED}
        config["confluent.custom.plugin.version"] = "1.0.0"
        response = await create(client, emu, "early", config)
        assert response.status_code == 400
        assert "PROCESSING, not READY" in response.json()["error"]["message"]
        del config["confluent.custom.plugin.version"]
        assert "no READY version" in (await create(client, emu, "early", config)).json()["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "expand=info,status,id",
        "expand=info%2Cstatus%2Cid",
        "expand=info&expand=status&expand=id",
        "expand=info%2Cstatus%2Cid&expand=id",
    ],
    ids=["comma joined", "percent-encoded commas (Go SDK)", "repeated parameters", "encoded plus repeated (CLI)"],
)
async def test_the_expanded_list_reads_expand_every_way_clients_send_it(
    client: httpx.AsyncClient, emu: Emulator, query: str
) -> None:
    await create(client, emu, "orders", MANAGED)
    body = (await client.get(connectors_path(emu, f"?{query}"))).json()
    entry = body["orders"]
    assert set(entry) >= {"id", "info", "status"}
    assert entry["id"]["id"].startswith("lcc-")
    assert entry["info"]["config"]["kafka.api.key"] == "****************"
    assert entry["status"]["connector"]["state"] == "RUNNING"


async def test_the_expanded_list_shows_only_what_was_asked(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    body = (await client.get(connectors_path(emu, "?expand=status"))).json()
    assert "status" in body["orders"]
    assert "id" not in body["orders"]
    assert "info" not in body["orders"]
    assert (await client.get(connectors_path(emu, "?expand=id"))).json()["orders"]["id"]["id"].startswith("lcc-")


async def test_a_new_connector_is_missing_from_the_lists_for_a_while(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(timing=Timing(connector_listing=5), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "fresh", MANAGED)
        assert (await client.get(connectors_path(emu))).json() == []
        assert (await client.get(connectors_path(emu, "?expand=id"))).json() == {}
        assert (await client.get(connectors_path(emu, "/fresh"))).status_code == 200
        clock.advance(5)
        assert (await client.get(connectors_path(emu))).json() == ["fresh"]


async def test_a_version_in_use_cannot_be_deleted(client: httpx.AsyncClient, emu: Emulator) -> None:
    plugin_id, version_id = await ready_ccpm_plugin(client, emu)
    config = {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": plugin_id, "kafka.api.key": "K"}
    assert (await create(client, emu, "user", {**config, "kafka.api.secret": "S"})).status_code == 201
    env = {"environment": emu.environment_id}
    refused = await client.delete(f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params=env)
    assert refused.status_code == 400
    assert "user" in refused.json()["errors"][0]["detail"]
    assert (await client.delete(f"/ccpm/v1/plugins/{plugin_id}", params=env)).status_code == 400
    await client.delete(connectors_path(emu, "/user"))
    assert (await client.delete(f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params=env)).status_code == 204
