"""ServiceAccount end to end: kubectl-level behaviour against the emulator, through the operator process."""

from __future__ import annotations

import pytest

from ccloud_emulator import Emulator
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, Confluent, Kube, Tap

pytestmark = pytest.mark.e2e

FAST_RESYNC = {"ccloud.operators.dev/resync-interval": "1"}


def test_create_reports_id_and_ready(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    kube.apply("ServiceAccount", "orders", {"displayName": f"{kube.namespace}-orders", "description": "d", **CREDS})
    ready = kube.wait_condition("ServiceAccount", "orders")
    status = kube.get("ServiceAccount", "orders")["status"]  # type: ignore[index]
    [remote] = confluent.service_accounts(f"{kube.namespace}-orders")
    assert status["id"] == remote["id"]
    assert str(status["id"]).startswith("sa-")
    assert ready["observedGeneration"] == 1
    assert status["observedGeneration"] == 1
    assert "Ready" in [reason for reason, _ in kube.events("orders")]


def test_display_name_defaults_to_the_resource_name(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    name = f"{kube.namespace}-plain"
    kube.apply("ServiceAccount", name, CREDS)
    kube.wait_condition("ServiceAccount", name)
    assert len(confluent.service_accounts(name)) == 1


def test_spec_update_reaches_confluent(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    kube.apply("ServiceAccount", "billing", {"displayName": f"{kube.namespace}-billing", **CREDS})
    kube.wait_condition("ServiceAccount", "billing")
    kube.patch("ServiceAccount", "billing", {"spec": {"description": "now described"}})
    kube.wait_for(
        "the description in Confluent",
        lambda: confluent.service_accounts(f"{kube.namespace}-billing")[0]["description"] == "now described",
    )
    kube.wait_for(
        "observedGeneration 2", lambda: kube.condition("ServiceAccount", "billing")["observedGeneration"] == 2
    )


def test_drift_made_in_confluent_is_corrected(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    kube.apply(
        "ServiceAccount",
        "drift",
        {"displayName": f"{kube.namespace}-drift", "description": "mine", **CREDS},
        FAST_RESYNC,
    )
    kube.wait_condition("ServiceAccount", "drift")
    sa_id = kube.get("ServiceAccount", "drift")["status"]["id"]  # type: ignore[index]
    confluent.update_service_account(sa_id, description="changed by hand")
    kube.wait_for(
        "the description restored",
        lambda: confluent.service_accounts(f"{kube.namespace}-drift")[0]["description"] == "mine",
        timeout=10,
    )


def test_deleted_outside_kubernetes_is_recreated(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    kube.apply("ServiceAccount", "gone", {"displayName": f"{kube.namespace}-gone", **CREDS}, FAST_RESYNC)
    kube.wait_condition("ServiceAccount", "gone")
    old = kube.get("ServiceAccount", "gone")["status"]["id"]  # type: ignore[index]
    confluent.delete_service_account(old)
    new = kube.wait_for(
        "a new ID in status",
        lambda: (
            (kube.get("ServiceAccount", "gone") or {}).get("status", {}).get("id") not in (None, old)
            and kube.get("ServiceAccount", "gone")["status"]["id"]
        ),  # type: ignore[index]
        timeout=10,
    )
    assert [sa["id"] for sa in confluent.service_accounts(f"{kube.namespace}-gone")] == [new]
    assert "Recreated" in [reason for reason, _ in kube.events("gone")]


def test_existing_name_is_a_conflict_unless_adoption_is_asked_for(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    name = f"{kube.namespace}-taken"
    existing = confluent.create_service_account(name, "made elsewhere")
    kube.apply("ServiceAccount", "taken", {"displayName": name, **CREDS})
    cond = kube.wait_condition("ServiceAccount", "taken", "False", "AlreadyExists")
    assert existing in cond["message"] and "adoptionPolicy" in cond["message"]

    kube.patch("ServiceAccount", "taken", {"spec": {"adoptionPolicy": "AdoptOrCreate"}})
    kube.wait_condition("ServiceAccount", "taken")
    assert kube.get("ServiceAccount", "taken")["status"]["id"] == existing  # type: ignore[index]
    assert len(confluent.service_accounts(name)) == 1


def test_adopt_by_id(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    existing = confluent.create_service_account(f"{kube.namespace}-byid", "made elsewhere")
    kube.apply("ServiceAccount", "byid", {"displayName": f"{kube.namespace}-byid", "adoptId": existing, **CREDS})
    kube.wait_condition("ServiceAccount", "byid")
    assert kube.get("ServiceAccount", "byid")["status"]["id"] == existing  # type: ignore[index]
    assert confluent.service_accounts(f"{kube.namespace}-byid")[0]["description"] == ""


@pytest.mark.parametrize(
    ("policy", "survives"), [("Orphan", True), ("Delete", False)], ids=["orphan-keeps", "delete-removes"]
)
def test_deletion_policy(kube: Kube, emulator: Emulator, confluent: Confluent, policy: str, survives: bool) -> None:
    name = f"{kube.namespace}-{policy.lower()}"
    kube.apply("ServiceAccount", "doomed", {"displayName": name, "deletionPolicy": policy, **CREDS})
    kube.wait_condition("ServiceAccount", "doomed")
    kube.delete("ServiceAccount", "doomed")
    kube.wait_gone("ServiceAccount", "doomed")
    assert bool(confluent.service_accounts(name)) is survives


def test_observe_only_reports_and_never_writes(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    name = f"{kube.namespace}-watched"
    existing = confluent.create_service_account(name, "theirs")
    spec = {"displayName": name, "description": "ours", "managementPolicy": "ObserveOnly", **CREDS}
    kube.apply("ServiceAccount", "watched", spec)
    cond = kube.wait_condition("ServiceAccount", "watched", reason="Observed")
    assert "description" in cond["message"]
    assert kube.get("ServiceAccount", "watched")["status"]["id"] == existing  # type: ignore[index]
    kube.delete("ServiceAccount", "watched")
    kube.wait_gone("ServiceAccount", "watched")
    assert confluent.service_accounts(name)[0]["description"] == "theirs"


def test_pause_annotation_holds_changes_until_removed(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    name = f"{kube.namespace}-paused"
    kube.apply("ServiceAccount", "paused", {"displayName": name, **CREDS})
    kube.wait_condition("ServiceAccount", "paused")
    kube.patch("ServiceAccount", "paused", {"metadata": {"annotations": {"ccloud.operators.dev/paused": "true"}}})
    kube.wait_for(
        "Synced=False ReconcilePaused",
        lambda: kube.condition("ServiceAccount", "paused", "Synced").get("reason") == "ReconcilePaused",
    )
    kube.patch("ServiceAccount", "paused", {"spec": {"description": "held"}})
    assert kube.condition("ServiceAccount", "paused")["status"] == "True"  # pausing is not a failure
    with pytest.raises(AssertionError):
        kube.wait_for(
            "a write while paused", lambda: confluent.service_accounts(name)[0]["description"] == "held", timeout=2
        )
    kube.patch("ServiceAccount", "paused", {"metadata": {"annotations": {"ccloud.operators.dev/paused": None}}})
    kube.wait_for("the held change applied", lambda: confluent.service_accounts(name)[0]["description"] == "held")


def test_missing_credentials_secret_is_reported_and_recovers_when_it_appears(kube: Kube, emulator: Emulator) -> None:
    name = f"{kube.namespace}-nocreds"
    kube.apply("ServiceAccount", "nocreds", {"displayName": name, "credentialsSecretRef": {"name": "later"}})
    cond = kube.wait_condition("ServiceAccount", "nocreds", "False", "CredentialsSecretMissing")
    assert f"{kube.namespace}/later" in cond["message"] and "apiKey" in cond["message"]
    kube.put_secret("later", {"apiKey": emulator.api_key, "apiSecret": emulator.api_secret})
    kube.wait_condition("ServiceAccount", "nocreds", timeout=10)


def test_invalid_spec_is_rejected_at_admission_with_a_readable_message(control_plane: ControlPlane, kube: Kube) -> None:
    manifest = f"""
apiVersion: ccloud.operators.dev/v1alpha1
kind: ServiceAccount
metadata: {{name: bad, namespace: {kube.namespace}}}
spec: {{adoptId: not-an-id, deletionPolicy: Sometimes}}
"""
    result = control_plane.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert "spec.adoptId" in result.stderr and "spec.deletionPolicy" in result.stderr
    assert '"Delete", "Orphan"' in result.stderr


@pytest.mark.parametrize(
    "fault",
    [{"status": 503, "count": 4}, {"status": 429, "retry_after": 1.0, "count": 3}, {"drop": True, "count": 2}],
    ids=["5xx-storm", "429-storm", "dropped-connections"],
)
def test_faults_still_converge_without_duplicates(
    kube: Kube, emulator: Emulator, confluent: Confluent, fault: dict[str, object]
) -> None:
    name = f"{kube.namespace}-storm"
    emulator.fail("POST", "/iam/v2/service-accounts", **fault)  # type: ignore[arg-type]
    emulator.fail("GET", "/iam/v2/service-accounts*", **fault)  # type: ignore[arg-type]
    kube.apply("ServiceAccount", "storm", {"displayName": name, **CREDS})
    kube.wait_condition("ServiceAccount", "storm", timeout=30)
    emulator.clear_faults()
    failed = [r for r in emulator.calls(path="/iam/v2/service-accounts*") if r.status in (0, 429, 503)]
    assert len(failed) >= int(fault["count"])  # type: ignore[call-overload]
    assert len(confluent.service_accounts(name)) == 1


def test_killed_between_create_and_status_write_leaves_no_duplicate(
    kube: Kube, emulator: Emulator, confluent: Confluent, operator: OperatorProcess, tap: tuple[Tap, str]
) -> None:
    name = f"{kube.namespace}-crash"
    tap[0].after("POST", "/iam/v2/service-accounts", operator.kill)
    kube.apply("ServiceAccount", "crash", {"displayName": name, **CREDS})
    kube.wait_for(
        "the create to land and the operator to die", lambda: confluent.service_accounts(name) and not operator.alive()
    )
    assert (kube.get("ServiceAccount", "crash") or {}).get("status", {}).get("id") is None
    operator.start()
    kube.wait_condition("ServiceAccount", "crash")
    [remote] = confluent.service_accounts(name)
    assert kube.get("ServiceAccount", "crash")["status"]["id"] == remote["id"]  # type: ignore[index]


def test_wrong_credentials_are_named_and_a_fixed_secret_is_picked_up_at_once(kube: Kube, emulator: Emulator) -> None:
    kube.put_secret("stale", {"apiKey": emulator.api_key, "apiSecret": "not-the-secret"})
    kube.apply(
        "ServiceAccount", "stale", {"displayName": f"{kube.namespace}-stale", "credentialsSecretRef": {"name": "stale"}}
    )
    cond = kube.wait_condition("ServiceAccount", "stale", "False", "CredentialsInvalid")
    assert f"Secret {kube.namespace}/stale" in cond["message"]
    assert "401" in cond["message"]
    assert "not-the-secret" not in cond["message"]
    kube.core.patch_namespaced_secret("stale", kube.namespace, {"stringData": {"apiSecret": emulator.api_secret}})
    kube.wait_condition("ServiceAccount", "stale", timeout=5)  # the Secret watch, not a resync, brings it back
