"""Identity providers and their identity pools against the emulator."""

from __future__ import annotations

import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import Conflict, ConfluentClient, IdentityProvider, NotFound, ValidationFailed

ISSUER = "https://oidc.example.com/clusters/k8s-prod"
JWKS = "https://oidc.example.com/clusters/k8s-prod/openid/v1/jwks"
FILTER = 'claims.sub == "system:serviceaccount:ccloud-operator:ccloud-operator"'
PROVIDERS = "/iam/v2/identity-providers"


async def provider(client: ConfluentClient, name: str = "k8s-prod") -> IdentityProvider:
    """A provider whose issuer is its own (Confluent refuses a second provider of one issuer)."""
    issuer = f"https://oidc.example.com/clusters/{name}"
    return await client.identity_providers.create(
        name, issuer, f"{issuer}/openid/v1/jwks", description="prod ServiceAccount tokens"
    )


async def test_provider_lifecycle(client: ConfluentClient, emulator: Emulator) -> None:
    made = await provider(client)
    assert made.id.startswith("op-")
    assert (made.display_name, made.description, made.issuer, made.jwks_uri, made.state) == (
        "k8s-prod",
        "prod ServiceAccount tokens",
        ISSUER,
        JWKS,
        "ENABLED",
    )
    read = await client.identity_providers.get(made.id)
    assert (read.id, read.issuer) == (made.id, ISSUER)
    assert read.metadata is not None and (read.metadata.resource_name or "").endswith(made.id)
    # A PATCH changes what it carries and nothing else.
    moved = await client.identity_providers.update(made.id, jwks_uri="https://oidc.example.com/keys")
    assert (moved.jwks_uri, moved.issuer, moved.description) == (
        "https://oidc.example.com/keys",
        ISSUER,
        "prod ServiceAccount tokens",
    )
    renamed = await client.identity_providers.update(made.id, display_name="k8s-blue", description="")
    assert (renamed.display_name, renamed.description, renamed.jwks_uri) == ("k8s-blue", "", moved.jwks_uri)
    await client.identity_providers.delete(made.id)
    with pytest.raises(NotFound):
        await client.identity_providers.get(made.id)
    with pytest.raises(NotFound):
        await client.identity_providers.delete(made.id)


async def test_providers_list_every_page_and_are_found_by_display_name(
    client: ConfluentClient, emulator: Emulator
) -> None:
    made = [await provider(client, f"p{n}") for n in range(5)]
    emulator.clear_requests()
    listed = await client.identity_providers.list()
    assert sorted(p.id for p in listed) == sorted(p.id for p in made)
    assert len(emulator.calls("GET", f"{PROVIDERS}*")) == 2  # five on pages of three
    found = await client.identity_providers.find_by_display_name("p4")
    assert found is not None and found.id == made[4].id
    assert await client.identity_providers.find_by_display_name("nope") is None


async def test_a_second_provider_of_one_name_or_one_issuer_is_a_conflict(client: ConfluentClient) -> None:
    made = await provider(client)
    with pytest.raises(Conflict):
        await client.identity_providers.create("k8s-prod", "https://oidc.example.com/other", JWKS)
    with pytest.raises(Conflict):
        await client.identity_providers.create("k8s-other", ISSUER, JWKS)
    assert [p.id for p in await client.identity_providers.list()] == [made.id]


async def test_a_second_pool_of_one_name_in_a_provider_is_a_conflict(client: ConfluentClient) -> None:
    home, other = await provider(client, "home"), await provider(client, "other")
    await client.identity_pools.create(home.id, "ops", "claims.sub", FILTER)
    with pytest.raises(Conflict):
        await client.identity_pools.create(home.id, "ops", "claims.sub", "true")
    await client.identity_pools.create(other.id, "ops", "claims.sub", FILTER)  # another provider's: free


async def test_deleting_a_provider_deletes_its_pools(client: ConfluentClient) -> None:
    home = await provider(client)
    pool = await client.identity_pools.create(home.id, "ops", "claims.sub", FILTER)
    await client.identity_providers.delete(home.id)
    with pytest.raises(NotFound):
        await client.identity_pools.get(home.id, pool.id)


async def test_pool_lifecycle_in_its_provider(client: ConfluentClient, emulator: Emulator) -> None:
    home = await provider(client)
    pools = client.identity_pools
    pool = await pools.create(home.id, "operator", "claims.sub", FILTER, description="the operator itself")
    assert pool.id.startswith("pool-")
    assert (pool.display_name, pool.identity_claim, pool.filter, pool.description) == (
        "operator",
        "claims.sub",
        FILTER,
        "the operator itself",
    )
    assert (await pools.get(home.id, pool.id)).filter == FILTER
    tightened = await pools.update(home.id, pool.id, filter=f'{FILTER} && "confluent" in claims.aud')
    assert (tightened.filter, tightened.identity_claim, tightened.display_name) == (
        f'{FILTER} && "confluent" in claims.aud',
        "claims.sub",
        "operator",
    )
    renamed = await pools.update(home.id, pool.id, display_name="operators", identity_claim="claims.email")
    assert (renamed.display_name, renamed.identity_claim, renamed.filter) == (
        "operators",
        "claims.email",
        tightened.filter,
    )
    await pools.delete(home.id, pool.id)
    with pytest.raises(NotFound):
        await pools.get(home.id, pool.id)


async def test_pools_are_listed_and_found_within_their_provider_only(
    client: ConfluentClient, emulator: Emulator
) -> None:
    home, other = await provider(client, "home"), await provider(client, "other")
    pools = client.identity_pools
    mine = [await pools.create(home.id, f"pool{n}", "claims.sub", FILTER) for n in range(4)]
    theirs = await pools.create(other.id, "pool0", "claims.sub", "true")
    emulator.clear_requests()
    assert sorted(p.id for p in await pools.list(home.id)) == sorted(p.id for p in mine)
    assert len(emulator.calls("GET", f"{PROVIDERS}/{home.id}/identity-pools*")) == 2  # four on pages of three
    found = await pools.find_by_display_name(other.id, "pool0")
    assert found is not None and found.id == theirs.id
    found = await pools.find_by_display_name(home.id, "pool0")
    assert found is not None and found.id == mine[0].id
    assert await pools.find_by_display_name(home.id, "nope") is None
    with pytest.raises(NotFound):
        await pools.get(other.id, mine[0].id)  # a pool is only in its own provider


async def test_a_pool_of_an_unknown_provider_is_not_found(client: ConfluentClient) -> None:
    with pytest.raises(NotFound):
        await client.identity_pools.create("op-Nope00", "operator", "claims.sub", FILTER)
    with pytest.raises(NotFound):
        await client.identity_pools.list("op-Nope00")


async def test_a_filter_past_300_characters_is_refused(client: ConfluentClient) -> None:
    home = await provider(client)
    with pytest.raises(ValidationFailed):
        await client.identity_pools.create(home.id, "long", "claims.sub", "claims.sub == 'x' || " * 20)
    assert await client.identity_pools.list(home.id) == []
