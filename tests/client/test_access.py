"""Organizations, role bindings, IP groups and filters, users and invitations against the emulator."""

from __future__ import annotations

import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    MANAGEMENT,
    MULTIPLE,
    Conflict,
    ConfluentClient,
    Invitation,
    InvitationStatus,
    NotFound,
    ValidationFailed,
    environment_crn,
    organization_crn,
    organization_of,
    scope_crn,
)


def org_crn(emulator: Emulator) -> str:
    return f"crn://confluent.cloud/organization={emulator.organization_id}"


# organizations


async def test_the_organisation_id_is_read_once(client: ConfluentClient, emulator: Emulator) -> None:
    assert await client.organizations.current_id() == emulator.organization_id
    assert (await client.organizations.current()).metadata.resource_name == org_crn(emulator)  # type: ignore[union-attr]
    assert await client.organizations.current_id() == emulator.organization_id
    assert len(emulator.calls("GET", "/org/v2/organizations")) == 1
    one = await client.organizations.get(emulator.organization_id)
    assert (one.id, one.display_name) == (emulator.organization_id, "Emulated organization")
    with pytest.raises(NotFound):
        await client.organizations.get("00000000-0000-4000-8000-000000000000")


async def test_an_environment_names_its_organisation(client: ConfluentClient, emulator: Emulator) -> None:
    env = await client.environments.get(emulator.environment_id)
    assert env.organization_id == emulator.organization_id


# CRNs


@pytest.mark.parametrize(
    ("scope", "suffix"),
    [
        ({}, ""),
        ({"environment": "env-1"}, "/environment=env-1"),
        ({"environment": "env-1", "kafka_cluster": "lkc-1"}, "/environment=env-1/cloud-cluster=lkc-1"),
        (
            {"environment": "env-1", "kafka_cluster": "lkc-1", "resource_type": "topic", "resource_name": "orders"},
            "/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/topic=orders",
        ),
        (
            {
                "environment": "env-1",
                "kafka_cluster": "lkc-1",
                "resource_type": "topic",
                "resource_name": "orders-",
                "prefix": True,
            },
            "/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/topic=orders-*",
        ),
        (
            {"environment": "env-1", "kafka_cluster": "lkc-1", "resource_type": "group", "prefix": True},
            "/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/group=*",
        ),
    ],
    ids=["organization", "environment", "cluster", "topic", "topic prefix", "every group"],
)
def test_a_scope_becomes_its_crn(scope: dict[str, object], suffix: str) -> None:
    org = "9bb441c4-edef-46ac-8a41-c49e44a3fd9a"
    crn = scope_crn(org, **scope)  # type: ignore[arg-type]
    assert crn == f"crn://confluent.cloud/organization={org}{suffix}"
    assert organization_of(crn) == org


@pytest.mark.parametrize(
    ("scope", "why"),
    [
        ({"kafka_cluster": "lkc-1"}, "needs its environment"),
        ({"environment": "env-1", "resource_type": "topic", "resource_name": "t"}, "needs its Kafka cluster"),
        ({"environment": "env-1", "kafka_cluster": "lkc-1", "resource_name": "t"}, "needs a resource_type"),
        ({"environment": "env-1", "kafka_cluster": "lkc-1", "resource_type": "topic"}, "needs a name"),
        (
            {"environment": "env-1", "kafka_cluster": "lkc-1", "resource_type": "connector", "resource_name": "c"},
            "must be one of",
        ),
        (
            {"environment": "env-1", "kafka_cluster": "lkc-1", "resource_type": "topic", "resource_name": "a/b"},
            "in a CRN as the topic",
        ),
        ({"environment": "env/1"}, "in a CRN as the environment ID"),
    ],
    ids=[
        "cluster without environment",
        "resource without cluster",
        "name without type",
        "topic without name",
        "unknown resource type",
        "slash in a name",
        "slash in an id",
    ],
)
def test_a_scope_that_skips_a_level_is_refused(scope: dict[str, object], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        scope_crn("9bb441c4-edef-46ac-8a41-c49e44a3fd9a", **scope)  # type: ignore[arg-type]


def test_crn_helpers() -> None:
    assert environment_crn("o", "env-1") == "crn://confluent.cloud/organization=o/environment=env-1"
    assert organization_of("crn://confluent.cloud/organization=o") == "o"
    assert organization_of("crn://elsewhere/organization=o") is None
    assert organization_of(None) is None
    with pytest.raises(ValueError, match="not an organization ID"):
        organization_crn("")


# role bindings


async def test_role_binding_lifecycle(client: ConfluentClient, emulator: Emulator) -> None:
    sa = await client.service_accounts.create("orders")
    org = await client.organizations.current_id()
    pattern = scope_crn(
        org,
        environment=emulator.environment_id,
        kafka_cluster=emulator.kafka_cluster_id,
        resource_type="topic",
        resource_name="orders-",
        prefix=True,
    )
    created = await client.role_bindings.create(f"User:{sa.id}", "DeveloperWrite", pattern)
    assert created.id.startswith("rb-")
    assert (created.principal, created.role_name, created.crn_pattern) == (f"User:{sa.id}", "DeveloperWrite", pattern)
    assert (await client.role_bindings.get(created.id)).crn_pattern == pattern

    found = await client.role_bindings.find(f"User:{sa.id}", "DeveloperWrite", pattern)
    assert found is not None and found.id == created.id
    assert await client.role_bindings.find(f"User:{sa.id}", "DeveloperRead", pattern) is None

    with pytest.raises(Conflict) as taken:
        await client.role_bindings.create(f"User:{sa.id}", "DeveloperWrite", pattern)
    assert taken.value.location is not None and taken.value.location.endswith(f"/iam/v2/role-bindings/{created.id}")

    await client.role_bindings.delete(created.id)
    with pytest.raises(NotFound):
        await client.role_bindings.get(created.id)
    with pytest.raises(NotFound):
        await client.role_bindings.delete(created.id)


async def test_role_bindings_list_the_organisation_by_default_across_pages(
    client: ConfluentClient, emulator: Emulator
) -> None:
    sa = await client.service_accounts.create("reader")
    other = await client.service_accounts.create("other")
    env = environment_crn(emulator.organization_id, emulator.environment_id)
    topics = [
        (await client.role_bindings.create(f"User:{sa.id}", "DeveloperRead", f"{topic_scope(emulator)}={n}")).id
        for n in range(7)
    ]
    env_admin = (await client.role_bindings.create(f"User:{sa.id}", "EnvironmentAdmin", env)).id
    theirs = (await client.role_bindings.create(f"User:{other.id}", "EnvironmentAdmin", env)).id
    emulator.clear_requests()

    mine = await client.role_bindings.list(principal=f"User:{sa.id}")

    assert [rb.id for rb in mine] == [*topics, env_admin]
    pages = emulator.calls("GET", "/iam/v2/role-bindings")
    assert len(pages) == 3  # 8 bindings, page_size=3
    assert f"crn_pattern=crn%3A%2F%2Fconfluent.cloud%2Forganization%3D{emulator.organization_id}" in pages[0].query
    assert all("page_token=" in p.query for p in pages[1:])
    by_role = await client.role_bindings.list(role_name="EnvironmentAdmin")
    assert {rb.id for rb in by_role} == {env_admin, theirs}
    in_cluster = await client.role_bindings.list(crn_pattern=cluster_scope(emulator))
    assert {rb.id for rb in in_cluster} == set(topics)


def cluster_scope(emulator: Emulator) -> str:
    return scope_crn(
        emulator.organization_id, environment=emulator.environment_id, kafka_cluster=emulator.kafka_cluster_id
    )


def topic_scope(emulator: Emulator) -> str:
    return f"{cluster_scope(emulator)}/kafka={emulator.kafka_cluster_id}/topic"


@pytest.mark.parametrize(
    ("principal", "pattern", "field"),
    [
        ("User:{sa}", "crn://confluent.cloud/organization=not-a-uuid", "crn_pattern"),
        ("User:{sa}", "{org}/cloud-cluster=lkc-abc", "crn_pattern"),
        ("User:{sa}", "{org}/environment=env-nope00", "crn_pattern"),
        ("User:sa-nope00", "{org}", "principal"),
        ("sa-abc", "{org}", "principal"),
    ],
    ids=["bad organization", "cluster outside an environment", "unknown environment", "unknown principal", "no type"],
)
async def test_a_bad_binding_is_a_validation_failure(
    client: ConfluentClient, emulator: Emulator, principal: str, pattern: str, field: str
) -> None:
    sa = await client.service_accounts.create("refused")
    with pytest.raises(ValidationFailed) as refused:
        await client.role_bindings.create(
            principal.format(sa=sa.id), "DeveloperRead", pattern.format(org=org_crn(emulator))
        )
    assert refused.value.status == 400
    assert field in refused.value.detail or "not found" in refused.value.detail.lower()
    assert await client.role_bindings.list() == []


# IP groups and filters


async def test_ip_group_lifecycle(client: ConfluentClient) -> None:
    group = await client.ip_groups.create("office", ["203.0.113.0/24"])
    assert group.id.startswith("ipg-")
    assert (group.group_name, group.cidr_blocks) == ("office", ["203.0.113.0/24"])
    assert (await client.ip_groups.get(group.id)).cidr_blocks == ["203.0.113.0/24"]
    others = [await client.ip_groups.create(f"g{n}", [f"10.0.{n}.0/24"]) for n in range(4)]
    assert [g.id for g in await client.ip_groups.list()] == [group.id, *(g.id for g in others)]
    found = await client.ip_groups.find_by_name("g3")
    assert found is not None and found.id == others[3].id
    assert await client.ip_groups.find_by_name("nope") is None

    updated = await client.ip_groups.update(group.id, cidr_blocks=["198.51.100.0/24", "192.0.2.1/32"])
    assert (updated.group_name, updated.cidr_blocks) == ("office", ["198.51.100.0/24", "192.0.2.1/32"])
    renamed = await client.ip_groups.update(group.id, group_name="head office")
    assert renamed.cidr_blocks == ["198.51.100.0/24", "192.0.2.1/32"]

    with pytest.raises(Conflict):
        await client.ip_groups.create("head office", ["10.9.0.0/16"])
    await client.ip_groups.delete(group.id)
    with pytest.raises(NotFound):
        await client.ip_groups.get(group.id)


@pytest.mark.parametrize("cidr", ["203.0.113.0", "203.0.113.7/24", "203.0.113.0/40", "2001:db8::/32"])
async def test_an_invalid_cidr_is_a_validation_failure(client: ConfluentClient, cidr: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await client.ip_groups.create("office", [cidr])
    assert cidr in refused.value.detail
    assert await client.ip_groups.list() == []


async def test_ip_filter_lifecycle(client: ConfluentClient, emulator: Emulator) -> None:
    office = await client.ip_groups.create("office", ["203.0.113.0/24"])
    home = await client.ip_groups.create("home", ["198.51.100.0/24"])
    created = await client.ip_filters.create("management-from-office", MANAGEMENT, [office.id])
    assert created.id.startswith("ipf-")
    assert (created.resource_group, created.operation_groups, created.ip_group_ids) == (MANAGEMENT, [], [office.id])
    assert created.resource_scope == org_crn(emulator)  # unscoped reads back as the organisation
    assert (await client.ip_filters.get(created.id)).filter_name == "management-from-office"
    found = await client.ip_filters.find_by_name("management-from-office")
    assert found is not None and found.id == created.id

    moved = await client.ip_filters.update(
        created.id,
        resource_group=MULTIPLE,
        operation_groups=["MANAGEMENT", "SCHEMA"],
        ip_group_ids=[office.id, home.id],
    )
    assert (moved.resource_group, moved.operation_groups, moved.ip_group_ids) == (
        MULTIPLE,
        ["MANAGEMENT", "SCHEMA"],
        [office.id, home.id],
    )
    back = await client.ip_filters.update(created.id, resource_group=MANAGEMENT, operation_groups=[])
    assert (back.resource_group, back.operation_groups) == (MANAGEMENT, [])

    await client.ip_filters.delete(created.id)
    with pytest.raises(NotFound):
        await client.ip_filters.get(created.id)


async def test_a_filter_needs_its_groups_and_holds_them(client: ConfluentClient) -> None:
    with pytest.raises(ValidationFailed) as unknown:
        await client.ip_filters.create("f", MANAGEMENT, ["ipg-nope00"])
    assert "ipg-nope00" in unknown.value.detail

    office = await client.ip_groups.create("office", ["203.0.113.0/24"])
    held = await client.ip_filters.create("management-from-office", MANAGEMENT, [office.id])
    with pytest.raises(ValidationFailed) as in_use:
        await client.ip_groups.delete(office.id)
    assert in_use.value.code == "ip_group_in_use"
    assert "management-from-office" in in_use.value.detail
    await client.ip_filters.delete(held.id)
    await client.ip_groups.delete(office.id)

    with pytest.raises(ValidationFailed):
        await client.ip_filters.create("multiple-without-groups", MULTIPLE, [])


async def test_filters_list_by_scope(client: ConfluentClient, emulator: Emulator) -> None:
    group = await client.ip_groups.create("office", ["203.0.113.0/24"])
    env_scope = environment_crn(emulator.organization_id, emulator.environment_id)
    scoped = await client.ip_filters.create("env", MANAGEMENT, [group.id], resource_scope=env_scope)
    org_wide = await client.ip_filters.create("org", MANAGEMENT, [group.id])
    assert scoped.resource_scope == env_scope
    assert [f.id for f in await client.ip_filters.list(resource_scope=env_scope)] == [scoped.id]
    both = await client.ip_filters.list(resource_scope=env_scope, include_parent_scopes=True)
    assert [f.id for f in both] == [scoped.id, org_wide.id]
    with pytest.raises(ValueError, match="resource_scope"):
        await client.ip_filters.list(include_parent_scopes=True)


# users and invitations


async def test_an_invitation_makes_a_pending_user_and_acceptance_shows(
    client: ConfluentClient, emulator: Emulator
) -> None:
    invitation = await client.invitations.create("alice@example.com", auth_type="AUTH_TYPE_SSO")
    assert invitation.id.startswith("i-")
    assert invitation.status == InvitationStatus.SENT
    assert invitation.expires_at and invitation.accepted_at is None
    assert invitation.user_id is not None and invitation.user_id.startswith("u-")

    user = await client.users.get(invitation.user_id)
    assert (user.email, user.auth_type) == ("alice@example.com", "AUTH_TYPE_SSO")
    assert invitation.user_id in {u.id for u in await client.users.list()}
    assert (await client.users.find_by_email("ALICE@example.com")) == user
    found = await client.invitations.find_by_email("alice@example.com")
    assert found is not None and found.id == invitation.id
    assert [i.id for i in await client.invitations.list(status=InvitationStatus.SENT)] == [invitation.id]

    with pytest.raises(Conflict) as again:
        await client.invitations.create("alice@example.com")
    assert again.value.location is not None and again.value.location.endswith(invitation.id)

    emulator.accept_invitation(invitation.id, full_name="Alice")
    accepted = await client.invitations.get(invitation.id)
    assert accepted.status == InvitationStatus.ACCEPTED
    assert accepted.accepted_at is not None
    assert (await client.users.get(invitation.user_id)).full_name == "Alice"
    assert await client.invitations.list(status=InvitationStatus.SENT) == []


async def test_withdrawing_an_invitation_deactivates_its_user(client: ConfluentClient) -> None:
    invitation = await client.invitations.create("bob@example.com")
    assert invitation.user_id is not None
    await client.invitations.delete(invitation.id)
    with pytest.raises(NotFound):
        await client.users.get(invitation.user_id)
    with pytest.raises(NotFound):
        await client.invitations.get(invitation.id)
    with pytest.raises(NotFound):
        await client.invitations.delete(invitation.id)
    assert await client.users.find_by_email("bob@example.com") is None
    assert await client.invitations.find_by_email("bob@example.com") is None


@pytest.mark.parametrize("email", ["bob", "bob@example", "bob@@example.com", "bob smith@example.com"])
async def test_an_invalid_email_is_a_validation_failure(client: ConfluentClient, email: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await client.invitations.create(email)
    assert "email" in refused.value.detail


def test_a_status_confluent_adds_later_stays_a_string() -> None:
    invitation = Invitation.model_validate({"id": "i-1", "status": "INVITE_STATUS_SNOOZED", "user": {"id": "u-1"}})
    assert (invitation.status, invitation.user_id) == ("INVITE_STATUS_SNOOZED", "u-1")
    assert Invitation.model_validate({"id": "i-2", "status": "INVITE_STATUS_SENT"}).status is InvitationStatus.SENT
