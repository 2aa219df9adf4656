"""The access kinds' schemas on the real apiserver: the issue's YAML is accepted, bad input refused at admission."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

ORG = "a2f6e3b1-0c4d-4e5f-8a9b-0c1d2e3f4a5b"
CRN = f"crn://confluent.cloud/organization={ORG}/environment=env-a1b2/cloud-cluster=lkc-x1/kafka=lkc-x1/topic=orders-*"
CREDS = {"credentialsSecretRef": {"name": "ccloud-credentials"}}
BINDING = {
    "principal": {"serviceAccount": {"name": "orders"}},
    "roleName": "DeveloperWrite",
    "crnPattern": CRN,
    **CREDS,
}
SCOPED = {
    **{k: v for k, v in BINDING.items() if k != "crnPattern"},
    "scope": {"environment": "env-a1b2", "kafkaCluster": "lkc-x1", "topic": "orders-", "prefix": True},
}
GROUP = {"groupName": "office", "cidrBlocks": ["203.0.113.0/24"], **CREDS}
FILTER = {
    "filterName": "management-from-office",
    "resourceGroup": "management",
    "operationGroups": [],
    "resourceScope": f"crn://confluent.cloud/organization={ORG}",
    "ipGroups": [{"name": "office"}],
    **CREDS,
}
INVITE = {"email": "alice@example.com", "authType": "AUTH_TYPE_SSO", **CREDS}


@pytest.fixture
def crd(crds: None) -> None:
    """The operator's CRDs, the access kinds' among them."""


def apply(control_plane: ControlPlane, namespace: str, kind: str, name: str, spec: dict[str, Any]) -> tuple[bool, str]:
    body = {
        "apiVersion": "ccloud.operators.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    done = control_plane.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("RoleBinding", BINDING),
        ("RoleBinding", SCOPED),
        ("RoleBinding", {**BINDING, "principal": {"id": "User:u-abc123"}}),
        ("RoleBinding", {**SCOPED, "scope": {"environment": "env-a1b2"}}),
        ("IpGroup", GROUP),
        ("IpFilter", FILTER),
        ("IpFilter", {**FILTER, "resourceGroup": "multiple", "operationGroups": ["MANAGEMENT", "SCHEMA"]}),
        ("IpFilter", {**FILTER, "ipGroups": [{"id": "ipg-abc12"}]}),
        ("Invitation", INVITE),
    ],
    ids=[
        "binding with a CRN",
        "binding with a scope",
        "binding for a user",
        "binding for an environment",
        "group",
        "filter",
        "filter on several operation groups",
        "filter on a group by ID",
        "invitation",
    ],
)
def test_the_api_users_write_is_accepted(
    control_plane: ControlPlane, crd: None, namespace: str, kind: str, spec: dict[str, Any]
) -> None:
    ok, said = apply(control_plane, namespace, kind, "it", spec)
    assert ok, said


@pytest.mark.parametrize(
    ("kind", "spec", "says"),
    [
        ("RoleBinding", {**BINDING, "crnPattern": "crn://example.com/org=1"}, "spec.crnPattern"),
        ("RoleBinding", {**BINDING, "crnPattern": "orders-*"}, "spec.crnPattern"),
        ("RoleBinding", {**BINDING, "scope": SCOPED["scope"]}, "give one of crnPattern or scope"),
        ("RoleBinding", {**SCOPED, "scope": {"environment": "env-a1b2", "topic": "t"}}, "set kafkaCluster too"),
        (
            "RoleBinding",
            {**SCOPED, "scope": {"environment": "env-a1b2", "kafkaCluster": "lkc-x1", "topic": "t", "group": "g"}},
            "at most one of topic, group or transactionalId",
        ),
        ("RoleBinding", {**BINDING, "principal": {"id": "sa-123"}}, "spec.principal.id"),
        (
            "RoleBinding",
            {**BINDING, "principal": {"id": "User:sa-1", "serviceAccount": {"name": "x"}}},
            "principal takes one of serviceAccount or id",
        ),
        ("IpGroup", {**GROUP, "cidrBlocks": ["203.0.113.0/33"]}, "spec.cidrBlocks[0]"),
        ("IpGroup", {**GROUP, "cidrBlocks": ["not-a-network"]}, "spec.cidrBlocks[0]"),
        ("IpGroup", {**GROUP, "cidrBlocks": []}, "spec.cidrBlocks"),
        ("IpGroup", {**GROUP, "groupName": "semi;colon"}, "spec.groupName"),
        ("IpFilter", {**FILTER, "operationGroups": ["SCHEMA"]}, "operationGroups needs resourceGroup: multiple"),
        ("IpFilter", {**FILTER, "ipGroups": []}, "spec.ipGroups"),
        ("IpFilter", {**FILTER, "ipGroups": [{"name": "a", "id": "ipg-1"}]}, "takes one of name or id"),
        ("IpFilter", {**FILTER, "resourceGroup": "everything"}, "Unsupported value"),
        ("Invitation", {**INVITE, "email": "alice.example.com"}, "spec.email"),
        ("Invitation", {**INVITE, "authType": "AUTH_TYPE_MAGIC"}, "Unsupported value"),
    ],
    ids=[
        "a CRN of another host",
        "a pattern that is no CRN",
        "both a CRN and a scope",
        "a topic outside a cluster",
        "two resources in one scope",
        "a principal without its type",
        "two principals",
        "a CIDR past /32",
        "a CIDR that is no network",
        "a group of no networks",
        "a group name with a semicolon",
        "operation groups on management",
        "a filter of no groups",
        "a group by name and ID",
        "an unknown resource group",
        "an invalid e-mail",
        "an unknown auth type",
    ],
)
def test_admission_refuses_bad_input_with_a_message(
    control_plane: ControlPlane, crd: None, namespace: str, kind: str, spec: dict[str, Any], says: str
) -> None:
    ok, said = apply(control_plane, namespace, kind, "bad", spec)
    assert not ok
    assert says in said, said


def test_an_invitation_cannot_be_readdressed(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    ok, said = apply(control_plane, namespace, "Invitation", "alice", INVITE)
    assert ok, said
    ok, said = apply(control_plane, namespace, "Invitation", "alice", {**INVITE, "email": "bob@example.com"})
    assert not ok
    assert "email cannot be changed: create a new Invitation instead" in said


def test_short_names_and_the_category(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    for kind, spec in (("RoleBinding", BINDING), ("IpGroup", GROUP), ("IpFilter", FILTER), ("Invitation", INVITE)):
        ok, said = apply(control_plane, namespace, kind, "listed", spec)
        assert ok, said
    for short, kind in (("ccrb", "rolebinding"), ("ccig", "ipgroup"), ("ccif", "ipfilter"), ("ccinv", "invitation")):
        shown = control_plane.kubectl("get", short, "-n", namespace, "-o", "name").stdout
        assert f"{kind}.ccloud.operators.dev/listed" in shown, (short, shown)
    everything = control_plane.kubectl("get", "ccloud", "-n", namespace, "-o", "name").stdout
    assert everything.count("/listed") == 4, everything
