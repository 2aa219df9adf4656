"""iam/v2 service accounts and API keys, org/v2 environments, cmk/v2 clusters, and pagination."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccloud_emulator import Emulator

from .conftest import ClientFactory


async def new_sa(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/iam/v2/service-accounts", json={"display_name": name})
    assert response.status_code == 201, response.text
    sa_id: str = response.json()["id"]
    return sa_id


async def test_a_service_account_is_created_with_a_location_and_an_sa_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/iam/v2/service-accounts", json={"display_name": "orders", "description": "d"})
    body = response.json()
    assert re.fullmatch(r"sa-[a-z0-9]{6}", body["id"])
    assert response.headers["location"] == f"https://api.confluent.cloud/iam/v2/service-accounts/{body['id']}"
    assert body["metadata"]["self"] == response.headers["location"]
    assert body["metadata"]["resource_name"].endswith(f"/service-account={body['id']}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["metadata"]["created_at"])


async def test_display_names_are_unique_and_the_conflict_points_at_the_holder(client: httpx.AsyncClient) -> None:
    holder = await new_sa(client, "orders")
    taken = await client.post("/iam/v2/service-accounts", json={"display_name": "orders"})
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["detail"] == "Service name is already in use."
    assert taken.headers["location"].endswith(f"/iam/v2/service-accounts/{holder}")
    other = await new_sa(client, "payments")
    renamed = await client.patch(f"/iam/v2/service-accounts/{other}", json={"display_name": "orders"})
    assert renamed.status_code == 409


async def test_service_accounts_are_found_by_display_name(client: httpx.AsyncClient) -> None:
    ids = {name: await new_sa(client, name) for name in ("a", "b", "c")}
    found = await client.get("/iam/v2/service-accounts?display_name=a&display_name=c")
    assert {sa["id"] for sa in found.json()["data"]} == {ids["a"], ids["c"]}
    none = await client.get("/iam/v2/service-accounts", params={"display_name": "zzz"})
    assert none.json()["data"] == []


async def test_a_deleted_service_account_reads_as_forbidden_and_takes_its_keys(client: httpx.AsyncClient) -> None:
    sa = await new_sa(client, "short-lived")
    keys = [
        (await client.post("/iam/v2/api-keys", json={"spec": {"owner": {"id": sa}, "resource": {"id": r}}})).json()[
            "id"
        ]
        for r in ("cloud", "CLOUD")
    ]
    assert (await client.delete(f"/iam/v2/service-accounts/{sa}")).status_code == 204
    gone = await client.get(f"/iam/v2/service-accounts/{sa}")
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (403, "forbidden_access")
    for key in keys:
        read = await client.get(f"/iam/v2/api-keys/{key}")
        assert (read.status_code, read.json()["errors"][0]["code"]) == (403, "forbidden_access")
    never = await client.get("/iam/v2/service-accounts/sa-zzzzzz")
    assert (never.status_code, never.json()["errors"][0]["code"]) == (404, "service_account_not_found")
    assert (await client.delete(f"/iam/v2/service-accounts/{sa}")).status_code == 403


async def test_an_api_keys_secret_is_only_in_the_create_response(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client, "owner")
    spec = {"owner": {"id": sa}, "resource": {"id": emu.kafka_cluster_id, "environment": emu.environment_id}}
    created = await client.post("/iam/v2/api-keys", json={"spec": {**spec, "display_name": "k"}})
    assert created.status_code == 202
    body = created.json()
    assert re.fullmatch(r"[A-Z0-9]{16}", body["id"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{64}", body["spec"]["secret"])
    assert body["spec"]["owner"]["kind"] == "ServiceAccount"
    assert (body["spec"]["resource"]["kind"], body["spec"]["resource"]["environment"]) == (
        "Cluster",
        emu.environment_id,
    )
    assert created.headers["location"].endswith(f"/iam/v2/api-keys/{body['id']}")
    read = await client.get(f"/iam/v2/api-keys/{body['id']}")
    assert read.json()["spec"]["secret"] == ""
    assert body["spec"]["secret"] not in read.text
    listed = await client.get("/iam/v2/api-keys", params={"spec.owner": sa})
    assert [k["id"] for k in listed.json()["data"]] == [body["id"]]
    assert body["spec"]["secret"] not in listed.text
    by_resource = await client.get("/iam/v2/api-keys", params={"spec.resource": emu.kafka_cluster_id})
    assert [k["id"] for k in by_resource.json()["data"]] == [body["id"]]


@pytest.mark.parametrize(
    ("spec", "pointer"),
    [
        ({}, "/spec/owner/id"),
        ({"owner": {"id": "sa-nope00"}}, "/spec/owner/id"),
        ({"owner": {"id": "u-nope00"}}, "/spec/owner/id"),
        ({"owner": {"id": "OWNER"}, "resource": {"id": "lkc-nope00"}}, "/spec/resource/id"),
    ],
    ids=["owner required", "unknown service account", "unknown user", "unknown cluster"],
)
async def test_an_api_key_needs_a_real_owner_and_resource(
    client: httpx.AsyncClient, spec: dict[str, object], pointer: str
) -> None:
    if spec.get("owner") == {"id": "OWNER"}:
        spec["owner"] = {"id": await new_sa(client, "owner")}
    response = await client.post("/iam/v2/api-keys", json={"spec": spec})
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


async def test_a_deleted_api_key_reads_as_forbidden(client: httpx.AsyncClient) -> None:
    sa = await new_sa(client, "owner")
    key = (await client.post("/iam/v2/api-keys", json={"spec": {"owner": {"id": sa}}})).json()
    assert key["spec"]["resource"]["id"] == "cloud"
    assert (await client.delete(f"/iam/v2/api-keys/{key['id']}")).status_code == 204
    assert (await client.get(f"/iam/v2/api-keys/{key['id']}")).status_code == 403
    missing = await client.get("/iam/v2/api-keys/ABCDEFGHIJKLMNOP")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["detail"] == "The API Key (id=ABCDEFGHIJKLMNOP) does not exist"


async def test_lists_page_with_opaque_tokens_and_absolute_next_links(client: httpx.AsyncClient) -> None:
    created = [await new_sa(client, f"paged-{n}") for n in range(7)]
    seen: list[str] = []
    url: str | None = "/iam/v2/service-accounts?page_size=3&display_name=" + "&display_name=".join(
        f"paged-{n}" for n in range(7)
    )
    pages = 0
    while url:
        body = (await client.get(url)).json()
        seen += [sa["id"] for sa in body["data"]]
        pages += 1
        url = body["metadata"].get("next")
        if url:
            assert url.startswith("https://api.confluent.cloud/iam/v2/service-accounts?")
            assert "display_name=paged-0" in url
            token = httpx.URL(url).params["page_token"]
            assert not token.isdigit()
    assert (seen, pages) == (created, 3)
    assert body["metadata"]["total_size"] == 7


@pytest.mark.parametrize(
    "query",
    ["page_size=0", "page_size=101", "page_size=ten", "page_token=!!!"],
    ids=["zero", "over the maximum of 100", "not a number", "garbage token"],
)
async def test_bad_page_parameters_are_bad_requests(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/iam/v2/service-accounts?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] in ("page_size", "page_token")


async def test_the_default_organisation_lists_its_environment_and_cluster(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    envs = (await client.get("/org/v2/environments")).json()
    assert [e["id"] for e in envs["data"]] == [emu.environment_id]
    clusters = (await client.get("/cmk/v2/clusters", params={"environment": emu.environment_id})).json()
    assert [c["id"] for c in clusters["data"]] == [emu.kafka_cluster_id]
    cluster = clusters["data"][0]
    assert cluster["spec"]["http_endpoint"] == "https://api.confluent.cloud"
    assert cluster["spec"]["kafka_bootstrap_endpoint"].startswith("SASL_SSL://pkc-")
    assert cluster["status"]["phase"] == "PROVISIONED"
    wrong_env = await client.get(f"/cmk/v2/clusters/{emu.kafka_cluster_id}", params={"environment": "env-nope00"})
    assert wrong_env.status_code == 404


async def test_seeding_with_chosen_ids_for_manifests_that_name_them(client: httpx.AsyncClient, emu: Emulator) -> None:
    env = emu.add_environment("demo", id="env-demo01")
    cluster = emu.add_kafka_cluster(env, display_name="demo", id="lkc-demo01")
    found = await client.get(f"/cmk/v2/clusters/{cluster}", params={"environment": "env-demo01"})
    assert (env, found.status_code, found.json()["id"]) == ("env-demo01", 200, "lkc-demo01")
    with pytest.raises(ValueError, match="be new"):
        emu.add_environment("again", id="env-demo01")
    with pytest.raises(ValueError, match="lkc-"):
        emu.add_kafka_cluster(env, id="cluster-1")


async def test_a_deleted_environment_is_not_found(client: httpx.AsyncClient) -> None:
    env = (await client.post("/org/v2/environments", json={"display_name": "temp"})).json()["id"]
    assert (await client.post("/org/v2/environments", json={"display_name": "temp"})).status_code == 409
    assert (await client.delete(f"/org/v2/environments/{env}")).status_code == 204
    gone = await client.get(f"/org/v2/environments/{env}")
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "resource_not_found")


async def test_organisations_see_only_their_own_objects(emu: Emulator, make_client: ClientFactory) -> None:
    other_org = emu.add_organization("other")
    other_env = emu.add_environment("theirs", organization_id=other_org)
    emu.add_api_key("OTHERKEY00000001", "o" * 64, organization_id=other_org)
    async with make_client(emu) as ours, make_client(emu, auth=("OTHERKEY00000001", "o" * 64)) as theirs:
        mine = await new_sa(ours, "shared-name")
        assert (await theirs.post("/iam/v2/service-accounts", json={"display_name": "shared-name"})).status_code == 201
        assert (await theirs.get(f"/iam/v2/service-accounts/{mine}")).status_code == 404
        assert [e["id"] for e in (await theirs.get("/org/v2/environments")).json()["data"]] == [other_env]
        assert (await ours.get(f"/org/v2/environments/{other_env}")).status_code == 404


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(min_value=0, max_value=23), size=st.integers(min_value=1, max_value=100))
def test_following_next_visits_every_item_once_in_order(count: int, size: int) -> None:
    async def walk() -> tuple[list[str], list[str], int]:
        emu = Emulator()
        transport = httpx.ASGITransport(app=emu.app)
        auth = (emu.api_key, emu.api_secret)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.confluent.cloud", auth=auth) as api:
            created = [
                (await api.post("/iam/v2/service-accounts", json={"display_name": f"sa-{n}"})).json()["id"]
                for n in range(count)
            ]
            seen: list[str] = []
            pages = 0
            url: str | None = f"/iam/v2/service-accounts?page_size={size}"
            while url:
                body = (await api.get(url)).json()
                seen += [sa["id"] for sa in body["data"]]
                pages += 1
                url = body["metadata"].get("next")
        return created, seen, pages

    created, seen, pages = asyncio.run(walk())
    assert seen == created
    assert pages == max(1, -(-count // size))


async def test_a_configured_base_url_is_used_in_every_link(make_client: ClientFactory) -> None:
    emu = Emulator(base_url="https://emulator.example:8443/")
    async with make_client(emu, base_url="http://elsewhere") as client:
        created = await client.post("/iam/v2/service-accounts", json={"display_name": "linked"})
        assert created.headers["location"].startswith("https://emulator.example:8443/iam/v2/service-accounts/sa-")
        cluster = (
            await client.get(f"/cmk/v2/clusters/{emu.kafka_cluster_id}", params={"environment": emu.environment_id})
        ).json()
        assert cluster["spec"]["http_endpoint"] == "https://emulator.example:8443"
