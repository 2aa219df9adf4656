"""Custom connectors of one cluster: the expanded list (the only source of the ID), config, lifecycle."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    Cloud,
    Conflict,
    ConfluentClient,
    ConnectorClass,
    ConnectorState,
    ContentFormat,
    NotFound,
    ValidationFailed,
    is_masked,
)
from ccloud_operator.confluent.connectors import Offset

CLASS = "io.example.connect.OrdersSource"
NAME = "orders source & co"  # a name that needs escaping in the path


@pytest.fixture
async def plugin_id(client: ConfluentClient, emulator: Emulator) -> str:
    env = emulator.environment_id
    plugin = await client.plugins.create("orders", Cloud.AWS, env)
    presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, Cloud.AWS, env)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("orders.jar", b"classes")
    await client.uploads.upload(presigned, buffer.getvalue())
    await client.plugin_versions.create(
        plugin.id, env, "1.0.0", [ConnectorClass(class_name=CLASS, type="SOURCE")], presigned.upload_id,
        sensitive_config_properties=["orders.token"],
    )  # fmt: skip
    return plugin.id


@pytest.fixture
def config(plugin_id: str, remember: Callable[[str], str]) -> dict[str, str]:
    return {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "connector.class": CLASS,
        "kafka.auth.mode": "KAFKA_API_KEY",
        "kafka.api.key": "ORDERSKAFKAKEY01",
        "kafka.api.secret": remember("kafka-secret-0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"),
        "orders.token": remember("orders-token-9a8b7c6d5e4f"),
        "tasks.max": "2",
        "kafka.topic": "orders",
    }


async def test_connector_lifecycle(client: ConfluentClient, emulator: Emulator, config: dict[str, str]) -> None:
    env, lkc = emulator.environment_id, emulator.kafka_cluster_id

    created = await client.connectors.create(env, lkc, NAME, config)
    assert created.name == NAME
    assert config["kafka.api.secret"] not in repr(created)

    listed = await client.connectors.list(env, lkc)
    entry = listed[NAME]
    assert entry.connector_id is not None and entry.connector_id.startswith("clcc-")
    assert entry.info is not None and entry.status is not None
    assert is_masked(entry.info.config["kafka.api.secret"])
    assert is_masked(entry.info.config["orders.token"])
    assert entry.info.config["kafka.topic"] == "orders"
    assert (await client.connectors.find(env, lkc, NAME)) == entry
    assert await client.connectors.names(env, lkc) == [NAME]

    assert (await client.connectors.get(env, lkc, NAME)).config["tasks.max"] == "2"
    status = await client.connectors.status(env, lkc, NAME)
    assert status.state == ConnectorState.RUNNING
    assert [t.id for t in status.tasks] == [0, 1]

    remote = await client.connectors.get_config(env, lkc, NAME)
    assert "kafka.endpoint" in remote  # a key the server adds
    assert is_masked(remote["kafka.api.secret"])

    await client.connectors.pause(env, lkc, NAME)
    assert (await client.connectors.status(env, lkc, NAME)).state == ConnectorState.PAUSED
    await client.connectors.resume(env, lkc, NAME)
    assert (await client.connectors.status(env, lkc, NAME)).state == ConnectorState.RUNNING
    await client.connectors.restart(env, lkc, NAME)

    await client.connectors.delete(env, lkc, NAME)
    with pytest.raises(NotFound):
        await client.connectors.get(env, lkc, NAME)
    with pytest.raises(NotFound):
        await client.connectors.delete(env, lkc, NAME)
    assert await client.connectors.list(env, lkc) == {}


async def test_put_config_creates_then_replaces_the_whole_config(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    env, lkc = emulator.environment_id, emulator.kafka_cluster_id
    await client.connectors.put_config(env, lkc, "orders", config)
    first = (await client.connectors.list(env, lkc))["orders"]

    changed = {**config, "kafka.topic": "orders-v2"}
    await client.connectors.put_config(env, lkc, "orders", changed)
    second = (await client.connectors.list(env, lkc))["orders"]

    assert second.connector_id == first.connector_id
    assert second.info is not None and second.info.config["kafka.topic"] == "orders-v2"


async def test_masked_values_written_back_keep_the_stored_secret(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    env, lkc = emulator.environment_id, emulator.kafka_cluster_id
    await client.connectors.put_config(env, lkc, "orders", config)
    remote = await client.connectors.get_config(env, lkc, "orders")
    # Read-modify-write: what Confluent returned, server keys and masks included, goes back whole.
    await client.connectors.put_config(env, lkc, "orders", {**remote, "kafka.topic": "again"})
    assert (await client.connectors.status(env, lkc, "orders")).state == ConnectorState.RUNNING


async def test_a_create_can_set_where_the_connector_starts(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    start = Offset(partition={"kafka_topic": "orders", "kafka_partition": 0}, offset={"kafka_offset": 50})
    created = await client.connectors.create(
        emulator.environment_id, emulator.kafka_cluster_id, "orders", config, offsets=[start]
    )
    assert created.model_extra is not None
    assert created.model_extra["offsets"] == [start.payload()]


async def test_creating_a_taken_name_is_a_conflict(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    env, lkc = emulator.environment_id, emulator.kafka_cluster_id
    await client.connectors.create(env, lkc, "orders", config)
    with pytest.raises(Conflict):
        await client.connectors.create(env, lkc, "orders", config)


async def test_a_failed_connector_reports_its_trace(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    emulator.set_connector_outcome(name="orders", state="FAILED", trace="topics: Provided Kafka ApiKey is invalid")
    await client.connectors.create(emulator.environment_id, emulator.kafka_cluster_id, "orders", config)
    status = await client.connectors.status(emulator.environment_id, emulator.kafka_cluster_id, "orders")
    assert status.state == ConnectorState.FAILED
    assert status.connector.trace == "topics: Provided Kafka ApiKey is invalid"


async def test_a_rejected_config_names_the_problem_but_not_the_secrets(
    client: ConfluentClient, emulator: Emulator, config: dict[str, str]
) -> None:
    wrong = {**config, "connector.class": "io.example.NotInThePlugin"}
    with pytest.raises(ValidationFailed) as caught:
        await client.connectors.put_config(emulator.environment_id, emulator.kafka_cluster_id, "orders", wrong)
    assert "io.example.NotInThePlugin" in str(caught.value)
    assert config["kafka.api.secret"] not in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "error"),
    [({"tasks.max": 2}, TypeError), ({"name": "another"}, ValueError)],
    ids=["values must be strings", "config name must be the connector's"],
)
async def test_bad_configs_are_refused_before_sending(
    client: ConfluentClient, emulator: Emulator, bad: dict[str, object], error: type[Exception]
) -> None:
    emulator.clear_requests()
    with pytest.raises(error):
        await client.connectors.put_config("env-x", "lkc-x", "orders", bad)  # type: ignore[arg-type]
    assert emulator.requests == []


async def test_an_unknown_cluster_is_not_found(client: ConfluentClient, emulator: Emulator) -> None:
    with pytest.raises(NotFound) as caught:
        await client.connectors.list(emulator.environment_id, "lkc-nothere")
    assert "account not found" in caught.value.detail


@pytest.mark.parametrize(
    ("value", "masked"),
    [("****************", True), ("**", True), ("*", False), ("**secret", False), ("", False), (None, False)],
    ids=["Confluent's sixteen stars", "any run of two or more", "one star", "stars then text", "empty", "absent"],
)
def test_is_masked(value: str | None, masked: bool) -> None:
    assert is_masked(value) is masked
