"""iam/v2 IP groups and IP filters: CIDR checks, references between them, resource groups, scopes."""

from __future__ import annotations

import re

import httpx
import pytest

from ccloud_emulator import Emulator

from .conftest import ClientFactory

GROUPS = "/iam/v2/ip-groups"
FILTERS = "/iam/v2/ip-filters"


def org_crn(emu: Emulator) -> str:
    return f"crn://confluent.cloud/organization={emu.organization_id}"


async def new_group(
    client: httpx.AsyncClient, name: str = "office", blocks: tuple[str, ...] = ("203.0.113.0/24",)
) -> str:
    response = await client.post(GROUPS, json={"group_name": name, "cidr_blocks": list(blocks)})
    assert response.status_code == 201, response.text
    group_id: str = response.json()["id"]
    return group_id


async def new_filter(
    client: httpx.AsyncClient, groups: list[str], name: str = "mgmt", **extra: object
) -> httpx.Response:
    body = {"filter_name": name, "resource_group": "management", "ip_groups": [{"id": g} for g in groups], **extra}
    return await client.post(FILTERS, json=body)


async def test_an_ip_group_is_created_read_updated_and_deleted(client: httpx.AsyncClient, emu: Emulator) -> None:
    created = await client.post(
        GROUPS, json={"group_name": "CorpNet", "cidr_blocks": ["192.168.0.0/24", "10.0.0.1/32"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"ipg-[a-z0-9]{6}", body["id"])
    assert created.headers["location"].endswith(f"{GROUPS}/{body['id']}")
    assert body["metadata"]["resource_name"] == f"{org_crn(emu)}/ip-group={body['id']}"
    assert (body["group_name"], body["cidr_blocks"]) == ("CorpNet", ["192.168.0.0/24", "10.0.0.1/32"])
    assert (await client.get(f"{GROUPS}/{body['id']}")).json() == body

    # a PATCH replaces the blocks it is given, and leaves the name alone
    patched = await client.patch(f"{GROUPS}/{body['id']}", json={"cidr_blocks": ["198.51.100.0/24"]})
    assert (patched.json()["group_name"], patched.json()["cidr_blocks"]) == ("CorpNet", ["198.51.100.0/24"])
    renamed = await client.patch(f"{GROUPS}/{body['id']}", json={"group_name": "Corp Net [EU]"})
    assert renamed.json()["cidr_blocks"] == ["198.51.100.0/24"]

    assert (await client.delete(f"{GROUPS}/{body['id']}")).status_code == 204
    assert (await client.get(f"{GROUPS}/{body['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        (["203.0.113.0"], "/cidr_blocks/0"),
        (["203.0.113.0/24", "203.0.113.5/24"], "/cidr_blocks/1"),
        (["300.0.113.0/24"], "/cidr_blocks/0"),
        (["203.0.113.0/33"], "/cidr_blocks/0"),
        (["2001:db8::/32"], "/cidr_blocks/0"),
        (["office"], "/cidr_blocks/0"),
        ([24], "/cidr_blocks/0"),
        ([], "/cidr_blocks"),
        ([f"10.0.{n}.0/24" for n in range(26)], "/cidr_blocks"),
        (["10.0.0.0/8", "10.0.0.0/8"], "/cidr_blocks"),
        ("10.0.0.0/8", "/cidr_blocks"),
        (None, "/cidr_blocks"),
    ],
    ids=[
        "no prefix length",
        "host bits set",
        "octet over 255",
        "prefix over 32",
        "ipv6",
        "a word",
        "a number",
        "none",
        "more than 25",
        "twice the same",
        "a string, not a list",
        "missing",
    ],
)
async def test_an_invalid_cidr_block_is_refused(client: httpx.AsyncClient, blocks: object, pointer: str) -> None:
    body: dict[str, object] = {"group_name": "office"}
    if blocks is not None:
        body["cidr_blocks"] = blocks
    response = await client.post(GROUPS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert (error["code"], error["source"]) == ("invalid_input", {"pointer": pointer})
    assert (await client.get(GROUPS)).json()["data"] == []


async def test_a_patch_with_a_bad_block_changes_nothing(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    assert (await client.patch(f"{GROUPS}/{group}", json={"cidr_blocks": ["1.2.3.4/16"]})).status_code == 400
    assert (await client.get(f"{GROUPS}/{group}")).json()["cidr_blocks"] == ["203.0.113.0/24"]


@pytest.mark.parametrize(
    ("name", "status"),
    [("", 400), ("   ", 400), ("office<script>", 400), ("a;b", 400), ("x" * 65, 422), (7, 400)],
    ids=["empty", "spaces only", "angle brackets", "semicolon", "over 64", "not a string"],
)
async def test_names_follow_the_specs_alphabet(client: httpx.AsyncClient, name: object, status: int) -> None:
    group = await client.post(GROUPS, json={"group_name": name, "cidr_blocks": ["203.0.113.0/24"]})
    assert group.status_code == status
    assert group.json()["errors"][0]["source"] == {"pointer": "/group_name"}
    good = await new_group(client, "Bureau Zürich 2 [a|b&c+d-e_f/g.h,i]")
    ip_filter = await new_filter(client, [good], name=name)  # type: ignore[arg-type]
    assert ip_filter.status_code == status
    assert ip_filter.json()["errors"][0]["source"] == {"pointer": "/filter_name"}


async def test_names_are_unique_and_the_conflict_points_at_the_holder(client: httpx.AsyncClient) -> None:
    holder = await new_group(client, "office")
    taken = await client.post(GROUPS, json={"group_name": "office", "cidr_blocks": ["198.51.100.0/24"]})
    assert (taken.status_code, taken.json()["errors"][0]["code"]) == (409, "resource_already_exists")
    assert taken.headers["location"].endswith(f"{GROUPS}/{holder}")
    other = await new_group(client, "home")
    assert (await client.patch(f"{GROUPS}/{other}", json={"group_name": "office"})).status_code == 409
    assert (await client.patch(f"{GROUPS}/{holder}", json={"group_name": "office"})).status_code == 200

    first = (await new_filter(client, [holder], name="rules")).json()["id"]
    again = await new_filter(client, [other], name="rules")
    assert again.status_code == 409
    assert again.headers["location"].endswith(f"{FILTERS}/{first}")


async def test_an_ip_filter_binds_groups_and_reads_back_whole(client: httpx.AsyncClient, emu: Emulator) -> None:
    office = await new_group(client, "office")
    created = await new_filter(client, [office], name="management-from-office")
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"ipf-[a-z0-9]{6}", body["id"])
    assert created.headers["location"].endswith(f"{FILTERS}/{body['id']}")
    assert body["metadata"]["resource_name"] == f"{org_crn(emu)}/ip-filter={body['id']}"
    assert body["ip_groups"] == [
        {
            "id": office,
            "related": f"https://api.confluent.cloud{GROUPS}/{office}",
            "resource_name": f"{org_crn(emu)}/ip-group={office}",
        }
    ]
    # an unscoped filter is the organisation's, and reads back so
    assert (body["resource_group"], body["operation_groups"], body["resource_scope"]) == (
        "management",
        [],
        org_crn(emu),
    )
    assert (await client.get(f"{FILTERS}/{body['id']}")).json() == body
    assert (await client.delete(f"{FILTERS}/{body['id']}")).status_code == 204
    assert (await client.get(f"{FILTERS}/{body['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("refs", "pointer"),
    [
        ([{"id": "ipg-nope00"}], "/ip_groups/0/id"),
        ([{"id": "{group}"}, {"id": "ipg-nope00"}], "/ip_groups/1/id"),
        ([{"id": "{group}"}, {"id": "{group}"}], "/ip_groups/1/id"),
        (["{group}"], "/ip_groups/0/id"),
        ([], "/ip_groups"),
        (None, "/ip_groups"),
    ],
    ids=["unknown group", "one of two unknown", "the same group twice", "a bare id", "none", "missing"],
)
async def test_a_filter_needs_groups_that_exist(
    client: httpx.AsyncClient, refs: list[object] | None, pointer: str
) -> None:
    group = await new_group(client)
    body: dict[str, object] = {"filter_name": "f", "resource_group": "management"}
    if refs is not None:
        body["ip_groups"] = [
            {"id": r["id"].format(group=group)} if isinstance(r, dict) else str(r).format(group=group) for r in refs
        ]
    response = await client.post(FILTERS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}
    assert (await client.get(FILTERS)).json()["data"] == []


async def test_a_group_in_use_cannot_be_deleted_and_the_answer_names_its_filters(client: httpx.AsyncClient) -> None:
    office = await new_group(client, "office")
    first = (await new_filter(client, [office], name="b-rules")).json()["id"]
    second = (await new_filter(client, [office], name="a-rules")).json()["id"]

    refused = await client.delete(f"{GROUPS}/{office}")
    assert refused.status_code == 400  # the spec lists 400 and no 409 for this delete
    error = refused.json()["errors"][0]
    assert error["code"] == "ip_group_in_use"
    assert (
        error["detail"]
        == f"IP group 'office' ({office}) is used by IP filter(s): a-rules ({second}), b-rules ({first})"
    )
    assert (await client.get(f"{GROUPS}/{office}")).status_code == 200

    await client.delete(f"{FILTERS}/{first}")
    assert (await client.delete(f"{GROUPS}/{office}")).status_code == 400
    # moving the last filter to another group frees it
    home = await new_group(client, "home", ("198.51.100.0/24",))
    assert (await client.patch(f"{FILTERS}/{second}", json={"ip_groups": [{"id": home}]})).status_code == 200
    assert (await client.delete(f"{GROUPS}/{office}")).status_code == 204


@pytest.mark.parametrize(
    ("extra", "pointer"),
    [
        ({"resource_group": "everything"}, "/resource_group"),
        ({"resource_group": None}, "/resource_group"),
        ({"operation_groups": ["MANAGEMENT"]}, "/operation_groups"),
        ({"resource_group": "multiple"}, "/operation_groups"),
        ({"resource_group": "multiple", "operation_groups": []}, "/operation_groups"),
        ({"resource_group": "multiple", "operation_groups": ["MANAGEMENT", "TELEPORT"]}, "/operation_groups/1"),
        ({"resource_group": "multiple", "operation_groups": ["SCHEMA", "schema"]}, "/operation_groups"),
        ({"resource_group": "multiple", "operation_groups": "SCHEMA"}, "/operation_groups"),
    ],
    ids=[
        "unknown resource group",
        "no resource group",
        "operation groups under management",
        "multiple without operation groups",
        "multiple with an empty list",
        "unknown operation group",
        "the same operation group twice",
        "a string, not a list",
    ],
)
async def test_resource_and_operation_groups_follow_the_spec(
    client: httpx.AsyncClient, extra: dict[str, object], pointer: str
) -> None:
    group = await new_group(client)
    response = await new_filter(client, [group], **extra)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


async def test_multiple_takes_operation_groups_in_any_case(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    response = await new_filter(
        client, [group], resource_group="Multiple", operation_groups=["management", "SCHEMA", "Flink", "KAFKA_DATA"]
    )
    assert response.status_code == 201, response.text
    assert (response.json()["resource_group"], response.json()["operation_groups"]) == (
        "multiple",
        ["MANAGEMENT", "SCHEMA", "FLINK", "KAFKA_DATA"],
    )


async def test_a_patch_is_checked_whole_and_replaces_lists(client: httpx.AsyncClient) -> None:
    office = await new_group(client, "office")
    home = await new_group(client, "home", ("198.51.100.0/24",))
    ip_filter = (await new_filter(client, [office])).json()
    url = f"{FILTERS}/{ip_filter['id']}"

    # multiple needs operation groups: asking for it alone leaves the filter as it was
    assert (await client.patch(url, json={"resource_group": "multiple"})).status_code == 400
    assert (await client.get(url)).json()["resource_group"] == "management"
    patched = await client.patch(url, json={"resource_group": "multiple", "operation_groups": ["SCHEMA", "FLINK"]})
    assert patched.json()["operation_groups"] == ["SCHEMA", "FLINK"]
    # the list given replaces the list held
    patched = await client.patch(url, json={"operation_groups": ["MANAGEMENT"], "ip_groups": [{"id": home}]})
    assert (patched.json()["operation_groups"], [g["id"] for g in patched.json()["ip_groups"]]) == (
        ["MANAGEMENT"],
        [home],
    )
    # back to management needs the operation groups emptied
    assert (await client.patch(url, json={"resource_group": "management"})).status_code == 400
    back = await client.patch(url, json={"resource_group": "management", "operation_groups": []})
    assert (back.status_code, back.json()["operation_groups"]) == (200, [])
    assert (await client.patch(url, json={"ip_groups": [{"id": "ipg-nope00"}]})).status_code == 400
    assert (await client.patch(url, json={"filter_name": "renamed"})).json()["filter_name"] == "renamed"


async def test_scopes_are_the_organisation_or_one_of_its_environments(client: httpx.AsyncClient, emu: Emulator) -> None:
    group = await new_group(client)
    env_scope = f"{org_crn(emu)}/environment={emu.environment_id}"
    scoped = await new_filter(client, [group], name="env", resource_scope=env_scope)
    assert (scoped.status_code, scoped.json()["resource_scope"]) == (201, env_scope)
    org_wide = await new_filter(client, [group], name="org", resource_scope=org_crn(emu))
    assert org_wide.json()["resource_scope"] == org_crn(emu)
    for bad in (
        f"{org_crn(emu)}/environment=env-nope00",
        "crn://confluent.cloud/organization=00000000-0000-4000-8000-000000000000",
        f"{env_scope}/cloud-cluster={emu.kafka_cluster_id}",
        "not a crn",
    ):
        response = await new_filter(client, [group], name="bad", resource_scope=bad)
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["source"] == {"pointer": "/resource_scope"}

    async def listed(**params: str) -> list[str]:
        response = await client.get(FILTERS, params=params)
        assert response.status_code == 200, response.text
        return [f["filter_name"] for f in response.json()["data"]]

    assert await listed() == ["env", "org"]
    assert await listed(resource_scope=env_scope) == ["env"]
    assert await listed(resource_scope=org_crn(emu)) == ["org"]
    assert await listed(resource_scope=env_scope, include_parent_scopes="true") == ["env", "org"]
    assert await listed(resource_scope=env_scope, include_parent_scopes="false") == ["env"]
    for query in ({"include_parent_scopes": "true"}, {"resource_scope": env_scope, "include_parent_scopes": "yes"}):
        refused = await client.get(FILTERS, params=query)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["source"] == {"parameter": "include_parent_scopes"}

    # deleting the environment deletes the filters scoped to it
    env = (await client.post("/org/v2/environments", json={"display_name": "temp"})).json()["id"]
    temp = (await new_filter(client, [group], name="temp", resource_scope=f"{org_crn(emu)}/environment={env}")).json()
    assert (await client.delete(f"/org/v2/environments/{env}")).status_code == 204
    assert (await client.get(f"{FILTERS}/{temp['id']}")).status_code == 404


async def test_lists_page_25_by_default(client: httpx.AsyncClient) -> None:
    groups = [await new_group(client, f"g{n}", (f"10.0.{n}.0/24",)) for n in range(27)]
    first = (await client.get(GROUPS)).json()
    assert [g["id"] for g in first["data"]] == groups[:25]
    assert first["metadata"]["total_size"] == 27
    rest = (await client.get(first["metadata"]["next"])).json()
    assert [g["id"] for g in rest["data"]] == groups[25:]


async def test_another_organisation_sees_none_of_our_groups(emu: Emulator, make_client: ClientFactory) -> None:
    other_org = emu.add_organization("other")
    emu.add_api_key("OTHERKEY00000001", "o" * 64, organization_id=other_org)
    async with make_client(emu) as ours, make_client(emu, auth=("OTHERKEY00000001", "o" * 64)) as theirs:
        group = await new_group(ours)
        assert (await theirs.get(f"{GROUPS}/{group}")).status_code == 404
        assert (await new_filter(theirs, [group])).status_code == 400
        # names are per organisation
        assert (
            await theirs.post(GROUPS, json={"group_name": "office", "cidr_blocks": ["10.0.0.0/8"]})
        ).status_code == 201
