"""Environments and Kafka clusters, read only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import ConfluentClient, NotFound


async def test_environments_list_every_page_and_read_one(client: ConfluentClient, emulator: Emulator) -> None:
    added = {emulator.add_environment(display_name=f"env-{n}") for n in range(4)}
    listed = await client.environments.list()
    assert {e.id for e in listed} >= added | {emulator.environment_id}
    one = await client.environments.get(emulator.environment_id)
    assert one.id == emulator.environment_id
    assert one.display_name


async def test_a_cluster_tells_its_rest_endpoint(client: ConfluentClient, emulator: Emulator) -> None:
    cluster = await client.clusters.get(emulator.kafka_cluster_id, environment_id=emulator.environment_id)
    assert cluster.id == emulator.kafka_cluster_id
    assert cluster.http_endpoint == client.base_url
    assert cluster.spec.kafka_bootstrap_endpoint


@pytest.mark.parametrize(
    "call",
    [
        lambda c, e: c.environments.get("env-nothere"),
        lambda c, e: c.clusters.get("lkc-nothere", environment_id=e.environment_id),
        lambda c, e: c.clusters.get(e.kafka_cluster_id, environment_id="env-x"),
    ],
    ids=["unknown environment", "unknown cluster", "cluster asked for in the wrong environment"],
)
async def test_unknown_references_are_not_found(
    client: ConfluentClient, emulator: Emulator, call: Callable[[ConfluentClient, Emulator], Awaitable[object]]
) -> None:
    with pytest.raises(NotFound):
        await call(client, emulator)
