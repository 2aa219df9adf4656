"""The engine every kind stands on, through the operator process on the real apiserver.

Wake-ups only when Ready changes, nothing read or written at rest, exact "ours" on adoption, a 403 on a
delete that is a refusal and not "gone", the output Secret renamed, and namespace deletion that finishes.
"""

from __future__ import annotations

import time

import pytest
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, GROUP, VERSION, Confluent, Kube, namespace_with_credentials

pytestmark = pytest.mark.e2e

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _cloud_key(owner: str, **extra: object) -> dict[str, object]:
    return {"serviceAccount": {"name": owner}, "resource": {"kind": "Cloud"}, **CREDS, **extra}


def _versions(kube: Kube, *objects: tuple[str, str]) -> dict[tuple[str, str], str]:
    found = {}
    for kind, name in objects:
        if kind == "Secret":
            found[(kind, name)] = kube.core.read_namespaced_secret(name, kube.namespace).metadata.resource_version
        else:
            found[(kind, name)] = kube.get(kind, name)["metadata"]["resourceVersion"]  # type: ignore[index]
    return found


def test_at_rest_an_owner_resync_reads_only_the_owner_and_nothing_is_written(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    kube.apply(
        "ServiceAccount",
        "owner",
        {"displayName": f"{kube.namespace}-owner", **CREDS},
        {"ccloud.operators.dev/resync-interval": "5"},
    )
    hourly = {"ccloud.operators.dev/resync-interval": "900"}
    for name in ("key-a", "key-b"):
        kube.apply("ApiKey", name, _cloud_key("owner"), hourly)
    for name in ("key-a", "key-b"):
        kube.wait_condition("ApiKey", name, timeout=30)
    sa_id = kube.get("ServiceAccount", "owner")["status"]["id"]  # type: ignore[index]
    keys = [kube.get("ApiKey", n)["status"]["id"] for n in ("key-a", "key-b")]  # type: ignore[index]
    time.sleep(3)  # let the last status writes of the keys settle
    objects = [("ServiceAccount", "owner"), ("ApiKey", "key-a"), ("ApiKey", "key-b"), ("Secret", "key-a")]
    before = _versions(kube, *objects)
    started = time.time()

    time.sleep(60)

    calls = [r for r in emulator.requests if r.time >= started]
    owner_reads = [r for r in calls if r.method == "GET" and r.path == f"/iam/v2/service-accounts/{sa_id}"]
    # A 5 s resync with up to 10 % jitter is 10 to 12 reads in a minute; allow one either side.
    assert 9 <= len(owner_reads) <= 13, [f"{r.method} {r.path}" for r in calls]
    about_keys = [
        r for r in calls if "api-keys" in r.path or "environments" in r.path or any(k in r.path for k in keys)
    ]
    assert about_keys == [], "keys resynced hourly were read"
    assert [r for r in calls if r.method in WRITES] == []
    assert len(calls) == len(owner_reads)  # one read per resync of the owner, and nothing else
    assert _versions(kube, *objects) == before, "something was written to Kubernetes at rest"


def test_a_rejected_key_is_not_sent_again_when_its_owner_resyncs(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    kube.apply(
        "ServiceAccount",
        "busy-owner",
        {"displayName": f"{kube.namespace}-busy-owner", **CREDS},
        {"ccloud.operators.dev/resync-interval": "1"},
    )
    kube.wait_condition("ServiceAccount", "busy-owner")
    fault = emulator.fail("POST", "/iam/v2/api-keys", status=400, count=1000)
    try:
        started = time.time()
        kube.apply("ApiKey", "rejected", _cloud_key("busy-owner"))
        cond = kube.wait_condition("ApiKey", "rejected", "False", "Rejected")
        assert "400" in cond["message"]
        time.sleep(8)  # eight resyncs of the owner
        posts = [r for r in emulator.calls("POST", "/iam/v2/api-keys") if r.time >= started]
        assert len(posts) == 1, "a terminal create was sent again without any change"
    finally:
        emulator.remove_fault(fault.id)


def test_adopting_what_another_object_holds_is_refused_and_names_the_holder(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    name = f"{kube.namespace}-first"
    kube.apply("ServiceAccount", "first", {"displayName": name, **CREDS})
    kube.wait_condition("ServiceAccount", "first")
    held = kube.get("ServiceAccount", "first")["status"]["id"]  # type: ignore[index]

    kube.apply("ServiceAccount", "by-id", {"displayName": f"{kube.namespace}-other", "adoptId": held, **CREDS})
    cond = kube.wait_condition("ServiceAccount", "by-id", "False", "AlreadyManaged")
    assert held in cond["message"] and f"{kube.namespace}/first" in cond["message"]

    kube.apply("ServiceAccount", "by-name", {"displayName": name, "adoptionPolicy": "AdoptOrCreate", **CREDS})
    cond = kube.wait_condition("ServiceAccount", "by-name", "False", "AlreadyManaged")
    assert f"{kube.namespace}/first" in cond["message"]

    kube.apply("ServiceAccount", "create-only", {"displayName": name, **CREDS})
    cond = kube.wait_condition("ServiceAccount", "create-only", "False", "AlreadyExists")
    assert f"{kube.namespace}/first" in cond["message"]
    assert "adoptionPolicy" not in cond["message"], "adoption suggested for an account another object holds"
    assert [sa["id"] for sa in confluent.service_accounts(name)] == [held]
    for other in ("by-id", "by-name", "create-only"):
        assert (kube.get("ServiceAccount", other) or {}).get("status", {}).get("id") is None


def test_a_delete_refused_with_403_keeps_the_finalizer_and_says_which_role_is_missing(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    name = f"{kube.namespace}-guarded"
    kube.apply("ServiceAccount", "guarded", {"displayName": name, **CREDS})
    kube.wait_condition("ServiceAccount", "guarded")
    sa_id = kube.get("ServiceAccount", "guarded")["status"]["id"]  # type: ignore[index]
    fault = emulator.fail("DELETE", f"/iam/v2/service-accounts/{sa_id}", status=403, count=1000)
    try:
        kube.delete("ServiceAccount", "guarded")

        def refused() -> dict[str, str] | None:
            synced = kube.condition("ServiceAccount", "guarded", "Synced")
            return synced if synced.get("reason") == "Forbidden" else None

        synced = kube.wait_for("the refusal in status", refused)
        assert "403" in synced["message"] and "role" in synced["message"]
        assert "deletionPolicy: Orphan" in synced["message"]
        time.sleep(2)
        assert kube.get("ServiceAccount", "guarded") is not None, "the finalizer went despite the refusal"
        assert [sa["id"] for sa in confluent.service_accounts(name)] == [sa_id]
    finally:
        emulator.remove_fault(fault.id)
    kube.wait_gone("ServiceAccount", "guarded", timeout=30)
    assert confluent.service_accounts(name) == []


def test_renaming_the_output_secret_moves_the_key_and_makes_no_new_one(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    kube.apply("ServiceAccount", "mover", {"displayName": f"{kube.namespace}-mover", **CREDS})
    kube.apply("ApiKey", "moving", _cloud_key("mover", secret={"name": "before"}))
    kube.wait_condition("ApiKey", "moving", timeout=30)
    key_id = kube.get("ApiKey", "moving")["status"]["id"]  # type: ignore[index]
    original = kube.secret("before")
    assert original is not None and original["key"] == key_id

    kube.patch("ApiKey", "moving", {"spec": {"secret": {"name": "after"}}})
    moved = kube.wait_for("the key in Secret after", lambda: kube.secret("after"))
    assert moved == original
    kube.wait_for("Secret before deleted", lambda: kube.secret("before") is None)
    kube.wait_for("status.secretName", lambda: kube.get("ApiKey", "moving")["status"].get("secretName") == "after")  # type: ignore[index]
    kube.wait_condition("ApiKey", "moving")
    owner = kube.get("ServiceAccount", "mover")["status"]["id"]  # type: ignore[index]
    assert [k["id"] for k in confluent.api_keys(owner)] == [key_id]
    reasons = [reason for reason, _ in kube.events("moving")]
    assert "SecretRenamed" in reasons and "KeyReplaced" not in reasons


def test_a_deleted_output_secret_is_reported_as_deleted_not_lost(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    kube.apply("ServiceAccount", "careless", {"displayName": f"{kube.namespace}-careless", **CREDS})
    kube.apply("ApiKey", "dropped", _cloud_key("careless"))
    kube.wait_condition("ApiKey", "dropped", timeout=30)
    old = kube.get("ApiKey", "dropped")["status"]["id"]  # type: ignore[index]
    kube.core.delete_namespaced_secret("dropped", kube.namespace)
    kube.wait_for("a new key", lambda: (kube.secret("dropped") or {}).get("key") not in (None, old))
    messages = kube.wait_for(
        "the KeyReplaced Event", lambda: [m for reason, m in kube.events("dropped") if reason == "KeyReplaced"]
    )
    assert "deleted outside Kubernetes" in messages[0], messages


def _namespace_gone(k: Kube) -> bool:
    try:
        k.core.read_namespace(k.namespace)
    except ApiException as exc:
        return exc.status == 404
    return False


@pytest.mark.parametrize("how", ["namespace", "manifests"], ids=["kubectl delete namespace", "kubectl delete -f"])
def test_deleting_everything_at_once_finishes_and_leaves_nothing_in_confluent(
    control_plane: ControlPlane, operator: OperatorProcess, emulator: Emulator, confluent: Confluent, how: str
) -> None:
    with namespace_with_credentials(control_plane, emulator) as k:
        name = f"{k.namespace}-orders"
        k.apply("ServiceAccount", "orders", {"displayName": name, **CREDS})
        k.apply("ApiKey", "orders-cloud", _cloud_key("orders"))
        k.apply("ApiKey", "orders-other", _cloud_key("orders"))
        for key in ("orders-cloud", "orders-other"):
            k.wait_condition("ApiKey", key, timeout=30)
        owner = k.get("ServiceAccount", "orders")["status"]["id"]  # type: ignore[index]
        assert len(confluent.api_keys(owner)) == 2
        started = time.monotonic()
        if how == "namespace":
            k.core.delete_namespace(k.namespace)
            k.wait_for("the namespace to be gone", lambda: _namespace_gone(k), timeout=60)
        else:
            # The order `kubectl delete -f examples/` takes: the credentials Secret first, then the rest.
            k.core.delete_namespaced_secret("ccloud-credentials", k.namespace)
            for plural, obj in (
                ("serviceaccounts", "orders"),
                ("apikeys", "orders-cloud"),
                ("apikeys", "orders-other"),
            ):
                k.custom.delete_namespaced_custom_object(GROUP, VERSION, k.namespace, plural, obj)
            for kind, obj in (("ServiceAccount", "orders"), ("ApiKey", "orders-cloud"), ("ApiKey", "orders-other")):
                k.wait_gone(kind, obj, timeout=60)
            k.wait_for("the credentials Secret to go", lambda: k.secret("ccloud-credentials") is None, timeout=30)
        assert time.monotonic() - started < 60
        assert confluent.service_accounts(name) == []
        assert confluent.api_keys(owner) == []


def test_log_lines_have_a_time_a_level_and_the_object_they_are_about(
    kube: Kube, operator: OperatorProcess, emulator: Emulator
) -> None:
    kube.apply("ServiceAccount", "logged", {"displayName": f"{kube.namespace}-logged", **CREDS})
    kube.wait_condition("ServiceAccount", "logged")
    about = f"[ServiceAccount {kube.namespace}/logged]"
    lines = [line for line in operator.log().splitlines() if about in line]
    assert lines, "no log line names the object"
    first = lines[0].split()
    assert first[0][:4].isdigit() and first[1][:2].isdigit(), lines[0]  # date and time
    assert first[2] in ("DEBUG", "INFO", "WARNING", "ERROR"), lines[0]
    assert any("/iam/v2/service-accounts" in line for line in lines), "the client's lines are not attributed"


def test_an_existing_key_reports_its_own_trouble_not_its_owners(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    kube.put_secret("own-creds", {"apiKey": emulator.api_key, "apiSecret": emulator.api_secret})
    creds = {"credentialsSecretRef": {"name": "own-creds"}}
    kube.apply("ServiceAccount", "troubled", {"displayName": f"{kube.namespace}-troubled", **creds})
    kube.apply("ApiKey", "steady", {**_cloud_key("troubled"), **creds})
    kube.wait_condition("ApiKey", "steady", timeout=30)
    body = {"stringData": {"apiSecret": "not-the-secret"}}
    kube.core.patch_namespaced_secret("own-creds", kube.namespace, body)
    kube.wait_condition("ServiceAccount", "troubled", "False", "CredentialsInvalid")
    # The key exists and its owner has an ID: it says what is wrong with it, not "waiting for the owner".
    cond = kube.wait_condition("ApiKey", "steady", "False", "CredentialsInvalid")
    assert "own-creds" in cond["message"]
    kube.core.patch_namespaced_secret("own-creds", kube.namespace, {"stringData": {"apiSecret": emulator.api_secret}})
    kube.wait_condition("ServiceAccount", "troubled")
    kube.wait_condition("ApiKey", "steady")
