"""Service accounts and API keys against the emulator, including the propagation probe."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from ccloud_emulator import Emulator, Timing
from ccloud_operator.confluent import (
    CLOUD_RESOURCE,
    Conflict,
    ConfluentClient,
    Forbidden,
    NotFound,
    ServiceAccount,
    ValidationFailed,
)

if TYPE_CHECKING:
    from tests.client.conftest import Clock


async def test_service_account_lifecycle(client: ConfluentClient) -> None:
    created = await client.service_accounts.create("orders", description="the orders team")
    assert created.id.startswith("sa-")
    assert (created.display_name, created.description) == ("orders", "the orders team")
    assert (await client.service_accounts.get(created.id)).description == "the orders team"

    updated = await client.service_accounts.update(created.id, description="renamed team")
    assert (updated.display_name, updated.description) == ("orders", "renamed team")

    found = await client.service_accounts.find_by_display_name("orders")
    assert found is not None and found.id == created.id

    await client.service_accounts.delete(created.id)
    with pytest.raises(NotFound):
        await client.service_accounts.get(created.id)
    # Deleting it again is answered 403: a refusal on a write, never taken for "gone" (a read says that).
    with pytest.raises(Forbidden):
        await client.service_accounts.delete(created.id)


async def test_list_follows_every_page(client: ConfluentClient, emulator: Emulator) -> None:
    before = {sa.id for sa in await client.service_accounts.list()}
    created = {(await client.service_accounts.create(f"paged-{n}")).id for n in range(7)}
    emulator.clear_requests()

    listed = await client.service_accounts.list()

    assert {sa.id for sa in listed} == before | created
    assert len(listed) == len(before | created)
    pages = [r for r in emulator.requests if r.path == "/iam/v2/service-accounts"]
    assert len(pages) == -(-len(listed) // 3)  # page_size=3 in the test client
    assert all("page_token=" in r.query for r in pages[1:])


async def test_a_taken_display_name_is_a_conflict(client: ConfluentClient) -> None:
    await client.service_accounts.create("payments")
    with pytest.raises(Conflict) as caught:
        await client.service_accounts.create("payments")
    assert caught.value.status == 409
    assert caught.value.request_id


async def test_an_invalid_display_name_is_a_validation_failure(client: ConfluentClient) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await client.service_accounts.create("x" * 65)
    assert caught.value.status in (400, 422)
    assert "display_name" in caught.value.detail


@pytest.mark.parametrize(
    "lookup",
    ["sa-doesnotexist", "sa-000000"],
    ids=["unknown id", "well-formed but never created"],
)
async def test_an_unknown_service_account_is_not_found(client: ConfluentClient, lookup: str) -> None:
    with pytest.raises(NotFound):
        await client.service_accounts.get(lookup)
    assert await client.service_accounts.find_by_display_name(lookup) is None


async def test_api_key_lifecycle_and_the_secret_only_on_create(
    client: ConfluentClient, emulator: Emulator, remember: Callable[[str], str]
) -> None:
    owner = await client.service_accounts.create("key-owner")
    key = await client.api_keys.create(
        owner_id=owner.id,
        resource_id=emulator.kafka_cluster_id,
        environment_id=emulator.environment_id,
        display_name="orders-key",
        description="for orders",
    )
    assert key.secret is not None
    secret = remember(key.secret.get_secret_value())
    assert len(secret) == 64
    assert secret not in repr(key) and secret not in str(key)
    assert (key.owner_id, key.resource_id) == (owner.id, emulator.kafka_cluster_id)

    read = await client.api_keys.get(key.id)
    assert read.secret is None
    assert read.spec.display_name == "orders-key"
    assert [k.id for k in await client.api_keys.list(owner=owner.id)] == [key.id]
    assert key.id in {k.id for k in await client.api_keys.list(resource=emulator.kafka_cluster_id)}

    updated = await client.api_keys.update(key.id, description="still for orders")
    assert updated.spec.description == "still for orders"

    await client.api_keys.delete(key.id)
    with pytest.raises(NotFound) as gone:
        await client.api_keys.get(key.id)
    assert gone.value.status in (403, 404)
    with pytest.raises(Forbidden):
        await client.api_keys.delete(key.id)


async def test_deleting_a_service_account_deletes_its_keys(
    client: ConfluentClient, remember: Callable[[str], str]
) -> None:
    owner = await client.service_accounts.create("short-lived")
    key = await client.api_keys.create(owner_id=owner.id, resource_id=CLOUD_RESOURCE)
    assert key.secret is not None
    remember(key.secret.get_secret_value())
    await client.service_accounts.delete(owner.id)
    with pytest.raises(NotFound):
        await client.api_keys.get(key.id)


@pytest.mark.parametrize("kafka", [False, True], ids=["cloud key via environments", "kafka key via cluster REST"])
async def test_a_new_key_is_usable_only_once_propagated(
    kafka: bool, clock: Clock, remember: Callable[[str], str], make_client: Callable[..., ConfluentClient]
) -> None:
    # On virtual time: the first look comes before propagation however slow the machine is.
    emulator = Emulator(timing=Timing(api_key_propagation=0.3), clock=clock)
    remember(emulator.api_secret)
    async with make_client(emulator) as client:
        owner = await client.service_accounts.create("propagating")
        resource = emulator.kafka_cluster_id if kafka else CLOUD_RESOURCE
        env = emulator.environment_id if kafka else None
        key = await client.api_keys.create(owner_id=owner.id, resource_id=resource, environment_id=env)
        assert key.secret is not None
        secret = remember(key.secret.get_secret_value())

        assert await client.api_keys.is_usable(key.id, secret, resource, environment_id=env) is False
        await asyncio.sleep(0.35)
        assert await client.api_keys.is_usable(key.id, key.secret, resource, environment_id=env) is True
        assert await client.api_keys.is_usable(key.id, "not-" + secret[4:], resource, environment_id=env) is False

    probes = [r for r in emulator.requests if r.api_key == key.id]
    wanted = f"/kafka/v3/clusters/{emulator.kafka_cluster_id}/topics" if kafka else "/org/v2/environments"
    assert [r.path for r in probes] == [wanted] * 3


async def test_a_kafka_key_check_needs_the_environment(client: ConfluentClient, emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="environment_id"):
        await client.api_keys.is_usable("KEY", "secret-value", emulator.kafka_cluster_id)


def test_unknown_fields_are_kept_and_sent_back() -> None:
    body = {"id": "sa-1", "display_name": "a", "description": "", "future_field": {"x": 1}}
    sa = ServiceAccount.model_validate(body)
    assert sa.payload()["future_field"] == {"x": 1}
