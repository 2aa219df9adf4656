"""connect/v1 connector states: the status fields clients read, forced failures, restarts, pause and
resume, masking by the plugin, changes made behind the operator's back, and custom connector limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator, Timing

from .conftest import ClientFactory, Clock, archive, connectors_path, ready_ccpm_plugin
from .test_plugins import legacy_body, legacy_upload

MANAGED = {"connector.class": "DatagenSource", "kafka.api.key": "ORDERSKEY", "kafka.api.secret": "s3cr3t-value"}
TRACE = "org.apache.kafka.connect.errors.ConnectException: cannot reach db.example:5432"
# what operator/ccloud_operator/confluent/connectors.py `is_masked` recognises: two asterisks or more
MASKED = "****************"


async def create(client: httpx.AsyncClient, emu: Emulator, name: str, config: dict[str, str]) -> httpx.Response:
    response = await client.post(connectors_path(emu), json={"name": name, "config": config})
    assert response.status_code == 201, response.text
    return response


async def status(client: httpx.AsyncClient, emu: Emulator, name: str) -> dict[str, Any]:
    response = await client.get(connectors_path(emu, f"/{name}/status"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def states(client: httpx.AsyncClient, emu: Emulator, name: str) -> tuple[str, list[str]]:
    """The connector's state and its tasks' states."""
    body = await status(client, emu, name)
    return body["connector"]["state"], [t["state"] for t in body["tasks"]]


async def restart(client: httpx.AsyncClient, emu: Emulator, name: str, task: int | None = None) -> None:
    suffix = f"/{name}/restart" if task is None else f"/{name}/tasks/{task}/restart"
    response = await client.post(connectors_path(emu, suffix))
    assert (response.status_code, response.content) == (202, b"")


# the status fields


async def test_the_status_carries_the_error_fields_real_clients_read(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    read = await status(client, emu, "orders")
    assert (read["errors_from_trace"], read["validation_errors"], read["override_message"]) == ([], [], "")
    assert read["connector"] == {"state": "RUNNING", "worker_id": "orders", "trace": ""}
    expanded = (await client.get(connectors_path(emu, "?expand=status"))).json()["orders"]["status"]
    assert expanded == read


async def test_a_forced_failure_shows_in_the_status_and_the_expanded_list(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    await create(client, emu, "orders", {**MANAGED, "tasks.max": "2"})
    emu.fail_connector(
        "orders",
        TRACE,
        errors_from_trace=["cannot reach db.example:5432", "connection refused"],
        validation_errors=["connection.url: Connection refused"],
        override_message="Unable to connect to the database.",
    )
    read = await status(client, emu, "orders")
    assert read["connector"] == {"state": "FAILED", "worker_id": "orders", "trace": TRACE}
    assert [(t["id"], t["state"], t["msg"]) for t in read["tasks"]] == [(0, "FAILED", TRACE), (1, "FAILED", TRACE)]
    assert read["errors_from_trace"] == [{"error": "cannot reach db.example:5432"}, {"error": "connection refused"}]
    assert read["validation_errors"] == ["connection.url: Connection refused"]
    assert read["override_message"] == "Unable to connect to the database."
    expanded = (await client.get(connectors_path(emu, "?expand=status,info,id"))).json()["orders"]["status"]
    assert expanded == read


async def test_a_failed_task_degrades_the_connector_and_shows_its_own_trace(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    await create(client, emu, "orders", {**MANAGED, "tasks.max": "3"})
    emu.fail_connector("orders", "task 1 died", task=1, errors_from_trace=["task 1 died"])
    read = await status(client, emu, "orders")
    assert [(t["state"], t["msg"]) for t in read["tasks"]] == [
        ("RUNNING", ""),
        ("FAILED", "task 1 died"),
        ("RUNNING", ""),
    ]
    assert (read["connector"]["state"], read["errors_from_trace"]) == ("DEGRADED", [{"error": "task 1 died"}])


# restarts


async def test_a_restart_brings_a_failed_connector_back_through_provisioning(
    make_client: ClientFactory, clock: Clock
) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=60), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "orders", MANAGED)
        clock.advance(60)
        assert await states(client, emu, "orders") == ("RUNNING", ["RUNNING"])
        emu.fail_connector("orders", TRACE, errors_from_trace=["boom"])
        assert await states(client, emu, "orders") == ("FAILED", ["FAILED"])
        await restart(client, emu, "orders")
        assert await states(client, emu, "orders") == ("PROVISIONING", [])
        clock.advance(60)
        healed = await status(client, emu, "orders")
        assert (healed["connector"]["state"], healed["connector"]["trace"], healed["errors_from_trace"]) == (
            "RUNNING",
            "",
            [],
        )


@pytest.mark.parametrize(
    ("heals_after", "after_each_restart"),
    [
        (1, ["RUNNING", "RUNNING", "RUNNING"]),
        (3, ["FAILED", "FAILED", "RUNNING"]),
        (None, ["FAILED", "FAILED", "FAILED"]),
    ],
    ids=["fails once: the first restart heals it", "the third restart heals it", "no restart heals it"],
)
async def test_a_failure_lasts_the_restarts_it_was_given(
    client: httpx.AsyncClient, emu: Emulator, heals_after: int | None, after_each_restart: list[str]
) -> None:
    await create(client, emu, "orders", MANAGED)
    emu.fail_connector("orders", TRACE, heals_after=heals_after)
    seen = []
    for _ in after_each_restart:
        await restart(client, emu, "orders")
        seen.append((await states(client, emu, "orders"))[0])
    assert seen == after_each_restart


async def test_a_task_restart_heals_that_task_only(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", {**MANAGED, "tasks.max": "2"})
    emu.fail_connector("orders", "task 1 died", task=1, heals_after=2)
    await restart(client, emu, "orders", task=0)
    assert await states(client, emu, "orders") == ("DEGRADED", ["RUNNING", "FAILED"])
    await restart(client, emu, "orders", task=1)
    assert await states(client, emu, "orders") == ("DEGRADED", ["RUNNING", "FAILED"])
    await restart(client, emu, "orders", task=1)
    assert await states(client, emu, "orders") == ("RUNNING", ["RUNNING", "RUNNING"])


async def test_a_connector_restart_restarts_its_tasks_but_a_task_restart_not_the_connector(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    await create(client, emu, "tasks", {**MANAGED, "tasks.max": "2"})
    emu.fail_connector("tasks", "task 0 died", task=0)
    await restart(client, emu, "tasks")
    assert await states(client, emu, "tasks") == ("RUNNING", ["RUNNING", "RUNNING"])

    await create(client, emu, "whole", {**MANAGED, "tasks.max": "2"})
    emu.fail_connector("whole", TRACE)
    await restart(client, emu, "whole", task=0)
    await restart(client, emu, "whole", task=1)
    assert await states(client, emu, "whole") == ("FAILED", ["FAILED", "FAILED"])


async def test_restarts_of_what_does_not_exist_are_not_found(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    for suffix in ("/nope/restart", "/nope/tasks/0/restart", "/orders/tasks/1/restart"):
        response = await client.post(connectors_path(emu, suffix))
        assert (response.status_code, response.json()) == (404, {"error_code": 404, "message": "resource not found"})


async def test_a_provisioning_outcome_can_fail_for_several_restarts_with_its_errors(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.set_connector_outcome(
        "orders", "FAILED", TRACE, errors_from_trace=["cannot reach db.example:5432"], heals_after=2
    )
    await create(client, emu, "orders", MANAGED)
    read = await status(client, emu, "orders")
    assert (read["connector"]["state"], read["errors_from_trace"]) == (
        "FAILED",
        [{"error": "cannot reach db.example:5432"}],
    )
    await restart(client, emu, "orders")
    assert (await states(client, emu, "orders"))[0] == "FAILED"
    await restart(client, emu, "orders")
    assert (await states(client, emu, "orders"))[0] == "RUNNING"


async def test_a_provisioning_outcome_is_for_the_environment_and_cluster_it_names(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    other_env = emu.add_environment("other")
    other_cluster = emu.add_kafka_cluster(other_env)
    emu.set_connector_outcome("orders", "FAILED", TRACE, environment_id=other_env, cluster_id=other_cluster)
    await create(client, emu, "orders", MANAGED)
    assert (await states(client, emu, "orders"))[0] == "RUNNING"
    there = f"/connect/v1/environments/{other_env}/clusters/{other_cluster}/connectors"
    assert (await client.post(there, json={"name": "orders", "config": MANAGED})).status_code == 201
    assert (await client.get(f"{there}/orders/status")).json()["connector"]["state"] == "FAILED"


async def test_a_forced_failure_finds_its_connector_by_environment_cluster_and_name(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    other_cluster = emu.add_kafka_cluster(emu.environment_id, display_name="second")
    there = f"/connect/v1/environments/{emu.environment_id}/clusters/{other_cluster}/connectors"
    await create(client, emu, "orders", MANAGED)
    assert (await client.post(there, json={"name": "orders", "config": MANAGED})).status_code == 201
    with pytest.raises(ValueError, match="several clusters"):
        emu.fail_connector("orders", TRACE)
    with pytest.raises(KeyError):
        emu.fail_connector("nope", TRACE)
    with pytest.raises(ValueError, match="no task 1"):
        emu.fail_connector("orders", TRACE, task=1, cluster_id=emu.kafka_cluster_id)
    emu.fail_connector("orders", TRACE, environment_id=emu.environment_id, cluster_id=other_cluster)
    assert (await client.get(f"{there}/orders/status")).json()["connector"]["state"] == "FAILED"
    assert (await states(client, emu, "orders"))[0] == "RUNNING"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"heals_after": 0}, "heals_after must be at least 1"),
        ({"errors_from_trace": "not a list"}, "errors_from_trace must be a list of strings"),
        ({"task": -1}, "task must be a task number"),
    ],
    ids=["a failure must need at least one restart", "errors are a list of strings", "tasks count from 0"],
)
async def test_a_forced_failure_is_checked(
    client: httpx.AsyncClient, emu: Emulator, arguments: dict[str, Any], message: str
) -> None:
    await create(client, emu, "orders", MANAGED)
    with pytest.raises(ValueError, match=message):
        emu.fail_connector("orders", TRACE, **arguments)
    assert (await states(client, emu, "orders"))[0] == "RUNNING"


# pause and resume


async def test_a_connector_paused_while_provisioning_comes_up_paused(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=60, connector_pause_resume=30), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "orders", {**MANAGED, "tasks.max": "2"})
        clock.advance(50)
        assert (await client.put(connectors_path(emu, "/orders/pause"))).status_code == 202
        seen = []
        for _ in range(8):
            seen.append((await states(client, emu, "orders"))[0])
            clock.advance(5)
        # provisioning ends at 60, before the pause lag would: it never shows RUNNING
        assert seen == ["PROVISIONING", "PROVISIONING", "PAUSED", "PAUSED", "PAUSED", "PAUSED", "PAUSED", "PAUSED"]
        assert await states(client, emu, "orders") == ("PAUSED", ["PAUSED", "PAUSED"])
        await client.put(connectors_path(emu, "/orders/resume"))
        clock.advance(30)
        assert await states(client, emu, "orders") == ("RUNNING", ["RUNNING", "RUNNING"])


async def test_a_pause_and_a_resume_take_the_configured_time_to_show(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(timing=Timing(connector_pause_resume=30), clock=clock)
    async with make_client(emu) as client:
        await create(client, emu, "orders", MANAGED)
        await client.put(connectors_path(emu, "/orders/pause"))
        clock.advance(29)
        assert (await states(client, emu, "orders"))[0] == "RUNNING"
        clock.advance(1)
        assert (await states(client, emu, "orders"))[0] == "PAUSED"
        await client.put(connectors_path(emu, "/orders/resume"))
        clock.advance(29)
        assert (await states(client, emu, "orders"))[0] == "PAUSED"
        clock.advance(1)
        assert (await states(client, emu, "orders"))[0] == "RUNNING"
        # a pause taken back before it showed never shows
        await client.put(connectors_path(emu, "/orders/pause"))
        clock.advance(10)
        await client.put(connectors_path(emu, "/orders/resume"))
        for _ in range(5):
            assert (await states(client, emu, "orders"))[0] == "RUNNING"
            clock.advance(10)


async def test_a_paused_failed_connector_fails_again_when_resumed(client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", MANAGED)
    emu.fail_connector("orders", TRACE)
    await client.put(connectors_path(emu, "/orders/pause"))
    assert await states(client, emu, "orders") == ("PAUSED", ["PAUSED"])
    assert (await status(client, emu, "orders"))["connector"]["trace"] == ""
    await restart(client, emu, "orders")  # a paused connector is not restarted: the failure stays
    await client.put(connectors_path(emu, "/orders/resume"))
    assert await states(client, emu, "orders") == ("FAILED", ["FAILED"])
    await restart(client, emu, "orders")
    assert await states(client, emu, "orders") == ("RUNNING", ["RUNNING"])


# masking by the plugin


async def test_a_ccpm_versions_sensitive_properties_are_masked_in_every_read(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    plugin_id, _ = await ready_ccpm_plugin(client, emu, sensitive=("orders.dsn",))
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "kafka.api.key": "ORDERSKEY",
        "kafka.api.secret": "kafka-secret-value",
        "orders.dsn": "postgres://admin:hunter2@db",
        "orders.table": "orders",
    }
    created = await create(client, emu, "custom", config)
    put = await client.put(connectors_path(emu, "/custom/config"), json={**config, "orders.table": "more"})
    reads = [
        created.json()["config"],
        put.json()["config"],
        (await client.get(connectors_path(emu, "/custom"))).json()["config"],
        (await client.get(connectors_path(emu, "/custom/config"))).json(),
        (await client.get(connectors_path(emu, "/custom/tasks"))).json()[0]["config"],
        (await client.get(connectors_path(emu, "?expand=info,status,id"))).json()["custom"]["info"]["config"],
    ]
    for read in reads:
        assert (read["orders.dsn"], read["kafka.api.key"], read["kafka.api.secret"]) == (MASKED, MASKED, MASKED)
        assert read["orders.table"] in ("orders", "more")
    stored = emu.core.state.connectors[f"{emu.kafka_cluster_id}/custom"].config
    assert stored["orders.dsn"] == "postgres://admin:hunter2@db"


async def test_a_legacy_plugins_sensitive_properties_are_masked_as_the_plugin_says_now(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    presigned = await legacy_upload(client, "AWS", archive())
    plugin = (
        await client.post("/connect/v1/custom-connector-plugins", json=legacy_body(presigned["upload_id"]))
    ).json()
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin["id"],
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
        "legacy.dsn": "jdbc:db://admin:hunter2@db",
    }
    await create(client, emu, "legacy", config)
    assert (await client.get(connectors_path(emu, "/legacy/config"))).json()["legacy.dsn"] == config["legacy.dsn"]
    patched = await client.patch(
        f"/connect/v1/custom-connector-plugins/{plugin['id']}",
        json={"sensitive_config_properties": ["legacy.token.value", "legacy.dsn"]},
    )
    assert patched.status_code == 200
    assert (await client.get(connectors_path(emu, "/legacy/config"))).json()["legacy.dsn"] == MASKED
    listed = (await client.get(connectors_path(emu, "?expand=info"))).text
    assert "hunter2" not in listed


# changes behind the operator's back


async def test_a_config_put_behind_the_operators_back_keeps_secrets_and_leaves_the_server_keys_to_the_server(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    await create(client, emu, "orders", {**MANAGED, "topics": "orders"})
    first_id = (await client.get(connectors_path(emu, "?expand=id"))).json()["orders"]["id"]["id"]
    read = (await client.get(connectors_path(emu, "/orders/config"))).json()
    changed = {**read, "topics": "changed", "kafka.region": "eu-west-1", "cloud.provider": "gcp"}
    assert (await client.put(connectors_path(emu, "/orders/config"), json=changed)).status_code == 200

    stored = emu.core.state.connectors[f"{emu.kafka_cluster_id}/orders"].config
    assert not {"cloud.environment", "cloud.provider", "kafka.endpoint", "kafka.region"} & set(stored)
    assert stored["kafka.api.secret"] == "s3cr3t-value"
    after = (await client.get(connectors_path(emu, "/orders/config"))).json()
    assert (after["topics"], after["kafka.region"], after["cloud.provider"]) == ("changed", "us-west-2", "aws")
    assert (await client.get(connectors_path(emu, "?expand=id"))).json()["orders"]["id"]["id"] == first_id
    assert (await states(client, emu, "orders"))[0] == "RUNNING"


async def test_the_masked_kafka_key_of_a_service_account_connector_is_never_taken_as_a_credential(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "runner"})).json()["id"]
    config = {"connector.class": "DatagenSource", "kafka.auth.mode": "SERVICE_ACCOUNT", "kafka.service.account.id": sa}
    await create(client, emu, "orders", config)
    read = (await client.get(connectors_path(emu, "/orders/config"))).json()
    assert (read["kafka.api.key"], read["kafka.api.secret"]) == (MASKED, MASKED)
    assert (await client.put(connectors_path(emu, "/orders/config"), json=read)).status_code == 200
    switched = await client.put(
        connectors_path(emu, "/orders/config"), json={**read, "kafka.auth.mode": "KAFKA_API_KEY"}
    )
    assert switched.status_code == 400
    assert "kafka.api.key" in switched.json()["error"]["message"]


async def test_a_connector_deleted_behind_the_operators_back_is_gone_everywhere(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    await create(client, emu, "orders", MANAGED)
    deleted = await client.delete(connectors_path(emu, "/orders"))
    assert (deleted.status_code, deleted.json()) == (200, {"error": None})
    assert (await client.get(connectors_path(emu, "?expand=id,info,status"))).json() == {}
    for response in (
        await client.get(connectors_path(emu, "/orders/status")),
        await client.get(connectors_path(emu, "/orders/config")),
        await client.post(connectors_path(emu, "/orders/restart")),
        await client.delete(connectors_path(emu, "/orders")),
    ):
        assert (response.status_code, response.json()) == (404, {"error_code": 404, "message": "resource not found"})
    with pytest.raises(KeyError):
        emu.fail_connector("orders", TRACE)


# custom connector limits


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("o" * 65, {}, "at most 64 characters"),
        ("orders@prod", {}, "'@'"),
        ("orders", {"tasks.max": "6"}, "tasks.max (6) is over 5"),
    ],
    ids=["a name over 64 characters", "a name with a character outside the allowed ones", "more than five tasks"],
)
async def test_custom_connectors_have_confluents_limits(
    client: httpx.AsyncClient, emu: Emulator, name: str, extra: dict[str, str], message: str
) -> None:
    plugin_id, _ = await ready_ccpm_plugin(client, emu)
    config = {"confluent.connector.type": "CUSTOM", "confluent.custom.plugin.id": plugin_id, **MANAGED, **extra}
    del config["connector.class"]
    response = await client.post(connectors_path(emu), json={"name": name, "config": config})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert (await client.get(connectors_path(emu))).json() == []
    # within the limits, the same connector is made; a managed one has no such limits
    allowed = {**config, "tasks.max": "5", "name": "Bestellungen_ü.[1] & co-2"}
    assert (await create(client, emu, "Bestellungen_ü.[1] & co-2", allowed)).json()["type"] == "source"
    await create(client, emu, "m" * 65, {**MANAGED, "tasks.max": "6"})


# over HTTP and across restarts


@pytest.fixture
async def admin(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu/_emulator") as c:
        yield c


async def test_connector_failures_over_http(admin: httpx.AsyncClient, client: httpx.AsyncClient, emu: Emulator) -> None:
    await create(client, emu, "orders", {**MANAGED, "tasks.max": "2"})
    body = {
        "name": "orders",
        "trace": TRACE,
        "task": 1,
        "errors_from_trace": ["boom"],
        "heals_after": None,
        "environment_id": emu.environment_id,
        "cluster_id": emu.kafka_cluster_id,
    }
    assert (await admin.post("/connector-failures", json=body)).status_code == 204
    for _ in range(3):
        await restart(client, emu, "orders", task=1)
    read = await status(client, emu, "orders")
    assert (read["connector"]["state"], read["tasks"][1]["msg"], read["errors_from_trace"]) == (
        "DEGRADED",
        TRACE,
        [{"error": "boom"}],
    )
    for bad in (
        {**body, "name": "nope"},
        {**body, "task": 2},
        {**body, "heals_after": 0},
        {**body, "errors_from_trace": "boom"},
        {"name": "orders"},
    ):
        response = await admin.post("/connector-failures", json=bad)
        assert response.status_code == 400, bad
        assert "error" in response.json()


async def test_connector_outcomes_over_http_take_the_failure_fields(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, emu: Emulator
) -> None:
    outcome = {
        "name": "orders",
        "state": "FAILED",
        "trace": TRACE,
        "validation_errors": ["topics: not found"],
        "override_message": "Check the topic.",
        "heals_after": 2,
        "cluster_id": emu.kafka_cluster_id,
    }
    assert (await admin.post("/connector-outcomes", json=outcome)).status_code == 204
    await create(client, emu, "orders", MANAGED)
    read = await status(client, emu, "orders")
    assert (read["validation_errors"], read["override_message"]) == (["topics: not found"], "Check the topic.")
    await restart(client, emu, "orders")
    assert (await states(client, emu, "orders"))[0] == "FAILED"
    await restart(client, emu, "orders")
    assert (await states(client, emu, "orders"))[0] == "RUNNING"
    timing = (await admin.put("/timing", json={"connector_pause_resume": 5})).json()
    assert timing["connector_pause_resume"] == 5.0


async def test_failures_and_pauses_survive_an_emulator_restart(tmp_path: Path, make_client: ClientFactory) -> None:
    path = tmp_path / "emulator.json"
    first = Emulator(state_file=path)
    async with make_client(first) as client:
        await create(client, first, "failing", {**MANAGED, "tasks.max": "2"})
        first.fail_connector("failing", TRACE, task=1, heals_after=2)
        await create(client, first, "paused", MANAGED)
        await client.put(connectors_path(first, "/paused/pause"))
    second = Emulator(state_file=path)
    async with make_client(second) as client:
        assert await states(client, second, "failing") == ("DEGRADED", ["RUNNING", "FAILED"])
        await restart(client, second, "failing", task=1)
        assert await states(client, second, "failing") == ("DEGRADED", ["RUNNING", "FAILED"])
        await restart(client, second, "failing", task=1)
        assert await states(client, second, "failing") == ("RUNNING", ["RUNNING", "RUNNING"])
        assert (await states(client, second, "paused"))[0] == "PAUSED"


async def test_a_state_file_from_before_failures_were_kept_still_loads_them(
    tmp_path: Path, make_client: ClientFactory
) -> None:
    path = tmp_path / "emulator.json"
    first = Emulator(state_file=path)
    async with make_client(first) as client:
        await create(client, first, "old", MANAGED)
    saved = json.loads(path.read_text())
    for raw in saved["connectors"].values():
        del raw["failures"]
        raw.update(outcome="FAILED", trace="saved trace")
    path.write_text(json.dumps(saved))
    second = Emulator(state_file=path)
    async with make_client(second) as client:
        read = await status(client, second, "old")
        assert (read["connector"]["state"], read["connector"]["trace"]) == ("FAILED", "saved trace")
