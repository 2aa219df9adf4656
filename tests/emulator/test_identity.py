"""iam/v2 identity providers and identity pools: CRUD, validation, uniqueness, pages, cascades,
and the refresh of a provider's JWKS."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_testenv.idp import ISSUER, JWKS_URI, FakeIdp

from .conftest import ClientFactory, Clock

PROVIDERS = "/iam/v2/identity-providers"


def provider_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "display_name": "kubernetes",
        "description": "the cluster's service accounts",
        "issuer": ISSUER,
        "jwks_uri": JWKS_URI,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def pool_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "display_name": "orders",
        "description": "the orders app",
        "identity_claim": "claims.sub",
        "filter": "claims['kubernetes.io'].namespace == 'prod'",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def new_provider(client: httpx.AsyncClient, **overrides: Any) -> str:
    created = await client.post(PROVIDERS, json=provider_body(**overrides))
    assert created.status_code == 201, created.text
    provider_id: str = created.json()["id"]
    return provider_id


async def new_pool(client: httpx.AsyncClient, provider_id: str, **overrides: Any) -> str:
    created = await client.post(f"{PROVIDERS}/{provider_id}/identity-pools", json=pool_body(**overrides))
    assert created.status_code == 201, created.text
    pool_id: str = created.json()["id"]
    return pool_id


def refusal(response: httpx.Response, status: int = 400) -> tuple[str, str, str | None]:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    return error["code"], error["detail"], error["source"].get("pointer")


async def test_a_provider_is_created_read_listed_updated_and_deleted(client: httpx.AsyncClient, emu: Emulator) -> None:
    created = await client.post(PROVIDERS, json=provider_body(identity_claim="claims.sub"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"op-[a-z0-9]{4}", body["id"])
    assert created.headers["location"] == f"https://api.confluent.cloud{PROVIDERS}/{body['id']}"
    assert body["metadata"]["resource_name"] == (
        f"crn://confluent.cloud/organization={emu.organization_id}/identity-provider={body['id']}"
    )
    assert (body["api_version"], body["kind"], body["state"]) == ("iam/v2", "IdentityProvider", "ENABLED")
    assert (body["display_name"], body["issuer"], body["jwks_uri"], body["identity_claim"]) == (
        "kubernetes", ISSUER, JWKS_URI, "claims.sub",
    )  # fmt: skip
    assert "keys" not in body  # nothing fetched yet
    assert (await client.get(f"{PROVIDERS}/{body['id']}")).json() == body
    assert [p["id"] for p in (await client.get(PROVIDERS)).json()["data"]] == [body["id"]]

    patched = await client.patch(
        f"{PROVIDERS}/{body['id']}", json={"description": "rotated", "jwks_uri": "https://idp.test/v2/keys"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["description"], patched.json()["jwks_uri"]) == ("rotated", "https://idp.test/v2/keys")
    assert patched.json()["display_name"] == "kubernetes"

    assert (await client.delete(f"{PROVIDERS}/{body['id']}")).status_code == 204
    assert (await client.get(f"{PROVIDERS}/{body['id']}")).status_code == 404
    assert (await client.delete(f"{PROVIDERS}/{body['id']}")).status_code == 404
    assert body["id"] in emu.core.state.tombstones


async def test_a_pool_is_created_read_listed_updated_and_deleted(client: httpx.AsyncClient, emu: Emulator) -> None:
    op = await new_provider(client)
    pools = f"{PROVIDERS}/{op}/identity-pools"
    created = await client.post(pools, json=pool_body())
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"pool-[a-z0-9]{4}", body["id"])
    assert created.headers["location"].endswith(f"{pools}/{body['id']}")
    assert body["metadata"]["resource_name"] == (
        f"crn://confluent.cloud/organization={emu.organization_id}/identity-provider={op}/identity-pool={body['id']}"
    )
    assert (body["kind"], body["state"], body["principal"]) == ("IdentityPool", "ENABLED", body["id"])
    assert (body["identity_claim"], body["filter"]) == ("claims.sub", "claims['kubernetes.io'].namespace == 'prod'")
    assert (await client.get(f"{pools}/{body['id']}")).json() == body
    assert [p["id"] for p in (await client.get(pools)).json()["data"]] == [body["id"]]

    patched = await client.patch(f"{pools}/{body['id']}", json={"filter": 'claims.sub.startsWith("system:")'})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["filter"], patched.json()["display_name"]) == ('claims.sub.startsWith("system:")', "orders")

    assert (await client.delete(f"{pools}/{body['id']}")).status_code == 204
    assert (await client.get(f"{pools}/{body['id']}")).status_code == 404
    assert (await client.get(pools)).json()["data"] == []


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"display_name": None}, "/display_name"),
        ({"display_name": "  "}, "/display_name"),
        ({"display_name": 7}, "/display_name"),
        ({"description": None}, "/description"),
        ({"issuer": None}, "/issuer"),
        ({"issuer": "kubernetes.default.svc"}, "/issuer"),
        ({"issuer": "ftp://idp.test"}, "/issuer"),
        ({"issuer": "https://"}, "/issuer"),
        ({"issuer": "https://[::1"}, "/issuer"),
        ({"issuer": "https://idp.test:port"}, "/issuer"),
        ({"jwks_uri": None}, "/jwks_uri"),
        ({"jwks_uri": "/keys"}, "/jwks_uri"),
        ({"jwks_uri": "https://idp.test/my keys"}, "/jwks_uri"),
        ({"identity_claim": "sub"}, "/identity_claim"),
    ],
    ids=[
        "no display name",
        "blank display name",
        "display name not a string",
        "no description",
        "no issuer",
        "issuer not a URL",
        "issuer not http(s)",
        "issuer without a host",
        "issuer with an unclosed IPv6 literal",
        "issuer with a port that is no number",
        "no jwks_uri",
        "relative jwks_uri",
        "jwks_uri with a space",
        "identity claim not a claim path",
    ],
)
async def test_a_bad_provider_is_refused_with_its_pointer(
    client: httpx.AsyncClient, overrides: dict[str, Any], pointer: str
) -> None:
    code, _, where = refusal(await client.post(PROVIDERS, json=provider_body(**overrides)))
    assert (code, where) == ("invalid_input", pointer)
    assert (await client.get(PROVIDERS)).json()["data"] == []


@pytest.mark.parametrize(
    ("overrides", "pointer", "phrase"),
    [
        ({"display_name": None}, "/display_name", "'display_name' is required"),
        ({"description": None}, "/description", "'description' is required"),
        ({"identity_claim": None}, "/identity_claim", "'identity_claim' is required"),
        ({"identity_claim": "sub"}, "/identity_claim", "expected a claim: claims.<name>"),
        ({"identity_claim": "claims.sub == 'x'"}, "/identity_claim", "expected the end of the claim"),
        ({"filter": None}, "/filter", "'filter' is required"),
        ({"filter": ""}, "/filter", "the filter is empty"),
        ({"filter": 'claims.aud = "confluent"'}, "/filter", "Invalid filter: '=' at character 12: compare with '=='"),
        ({"filter": "claims.sub.matches('^x')"}, "/filter", "expected a method: startsWith"),
        ({"filter": "claims.a == 'x' && "}, "/filter", "found the end"),
        ({"filter": "true || " + " || ".join(["true"] * 80)}, "/filter", "at most 300 characters"),
    ],
    ids=[
        "no display name",
        "no description",
        "no identity claim",
        "identity claim without claims.",
        "identity claim is a condition",
        "no filter",
        "empty filter",
        "single =",
        "unknown method",
        "dangling &&",
        "over 300 characters",
    ],
)
async def test_a_bad_pool_is_refused_naming_the_problem(
    client: httpx.AsyncClient, overrides: dict[str, Any], pointer: str, phrase: str
) -> None:
    op = await new_provider(client)
    code, detail, where = refusal(await client.post(f"{PROVIDERS}/{op}/identity-pools", json=pool_body(**overrides)))
    assert (code, where) == ("invalid_input", pointer)
    assert phrase in detail


async def test_a_patch_is_checked_like_a_create_and_changes_nothing_when_refused(client: httpx.AsyncClient) -> None:
    op = await new_provider(client)
    pool = await new_pool(client, op)
    url = f"{PROVIDERS}/{op}/identity-pools/{pool}"
    before = (await client.get(url)).json()
    assert refusal(await client.patch(url, json={"filter": "claims.a ="}))[2] == "/filter"
    assert refusal(await client.patch(url, json={"identity_claim": ""}))[2] == "/identity_claim"
    assert (await client.get(url)).json() == before
    assert refusal(await client.patch(f"{PROVIDERS}/{op}", json={"issuer": "not a url"}))[2] == "/issuer"
    assert (await client.get(f"{PROVIDERS}/{op}")).json()["issuer"] == ISSUER


async def test_names_and_issuers_are_unique_where_confluent_says(client: httpx.AsyncClient) -> None:
    op = await new_provider(client)
    same_name = await client.post(PROVIDERS, json=provider_body(issuer="https://other.test"))
    assert refusal(same_name, 409)[0] == "resource_already_exists"
    assert same_name.headers["location"].endswith(f"{PROVIDERS}/{op}")
    same_issuer = await client.post(PROVIDERS, json=provider_body(display_name="another"))
    assert "issuer 'https://idp.test' already exists" in refusal(same_issuer, 409)[1]
    other = await new_provider(client, display_name="another", issuer="https://other.test")
    assert refusal(await client.patch(f"{PROVIDERS}/{other}", json={"display_name": "kubernetes"}), 409)
    # a PATCH to its own values is no conflict
    assert (await client.patch(f"{PROVIDERS}/{op}", json=provider_body())).status_code == 200

    pool = await new_pool(client, op)
    twice = await client.post(f"{PROVIDERS}/{op}/identity-pools", json=pool_body())
    assert refusal(twice, 409)[0] == "resource_already_exists"
    assert twice.headers["location"].endswith(f"/identity-pools/{pool}")
    # pool names are unique per provider, not per organisation
    await new_pool(client, other)
    second = await new_pool(client, op, display_name="payments")
    assert refusal(
        await client.patch(f"{PROVIDERS}/{op}/identity-pools/{second}", json={"display_name": "orders"}), 409
    )


async def test_lists_page_ten_by_default_and_follow_next(client: httpx.AsyncClient) -> None:
    made = [await new_provider(client, display_name=f"p{i:02}", issuer=f"https://idp{i}.test") for i in range(12)]
    first = (await client.get(PROVIDERS)).json()
    assert ([p["id"] for p in first["data"]], first["metadata"]["total_size"]) == (made[:10], 12)
    rest = (await client.get(first["metadata"]["next"])).json()
    assert [p["id"] for p in rest["data"]] == made[10:]
    assert "next" not in rest["metadata"]

    pools = f"{PROVIDERS}/{made[0]}/identity-pools"
    pool_ids = [await new_pool(client, made[0], display_name=f"pool {i}") for i in range(3)]
    seen: list[str] = []
    url: str | None = f"{pools}?page_size=2"
    while url:
        page = (await client.get(url)).json()
        seen += [p["id"] for p in page["data"]]
        url = page["metadata"].get("next")
    assert seen == pool_ids
    assert refusal(await client.get(pools, params={"page_size": 0}))[0] == "invalid_page_size"


async def test_pools_under_an_unknown_or_foreign_provider_are_404(
    client: httpx.AsyncClient, emu: Emulator, make_client: ClientFactory
) -> None:
    op = await new_provider(client)
    pool = await new_pool(client, op)
    for method, url in [
        ("GET", f"{PROVIDERS}/op-nope/identity-pools"),
        ("POST", f"{PROVIDERS}/op-nope/identity-pools"),
        ("GET", f"{PROVIDERS}/op-nope/identity-pools/{pool}"),
        ("PATCH", f"{PROVIDERS}/op-nope/identity-pools/{pool}"),
        ("DELETE", f"{PROVIDERS}/op-nope/identity-pools/{pool}"),
        ("GET", f"{PROVIDERS}/{op}/identity-pools/pool-nope"),
    ]:
        assert (await client.request(method, url, json=pool_body())).status_code == 404, (method, url)
    other_org = emu.add_organization("elsewhere")
    emu.add_api_key("OTHERKEY00000001", "s" * 64, organization_id=other_org)
    async with make_client(emu, auth=("OTHERKEY00000001", "s" * 64)) as stranger:
        assert (await stranger.get(PROVIDERS)).json()["data"] == []
        assert (await stranger.get(f"{PROVIDERS}/{op}")).status_code == 404
        assert (await stranger.get(f"{PROVIDERS}/{op}/identity-pools")).status_code == 404
        # the same issuer is free in another organisation
        assert (await stranger.post(PROVIDERS, json=provider_body())).status_code == 201


async def test_deleting_a_provider_deletes_its_pools_and_their_role_bindings(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    op = await new_provider(client)
    pools = [await new_pool(client, op, display_name=name) for name in ("orders", "payments")]
    crn = f"crn://confluent.cloud/organization={emu.organization_id}/environment={emu.environment_id}"
    binding = await client.post(
        "/iam/v2/role-bindings",
        json={"principal": f"User:{pools[0]}", "role_name": "EnvironmentAdmin", "crn_pattern": crn},
    )
    assert binding.status_code == 201, binding.text
    assert (await client.delete(f"{PROVIDERS}/{op}")).status_code == 204
    assert emu.core.state.identity_pools == {}
    assert set(pools) <= emu.core.state.tombstones
    assert (await client.get(f"/iam/v2/role-bindings/{binding.json()['id']}")).status_code == 404


async def test_a_refresh_fetches_the_jwks_and_the_provider_shows_its_keys(
    clock: Clock, make_client: ClientFactory
) -> None:
    idp = FakeIdp(clock)
    emu = Emulator(clock=clock, jwks_transport=idp.transport)
    async with make_client(emu) as client:
        op = await new_provider(client)
        refreshed = await client.patch(f"{PROVIDERS}/{op}/jwks", json={"spec": {"jwks_status": "REFRESHED"}})
        assert refreshed.status_code == 200, refreshed.text
        body = refreshed.json()
        assert (body["kind"], body["spec"], body["status"]["jwks_status"]) == (
            "Jwks",
            {"jwks_status": "REFRESHED"},
            "OK",
        )
        assert body["status"]["jwks_last_refresh_at"].startswith("2027-01-15T")
        keys = (await client.get(f"{PROVIDERS}/{op}")).json()["keys"]
        assert keys == [{"kid": "rsa-1", "alg": "RS256", "kty": "RSA"}, {"kid": "ec-1", "alg": "ES256", "kty": "EC"}]
        assert idp.fetches == 1

        idp.status = 500
        down = (await client.patch(f"{PROVIDERS}/{op}/jwks", json={})).json()["status"]
        assert down == {
            "jwks_status": "ERROR_FETCHING_JWKS",
            "jwks_last_refresh_at": body["status"]["jwks_last_refresh_at"],
        }
        # keys fetched before stay
        assert len((await client.get(f"{PROVIDERS}/{op}")).json()["keys"]) == 2

        idp.status = 200
        idp.jwks = lambda: {"not": "a key set"}  # type: ignore[method-assign]
        assert (await client.patch(f"{PROVIDERS}/{op}/jwks", json={})).json()["status"][
            "jwks_status"
        ] == "INVALID_JWKS_URI"
        assert refusal(await client.patch(f"{PROVIDERS}/{op}/jwks", json={"spec": {"jwks_status": "STALE"}}))[2] == (
            "/spec/jwks_status"
        )
        assert (await client.patch(f"{PROVIDERS}/op-nope/jwks", json={})).status_code == 404
