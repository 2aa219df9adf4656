"""The access kinds end to end: the operator process on the real apiserver, against the emulator."""

from __future__ import annotations

import pytest

from ccloud_emulator import Emulator

from .conftest import CREDS, Confluent, Kube

pytestmark = pytest.mark.e2e


def test_a_binding_made_with_its_service_account_follows_it_and_holds_it(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    scope = {"environment": emulator.environment_id, "kafkaCluster": emulator.kafka_cluster_id}
    kube.apply(
        "RoleBinding",
        "orders-admin",
        {"principal": {"serviceAccount": {"name": "orders"}}, "roleName": "CloudClusterAdmin", "scope": scope, **CREDS},
    )
    kube.apply("ServiceAccount", "orders", {"displayName": f"{kube.namespace}-orders", **CREDS})
    # The service account turning Ready wakes the binding (the resync is 600 s here).
    kube.wait_condition("RoleBinding", "orders-admin", timeout=15)
    sa = kube.get("ServiceAccount", "orders")["status"]["id"]  # type: ignore[index]
    binding = kube.get("RoleBinding", "orders-admin")["status"]  # type: ignore[index]
    assert binding["principal"] == f"User:{sa}"
    assert binding["crnPattern"].endswith(
        f"/environment={emulator.environment_id}/cloud-cluster={emulator.kafka_cluster_id}"
    )
    # The service account is not deleted from under its binding: it waits, naming it.
    kube.delete("ServiceAccount", "orders")
    cond = kube.wait_condition("ServiceAccount", "orders", "False", "DependentsExist")
    assert "RoleBinding orders-admin still uses this ServiceAccount" in cond["message"]
    kube.delete("RoleBinding", "orders-admin")
    kube.wait_gone("RoleBinding", "orders-admin")
    kube.wait_gone("ServiceAccount", "orders")
    assert confluent.service_accounts(f"{kube.namespace}-orders") == []


def test_an_ip_group_waits_for_the_filter_that_uses_it(kube: Kube, emulator: Emulator) -> None:
    kube.apply("IpFilter", "office-only", {"ipGroups": [{"name": "office"}], **CREDS})
    kube.apply(
        "IpGroup", "office", {"groupName": f"{kube.namespace}-office", "cidrBlocks": ["203.0.113.0/24"], **CREDS}
    )
    kube.wait_condition("IpFilter", "office-only", timeout=15)
    group = kube.get("IpGroup", "office")["status"]["id"]  # type: ignore[index]
    assert kube.get("IpFilter", "office-only")["status"]["ipGroupIds"] == [group]  # type: ignore[index]
    kube.delete("IpGroup", "office")
    cond = kube.wait_condition("IpGroup", "office", "False", "DependentsExist")
    assert "IpFilter office-only still uses this IpGroup" in cond["message"]
    assert group in emulator.core.state.ip_groups
    kube.delete("IpFilter", "office-only")
    kube.wait_gone("IpGroup", "office")
    assert group not in emulator.core.state.ip_groups
