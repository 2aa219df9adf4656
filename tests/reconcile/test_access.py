"""RoleBinding, IpGroup, IpFilter and Invitation against the emulator and the real apiserver, one reconcile at a time."""

from __future__ import annotations

from typing import Any

import httpx
import kubernetes
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.kinds.invitation import InvitationReconciler
from ccloud_operator.reconcile.kinds.ip_filter import IpFilterReconciler
from ccloud_operator.reconcile.kinds.ip_group import IpGroupReconciler
from ccloud_operator.reconcile.kinds.role_binding import RoleBindingReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.outcome import Ready, Terminal, Waiting
from ccloud_operator.resources.access import INVITATION, IP_FILTER, IP_GROUP, ROLE_BINDING
from ccloud_operator.resources.kinds import Kind
from ccloud_operator.resources.service_account import SERVICE_ACCOUNT

from .conftest import Harness

pytestmark = pytest.mark.e2e
BINDING, GROUP, FILTER = RoleBindingReconciler(), IpGroupReconciler(), IpFilterReconciler()
INVITE, SA = InvitationReconciler(), ServiceAccountReconciler()


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


async def status(h: Harness, kind: Kind, name: str) -> dict[str, Any]:
    found: dict[str, Any] = (await h.object(kind, name)).get("status") or {}
    return found


def patch(h: Harness, kind: Kind, name: str, body: dict[str, Any]) -> None:
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        kind.group, kind.version, h.namespace, kind.plural, name, body
    )


def events(h: Harness, name: str) -> list[tuple[str, str]]:
    listing = kubernetes.client.CoreV1Api(h.api).list_namespaced_event(
        h.namespace, field_selector=f"involvedObject.name={name}"
    )
    return [(e.reason, e.message) for e in listing.items]


def http(emulator: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app),
        base_url="http://emulator.test",
        auth=(emulator.api_key, emulator.api_secret),
    )


async def bindings_of(emulator: Emulator, principal: str) -> list[dict[str, Any]]:
    async with http(emulator) as c:
        crn = f"crn://confluent.cloud/organization={emulator.organization_id}"
        found = await c.get("/iam/v2/role-bindings", params={"principal": principal, "crn_pattern": crn})
        assert found.status_code == 200, found.text
        data: list[dict[str, Any]] = found.json()["data"]
        return data


async def delete_delete(h: Harness, reconciler: Any, kind: Kind, name: str) -> str:
    obj = await h.object(kind, name)
    return (await engine.delete(h.ctx, reconciler, h.target(obj, kind))).reason


def cluster_scope(emulator: Emulator, **more: Any) -> dict[str, Any]:
    return {"environment": emulator.environment_id, "kafkaCluster": emulator.kafka_cluster_id, **more}


async def test_a_binding_waits_for_its_service_account_then_binds_the_scope(h: Harness, emulator: Emulator) -> None:
    spec = {"principal": {"serviceAccount": {"name": "orders"}}, "roleName": "DeveloperWrite"}
    h.create(ROLE_BINDING, "write-orders", {**spec, "scope": cluster_scope(emulator, topic="orders-", prefix=True)})
    outcome = await h.reconcile(BINDING, "write-orders")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForServiceAccount"
    assert "ServiceAccount orders (spec.principal.serviceAccount) does not exist" in outcome.message
    h.create(SERVICE_ACCOUNT, "orders", {"displayName": f"{h.namespace}-orders"})
    assert await h.reconcile(SA, "orders") == Ready("Ready")
    assert await h.reconcile(BINDING, "write-orders") == Ready("Ready")
    found = await status(h, ROLE_BINDING, "write-orders")
    sa = (await status(h, SERVICE_ACCOUNT, "orders"))["id"]
    org, env, lkc = emulator.organization_id, emulator.environment_id, emulator.kafka_cluster_id
    want = f"crn://confluent.cloud/organization={org}/environment={env}/cloud-cluster={lkc}/kafka={lkc}/topic=orders-*"
    assert (found["principal"], found["roleName"], found["crnPattern"]) == (f"User:{sa}", "DeveloperWrite", want)
    [remote] = await bindings_of(emulator, f"User:{sa}")
    assert remote["id"] == found["id"] and remote["crn_pattern"] == want
    # At rest: one read, no write.
    emulator.clear_requests()
    assert await h.reconcile(BINDING, "write-orders") == Ready("Ready")
    assert [r.method for r in emulator.requests if "/role-bindings" in r.path] == ["GET"]


async def test_a_changed_role_replaces_the_binding_new_first(h: Harness, emulator: Emulator) -> None:
    h.create(SERVICE_ACCOUNT, "orders", {"displayName": f"{h.namespace}-orders"})
    await h.reconcile(SA, "orders")
    spec = {"principal": {"serviceAccount": {"name": "orders"}}, "roleName": "DeveloperRead"}
    h.create(ROLE_BINDING, "reader", {**spec, "scope": cluster_scope(emulator, topic="orders")})
    assert await h.reconcile(BINDING, "reader") == Ready("Ready")
    old = (await status(h, ROLE_BINDING, "reader"))["id"]
    patch(h, ROLE_BINDING, "reader", {"spec": {"roleName": "DeveloperWrite"}})
    emulator.clear_requests()
    assert await h.reconcile(BINDING, "reader") == Ready("Ready")
    found = await status(h, ROLE_BINDING, "reader")
    assert found["id"] != old and found["roleName"] == "DeveloperWrite" and "replacing" not in found
    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.requests if r.method in ("POST", "DELETE")]
    assert calls == [("POST", "role-bindings"), ("DELETE", old)], calls  # never a moment without access
    sa = (await status(h, SERVICE_ACCOUNT, "orders"))["id"]
    assert [b["role_name"] for b in await bindings_of(emulator, f"User:{sa}")] == ["DeveloperWrite"]
    assert any(reason == "Replaced" and old in message for reason, message in events(h, "reader"))


async def test_a_binding_deleted_outside_kubernetes_is_made_again(h: Harness, emulator: Emulator) -> None:
    user = emulator_user(emulator)
    h.create(
        ROLE_BINDING,
        "env-admin",
        {"principal": {"id": user}, "roleName": "EnvironmentAdmin", "scope": {"environment": emulator.environment_id}},
    )
    assert await h.reconcile(BINDING, "env-admin") == Ready("Ready")
    old = (await status(h, ROLE_BINDING, "env-admin"))["id"]
    async with http(emulator) as c:
        assert (await c.delete(f"/iam/v2/role-bindings/{old}")).status_code == 200
    assert await h.reconcile(BINDING, "env-admin") == Ready("Ready")
    new = (await status(h, ROLE_BINDING, "env-admin"))["id"]
    assert new != old
    assert any(reason == "Recreated" and old in message for reason, message in events(h, "env-admin"))


def emulator_user(emulator: Emulator) -> str:
    """A principal managed elsewhere: the user the emulator's Cloud API key belongs to."""
    owner = next(iter(emulator.core.state.users))
    return f"User:{owner}"


async def test_an_existing_binding_is_adopted_only_when_asked_and_orphaned_by_policy(
    h: Harness, emulator: Emulator
) -> None:
    user = emulator_user(emulator)
    crn = f"crn://confluent.cloud/organization={emulator.organization_id}/environment={emulator.environment_id}"
    async with http(emulator) as c:
        made = await c.post(
            "/iam/v2/role-bindings", json={"principal": user, "role_name": "EnvironmentAdmin", "crn_pattern": crn}
        )
        assert made.status_code == 201, made.text
    spec = {"principal": {"id": user}, "roleName": "EnvironmentAdmin", "crnPattern": crn}
    h.create(ROLE_BINDING, "strict", spec)
    outcome = await h.reconcile(BINDING, "strict")
    assert isinstance(outcome, Terminal) and outcome.reason == "AlreadyExists"
    assert "AdoptOrCreate" in outcome.message
    h.create(ROLE_BINDING, "adopter", {**spec, "adoptionPolicy": "AdoptOrCreate", "deletionPolicy": "Orphan"})
    assert await h.reconcile(BINDING, "adopter") == Ready("Ready")
    assert (await status(h, ROLE_BINDING, "adopter"))["id"] == made.json()["id"]
    assert await delete_delete(h, BINDING, ROLE_BINDING, "adopter") == "Orphaned"
    assert [b["id"] for b in await bindings_of(emulator, user) if b["crn_pattern"] == crn] == [made.json()["id"]]


async def test_groups_and_filters_converge_and_a_filter_waits_for_its_groups(h: Harness, emulator: Emulator) -> None:
    h.create(IP_FILTER, "office-only", {"resourceGroup": "management", "ipGroups": [{"name": "office"}]})
    outcome = await h.reconcile(FILTER, "office-only")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForIpGroup"
    assert "IpGroup office (spec.ipGroups) does not exist" in outcome.message
    h.create(IP_GROUP, "office", {"cidrBlocks": ["203.0.113.0/24"]})
    assert await h.reconcile(GROUP, "office") == Ready("Ready")
    assert await h.reconcile(FILTER, "office-only") == Ready("Ready")
    group_id = (await status(h, IP_GROUP, "office"))["id"]
    found = await status(h, IP_FILTER, "office-only")
    assert found["ipGroupIds"] == [group_id] and found["filterName"] == "office-only"
    # A spec change reaches Confluent; so does drift made there.
    patch(h, IP_GROUP, "office", {"spec": {"cidrBlocks": ["203.0.113.0/24", "198.51.100.0/24"]}})
    assert await h.reconcile(GROUP, "office") == Ready("Ready")
    async with http(emulator) as c:
        group = (await c.get(f"/iam/v2/ip-groups/{group_id}")).json()
        assert sorted(group["cidr_blocks"]) == ["198.51.100.0/24", "203.0.113.0/24"]
        filter_id = found["id"]
        changed = await c.patch(
            f"/iam/v2/ip-filters/{filter_id}", json={"resource_group": "multiple", "operation_groups": ["SCHEMA"]}
        )
        assert changed.status_code == 200, changed.text
    emulator.clear_requests()
    assert await h.reconcile(FILTER, "office-only") == Ready("Ready")
    async with http(emulator) as c:
        back = (await c.get(f"/iam/v2/ip-filters/{filter_id}")).json()
    assert (back["resource_group"], back.get("operation_groups") or []) == ("management", [])
    # At rest (no resourceScope given, the organisation's CRN read back): no write.
    emulator.clear_requests()
    assert await h.reconcile(FILTER, "office-only") == Ready("Ready")
    assert [r.method for r in emulator.requests if r.method != "GET"] == []


async def test_a_group_a_filter_uses_is_refused_by_confluent_and_the_delete_waits(
    h: Harness, emulator: Emulator
) -> None:
    h.create(IP_GROUP, "shared", {"cidrBlocks": ["192.0.2.0/24"]})
    assert await h.reconcile(GROUP, "shared") == Ready("Ready")
    group_id = (await status(h, IP_GROUP, "shared"))["id"]
    # A filter outside Kubernetes holds it: Confluent refuses the delete, and the finalizer stays.
    async with http(emulator) as c:
        made = await c.post(
            "/iam/v2/ip-filters",
            json={"filter_name": "elsewhere", "resource_group": "management", "ip_groups": [{"id": group_id}]},
        )
        assert made.status_code == 201, made.text
    obj = await h.object(IP_GROUP, "shared")
    outcome = await engine.delete(h.ctx, GROUP, h.target(obj, IP_GROUP))
    assert not isinstance(outcome, Ready)
    assert "ip_group_in_use" in outcome.message and "elsewhere" in outcome.message
    async with http(emulator) as c:
        assert (await c.get(f"/iam/v2/ip-groups/{group_id}")).status_code == 200


async def test_an_invitation_makes_a_pending_user_and_reports_acceptance(h: Harness, emulator: Emulator) -> None:
    h.create(INVITATION, "alice", {"email": f"alice-{h.namespace}@example.com"})
    outcome = await h.reconcile(INVITE, "alice")
    assert isinstance(outcome, Ready) and outcome.reason == "Sent", outcome
    found = await status(h, INVITATION, "alice")
    assert found["invitationStatus"] == "INVITE_STATUS_SENT" and found["user"]["id"].startswith("u-")
    assert found["expiresAt"]
    emulator.accept_invitation(found["id"], full_name="Alice")
    outcome = await h.reconcile(INVITE, "alice")
    assert outcome == Ready(
        "Accepted", f"alice-{h.namespace}@example.com accepted the invitation: user {found['user']['id']}."
    )
    # A second object for the same address is a conflict unless it asks to adopt.
    h.create(INVITATION, "alice-again", {"email": f"alice-{h.namespace}@example.com"})
    again = await h.reconcile(INVITE, "alice-again")
    assert isinstance(again, Terminal) and again.reason == "AlreadyExists" and "AdoptOrCreate" in again.message


async def test_an_expired_invitation_says_how_to_send_another_and_delete_deactivates_the_pending_user(
    h: Harness, emulator: Emulator
) -> None:
    h.create(INVITATION, "bob", {"email": f"bob-{h.namespace}@example.com"})
    await h.reconcile(INVITE, "bob")
    found = await status(h, INVITATION, "bob")
    emulator.expire_invitation(found["id"])
    outcome = await h.reconcile(INVITE, "bob")
    assert isinstance(outcome, Terminal) and outcome.reason == "InvitationClosed"
    assert "INVITE_STATUS_EXPIRED" in outcome.message and "create it again" in outcome.message
    assert await delete_delete(h, INVITE, INVITATION, "bob") == "Deleted"
    async with http(emulator) as c:
        assert (await c.get(f"/iam/v2/invitations/{found['id']}")).status_code == 404
        assert (await c.get(f"/iam/v2/users/{found['user']['id']}")).status_code == 404  # never accepted


@pytest.mark.parametrize(("policy", "survives"), [("Delete", False), ("Orphan", True)])
async def test_deletion_policy_for_groups(h: Harness, emulator: Emulator, policy: str, survives: bool) -> None:
    h.create(IP_GROUP, "doomed", {"cidrBlocks": ["192.0.2.0/24"], "deletionPolicy": policy})
    assert await h.reconcile(GROUP, "doomed") == Ready("Ready")
    group_id = (await status(h, IP_GROUP, "doomed"))["id"]
    assert await delete_delete(h, GROUP, IP_GROUP, "doomed") == ("Orphaned" if survives else "Deleted")
    async with http(emulator) as c:
        assert ((await c.get(f"/iam/v2/ip-groups/{group_id}")).status_code == 200) is survives


async def test_a_lost_create_answer_is_adopted_not_duplicated(h: Harness, emulator: Emulator) -> None:
    h.create(IP_GROUP, "lossy", {"cidrBlocks": ["192.0.2.0/24"]})
    emulator.fail_next("POST", "/iam/v2/ip-groups", drop=True, after_processing=True)
    first = await h.reconcile(GROUP, "lossy")
    assert not isinstance(first, Ready), first
    assert (await status(h, IP_GROUP, "lossy"))["pendingCreate"]["name"] == "lossy"
    assert await h.reconcile(GROUP, "lossy") == Ready("Ready")
    assert [g.group_name for g in emulator.core.state.ip_groups.values()] == ["lossy"]
    assert "pendingCreate" not in await status(h, IP_GROUP, "lossy")


async def test_observe_only_reads_and_never_writes(h: Harness, emulator: Emulator) -> None:
    async with http(emulator) as c:
        made = await c.post("/iam/v2/ip-groups", json={"group_name": "theirs", "cidr_blocks": ["192.0.2.0/24"]})
        assert made.status_code == 201, made.text
    spec = {"groupName": "theirs", "cidrBlocks": ["198.51.100.0/24"], "managementPolicy": "ObserveOnly"}
    h.create(IP_GROUP, "watcher", spec)
    emulator.clear_requests()
    assert await h.reconcile(GROUP, "watcher") == Ready(
        "Observed", "Confluent differs from the spec (cidrBlocks); ObserveOnly leaves it."
    )
    assert (await status(h, IP_GROUP, "watcher"))["id"] == made.json()["id"]
    assert [r.method for r in emulator.requests if r.method != "GET"] == []
    assert await delete_delete(h, GROUP, IP_GROUP, "watcher") == "Orphaned"
