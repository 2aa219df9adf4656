"""iam/v2 role bindings: immutable, checked CRN patterns and principals, scope-matching lists."""

from __future__ import annotations

import re

import httpx
import pytest

from ccloud_emulator import Emulator

from .conftest import ClientFactory

ROLE_BINDINGS = "/iam/v2/role-bindings"


def org_crn(emu: Emulator) -> str:
    return f"crn://confluent.cloud/organization={emu.organization_id}"


def cluster_crn(emu: Emulator) -> str:
    return f"{org_crn(emu)}/environment={emu.environment_id}/cloud-cluster={emu.kafka_cluster_id}"


def topic_crn(emu: Emulator, topic: str = "orders-*") -> str:
    return f"{cluster_crn(emu)}/kafka={emu.kafka_cluster_id}/topic={topic}"


async def new_sa(client: httpx.AsyncClient, name: str = "orders") -> str:
    response = await client.post("/iam/v2/service-accounts", json={"display_name": name})
    assert response.status_code == 201, response.text
    sa_id: str = response.json()["id"]
    return sa_id


async def bind(client: httpx.AsyncClient, principal: str, role: str, pattern: str) -> httpx.Response:
    return await client.post(ROLE_BINDINGS, json={"principal": principal, "role_name": role, "crn_pattern": pattern})


async def test_a_binding_is_created_read_and_deleted_with_its_body(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    created = await bind(client, f"User:{sa}", "DeveloperWrite", topic_crn(emu))
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"rb-[a-z0-9]{6}", body["id"])
    assert created.headers["location"] == f"https://api.confluent.cloud/iam/v2/role-bindings/{body['id']}"
    assert body["metadata"]["resource_name"] == f"{org_crn(emu)}/role-binding={body['id']}"
    assert (body["principal"], body["role_name"], body["crn_pattern"]) == (
        f"User:{sa}",
        "DeveloperWrite",
        topic_crn(emu),
    )
    assert (await client.get(f"{ROLE_BINDINGS}/{body['id']}")).json() == body

    deleted = await client.delete(f"{ROLE_BINDINGS}/{body['id']}")
    assert (deleted.status_code, deleted.json()["id"]) == (200, body["id"])
    gone = await client.get(f"{ROLE_BINDINGS}/{body['id']}")
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "not_found")
    assert (await client.delete(f"{ROLE_BINDINGS}/{body['id']}")).status_code == 404


async def test_a_binding_is_immutable(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    rb = (await bind(client, f"User:{sa}", "CloudClusterAdmin", cluster_crn(emu))).json()
    patched = await client.patch(f"{ROLE_BINDINGS}/{rb['id']}", json={"role_name": "DeveloperRead"})
    assert patched.status_code == 405
    assert patched.json()["errors"][0]["status"] == "405"
    assert (await client.get(f"{ROLE_BINDINGS}/{rb['id']}")).json()["role_name"] == "CloudClusterAdmin"


async def test_the_same_binding_twice_is_a_conflict_pointing_at_the_first(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    sa = await new_sa(client)
    first = (await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu))).json()
    again = await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu))
    assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "resource_already_exists")
    assert again.headers["location"].endswith(f"{ROLE_BINDINGS}/{first['id']}")
    # another role, or another pattern, is another binding
    assert (await bind(client, f"User:{sa}", "DeveloperWrite", topic_crn(emu))).status_code == 201
    assert (await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu, "payments"))).status_code == 201


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("crn://confluent.cloud/environment={env}", "starts crn://confluent.cloud/organization="),
        ("https://confluent.cloud/organization={org}", "starts crn://confluent.cloud/organization="),
        ("crn://elsewhere.example/organization={org}", "starts crn://confluent.cloud/organization="),
        ("crn://confluent.cloud/organization=acme", "is a UUID"),
        ("crn://confluent.cloud/organization={org}/", "is not a kind=name segment"),
        ("crn://confluent.cloud/organization={org}/environment", "is not a kind=name segment"),
        ("crn://confluent.cloud/organization={org}/cloud-cluster={lkc}", "must follow 'environment='"),
        ("crn://confluent.cloud/organization={org}/environment={env}/topic=orders", "must follow 'kafka='"),
        (
            "crn://confluent.cloud/organization={org}/environment={env}/cloud-cluster={lkc}/kafka=lkc-other",
            "names the cloud-cluster",
        ),
        (
            "crn://confluent.cloud/organization={org}/environment={env}/environment={env}",
            "appears twice",
        ),
        ("crn://confluent.cloud/organization={org}/environment=env-*/cloud-cluster={lkc}", "only end the last"),
        (
            "crn://confluent.cloud/organization={org}/environment={env}/cloud-cluster={lkc}/kafka={lkc}/topic=a*b",
            "only end the last",
        ),
    ],
    ids=[
        "no organization",
        "not a crn",
        "another host",
        "organization not a uuid",
        "trailing slash",
        "segment without a name",
        "cluster outside an environment",
        "topic outside a kafka cluster",
        "kafka segment of another cluster",
        "environment twice",
        "wildcard mid-pattern",
        "wildcard mid-name",
    ],
)
async def test_a_malformed_crn_pattern_is_refused(
    client: httpx.AsyncClient, emu: Emulator, pattern: str, why: str
) -> None:
    sa = await new_sa(client)
    crn = pattern.format(org=emu.organization_id, env=emu.environment_id, lkc=emu.kafka_cluster_id)
    response = await bind(client, f"User:{sa}", "DeveloperRead", crn)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert (error["code"], error["source"]) == ("invalid_input", {"pointer": "/crn_pattern"})
    assert why in error["detail"]
    assert (await client.get(ROLE_BINDINGS, params={"crn_pattern": org_crn(emu)})).json()["data"] == []


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("crn://confluent.cloud/organization=00000000-0000-4000-8000-000000000000", "must be in organization"),
        ("{org}/environment=env-nope00", "Environment 'env-nope00' not found"),
        ("{org}/environment={env}/cloud-cluster=lkc-nope00", "Kafka cluster 'lkc-nope00' not found"),
    ],
    ids=["another organization", "unknown environment", "unknown cluster"],
)
async def test_a_pattern_names_the_callers_organisation_and_what_exists_there(
    client: httpx.AsyncClient, emu: Emulator, pattern: str, why: str
) -> None:
    sa = await new_sa(client)
    crn = pattern.format(org=org_crn(emu), env=emu.environment_id)
    response = await bind(client, f"User:{sa}", "EnvironmentAdmin", crn)
    assert response.status_code == 400
    assert why in response.json()["errors"][0]["detail"]


async def test_a_cluster_of_another_environment_is_not_found(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    other_env = emu.add_environment("other")
    crn = f"{org_crn(emu)}/environment={other_env}/cloud-cluster={emu.kafka_cluster_id}"
    response = await bind(client, f"User:{sa}", "CloudClusterAdmin", crn)
    assert response.status_code == 400
    assert "not found in environment" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("principal", "role", "pointer"),
    [
        ("{sa}", "DeveloperRead", "/principal"),
        ("ServiceAccount:{sa}", "DeveloperRead", "/principal"),
        ("User:", "DeveloperRead", "/principal"),
        ("User:sa-nope00", "DeveloperRead", "/principal"),
        ("User:u-nope00", "DeveloperRead", "/principal"),
        ("User:{sa}", "", "/role_name"),
        ("User:{sa}", "Developer Read", "/role_name"),
        (None, "DeveloperRead", "/principal"),
    ],
    ids=[
        "no type",
        "unknown type",
        "no id",
        "unknown service account",
        "unknown user",
        "empty role",
        "role with a space",
        "no principal",
    ],
)
async def test_a_bad_principal_or_role_is_refused(
    client: httpx.AsyncClient, emu: Emulator, principal: str | None, role: str, pointer: str
) -> None:
    sa = await new_sa(client)
    body = {"role_name": role, "crn_pattern": topic_crn(emu)}
    if principal is not None:
        body["principal"] = principal.format(sa=sa)
    response = await client.post(ROLE_BINDINGS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


async def test_principals_kept_elsewhere_are_taken_as_given(client: httpx.AsyncClient, emu: Emulator) -> None:
    user = emu.core.state.defaults["user_id"]
    for principal in (f"User:{user}", "User:pool-abc123", "Group:group-abc123"):
        response = await bind(client, principal, "OrganizationAdmin", org_crn(emu))
        assert response.status_code == 201, (principal, response.text)


async def test_the_list_needs_a_crn_pattern_and_matches_scopes(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    other = await new_sa(client, "other")
    env_crn = f"{org_crn(emu)}/environment={emu.environment_id}"
    ids = {
        "env": (await bind(client, f"User:{sa}", "EnvironmentAdmin", env_crn)).json()["id"],
        "cluster": (await bind(client, f"User:{sa}", "CloudClusterAdmin", cluster_crn(emu))).json()["id"],
        "topic": (await bind(client, f"User:{sa}", "DeveloperWrite", topic_crn(emu))).json()["id"],
        "other": (await bind(client, f"User:{other}", "DeveloperWrite", topic_crn(emu))).json()["id"],
    }

    missing = await client.get(ROLE_BINDINGS, params={"principal": f"User:{sa}"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["source"] == {"parameter": "crn_pattern"}
    not_a_crn = await client.get(ROLE_BINDINGS, params={"crn_pattern": "organization=x"})
    assert (not_a_crn.status_code, not_a_crn.json()["errors"][0]["code"]) == (400, "invalid_filter")

    async def listed(**params: str) -> set[str]:
        response = await client.get(ROLE_BINDINGS, params=params)
        assert response.status_code == 200, response.text
        return {rb["id"] for rb in response.json()["data"]}

    assert await listed(crn_pattern=org_crn(emu)) == set(ids.values())
    assert await listed(crn_pattern=org_crn(emu), principal=f"User:{sa}") == {ids["env"], ids["cluster"], ids["topic"]}
    assert await listed(crn_pattern=env_crn, role_name="DeveloperWrite") == {ids["topic"], ids["other"]}
    assert await listed(crn_pattern=cluster_crn(emu), principal=f"User:{sa}") == {ids["cluster"], ids["topic"]}
    assert await listed(crn_pattern=topic_crn(emu), principal=f"User:{sa}") == {ids["topic"]}
    # a scope matches whole segments: environment=env-x does not find environment=env-xy
    assert await listed(crn_pattern=env_crn[:-1]) == set()
    assert await listed(crn_pattern=org_crn(emu), principal=f"user:{sa}") == set()  # exact match


async def test_the_list_pages_and_keeps_its_filters(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    created = [
        (await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu, f"t{n}"))).json()["id"] for n in range(5)
    ]
    url: str | None = f"{ROLE_BINDINGS}?page_size=2&principal=User:{sa}&crn_pattern={cluster_crn(emu)}"
    seen: list[str] = []
    while url:
        body = (await client.get(url)).json()
        seen += [rb["id"] for rb in body["data"]]
        url = body["metadata"].get("next")
        if url:
            assert "crn_pattern=crn" in url and f"principal=User%3A{sa}" in url
    assert seen == created


async def test_deleting_a_service_account_deletes_its_bindings(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    kept = await new_sa(client, "kept")
    gone = (await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu))).json()["id"]
    stays = (await bind(client, f"User:{kept}", "DeveloperRead", topic_crn(emu))).json()["id"]
    assert (await client.delete(f"/iam/v2/service-accounts/{sa}")).status_code == 204
    assert (await client.get(f"{ROLE_BINDINGS}/{gone}")).status_code == 404
    assert (await client.get(f"{ROLE_BINDINGS}/{stays}")).status_code == 200
    # and the deleted account cannot be bound again
    assert (await bind(client, f"User:{sa}", "DeveloperRead", topic_crn(emu))).status_code == 400


async def test_deleting_an_environment_deletes_the_bindings_in_it(client: httpx.AsyncClient, emu: Emulator) -> None:
    sa = await new_sa(client)
    env = (await client.post("/org/v2/environments", json={"display_name": "temp"})).json()["id"]
    inside = (await bind(client, f"User:{sa}", "EnvironmentAdmin", f"{org_crn(emu)}/environment={env}")).json()["id"]
    outside = (await bind(client, f"User:{sa}", "CloudClusterAdmin", cluster_crn(emu))).json()["id"]
    assert (await client.delete(f"/org/v2/environments/{env}")).status_code == 204
    assert (await client.get(f"{ROLE_BINDINGS}/{inside}")).status_code == 404
    assert (await client.get(f"{ROLE_BINDINGS}/{outside}")).status_code == 200


async def test_another_organisation_sees_none_of_our_bindings(emu: Emulator, make_client: ClientFactory) -> None:
    other_org = emu.add_organization("other")
    emu.add_api_key("OTHERKEY00000001", "o" * 64, organization_id=other_org)
    async with make_client(emu) as ours, make_client(emu, auth=("OTHERKEY00000001", "o" * 64)) as theirs:
        sa = await new_sa(ours)
        rb = (await bind(ours, f"User:{sa}", "DeveloperRead", topic_crn(emu))).json()["id"]
        assert (await theirs.get(f"{ROLE_BINDINGS}/{rb}")).status_code == 404
        assert (await theirs.delete(f"{ROLE_BINDINGS}/{rb}")).status_code == 404
        listed = await theirs.get(ROLE_BINDINGS, params={"crn_pattern": org_crn(emu)})
        assert listed.json()["data"] == []
        # and they cannot bind in our organisation
        their_sa = await new_sa(theirs)
        assert (await bind(theirs, f"User:{their_sa}", "DeveloperRead", topic_crn(emu))).status_code == 400
