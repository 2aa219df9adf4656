"""ApiKey end to end: owner readiness, the output Secret, propagation, replacement, crash safety, no leaks."""

from __future__ import annotations

from typing import Any

import pytest

from ccloud_emulator import Emulator
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, Confluent, Kube, Tap

pytestmark = pytest.mark.e2e


def kafka(emulator: Emulator, **extra: Any) -> dict[str, Any]:
    resource = {"kind": "KafkaCluster", "id": emulator.kafka_cluster_id, "environment": emulator.environment_id}
    return {"serviceAccount": {"name": "owner"}, "resource": resource, **CREDS, **extra}


def owner_id(kube: Kube) -> str:
    kube.wait_condition("ServiceAccount", "owner")
    sa_id: str = kube.get("ServiceAccount", "owner")["status"]["id"]  # type: ignore[index]
    return sa_id


def make_owner(kube: Kube) -> None:
    kube.apply("ServiceAccount", "owner", {"displayName": f"{kube.namespace}-owner", **CREDS})


def test_waits_for_its_service_account_then_writes_secret_and_becomes_ready(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    template = {
        "sasl.jaas.config": 'PlainLoginModule required username="{{ .key }}" password="{{ .secret }}";',
        "bootstrap.servers": "{{ .bootstrapServers }}",
    }
    kube.apply("ApiKey", "kafka", kafka(emulator, secret={"name": "kafka-creds", "template": template}))
    waiting = kube.wait_condition("ApiKey", "kafka", "False", "WaitingForServiceAccount")
    assert "ServiceAccount owner does not exist" in waiting["message"]

    make_owner(kube)
    sa = owner_id(kube)
    kube.wait_condition("ApiKey", "kafka")
    status = kube.get("ApiKey", "kafka")["status"]  # type: ignore[index]
    secret = kube.secret("kafka-creds")
    assert secret is not None
    [remote] = confluent.api_keys(sa)
    assert status["id"] == secret["key"] == remote["id"]
    assert len(secret["secret"]) == 64
    assert (
        secret["sasl.jaas.config"]
        == f'PlainLoginModule required username="{secret["key"]}" password="{secret["secret"]}";'
    )
    assert secret["bootstrap.servers"] and "://" not in secret["bootstrap.servers"]
    assert status["ownerId"] == sa
    assert status["secretName"] == "kafka-creds"


def test_ready_only_once_the_key_has_propagated(kube: Kube, emulator: Emulator) -> None:
    make_owner(kube)
    owner_id(kube)
    kube.apply("ApiKey", "slow", kafka(emulator))
    kube.wait_condition("ApiKey", "slow", "False", "WaitingForPropagation")
    assert kube.condition("ApiKey", "slow", "Propagated")["status"] == "False"
    kube.wait_condition("ApiKey", "slow", timeout=10)
    assert kube.condition("ApiKey", "slow", "Propagated")["reason"] == "KeyUsable"
    probes = emulator.calls("GET", f"/kafka/v3/clusters/{emulator.kafka_cluster_id}/topics")
    assert 401 in [p.status for p in probes]
    assert probes[-1].status == 200


def test_cloud_key(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    make_owner(kube)
    sa = owner_id(kube)
    kube.apply("ApiKey", "cloud", {"serviceAccount": {"name": "owner"}, "resource": {"kind": "Cloud"}, **CREDS})
    kube.wait_condition("ApiKey", "cloud", timeout=10)
    [remote] = confluent.api_keys(sa)
    assert remote["spec"]["resource"]["id"] == "cloud"


def test_lost_output_secret_means_a_new_key_and_the_old_one_deleted(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    make_owner(kube)
    sa = owner_id(kube)
    kube.apply("ApiKey", "rotated", kafka(emulator))
    kube.wait_condition("ApiKey", "rotated", timeout=10)
    old = kube.get("ApiKey", "rotated")["status"]["id"]  # type: ignore[index]
    kube.core.delete_namespaced_secret("rotated", kube.namespace)
    new = kube.wait_for(
        "a new key in the Secret",
        lambda: (s := kube.secret("rotated")) is not None and s["key"] != old and s["key"],
        timeout=10,
    )
    kube.wait_for("the status to name the new key", lambda: kube.get("ApiKey", "rotated")["status"]["id"] == new)  # type: ignore[index]
    assert [k["id"] for k in confluent.api_keys(sa)] == [new]
    assert "KeyReplaced" in [reason for reason, _ in kube.events("rotated")]


def test_delete_removes_the_key_and_the_secret_it_made(kube: Kube, emulator: Emulator, confluent: Confluent) -> None:
    make_owner(kube)
    sa = owner_id(kube)
    kube.apply("ApiKey", "temp", kafka(emulator))
    kube.wait_condition("ApiKey", "temp", timeout=10)
    kube.delete("ApiKey", "temp")
    kube.wait_gone("ApiKey", "temp")
    assert confluent.api_keys(sa) == []
    assert kube.secret("temp") is None


def test_service_account_is_not_deleted_while_an_api_key_uses_it(kube: Kube, emulator: Emulator) -> None:
    make_owner(kube)
    owner_id(kube)
    kube.apply("ApiKey", "user", kafka(emulator))
    kube.wait_condition("ApiKey", "user", timeout=10)
    kube.delete("ServiceAccount", "owner")
    kube.wait_for(
        "the owner to wait for its dependents", lambda: "ApiKey user" in str(kube.events("owner")), timeout=10
    )
    assert kube.get("ServiceAccount", "owner") is not None
    kube.delete("ApiKey", "user")
    kube.wait_gone("ApiKey", "user")
    kube.wait_gone("ServiceAccount", "owner", timeout=20)


def test_an_existing_secret_not_ours_is_not_overwritten(kube: Kube, emulator: Emulator) -> None:
    make_owner(kube)
    owner_id(kube)
    kube.put_secret("taken", {"password": "someone else's"})
    kube.apply("ApiKey", "taken", kafka(emulator))
    cond = kube.wait_condition("ApiKey", "taken", "False", "SecretConflict")
    assert "spec.secret.name" in cond["message"]
    assert kube.secret("taken") == {"password": "someone else's"}


def test_killed_after_create_before_the_secret_is_written_leaves_no_orphan(
    kube: Kube, emulator: Emulator, confluent: Confluent, operator: OperatorProcess, tap: tuple[Tap, str]
) -> None:
    make_owner(kube)
    sa = owner_id(kube)
    tap[0].after("POST", "/iam/v2/api-keys", operator.kill)
    kube.apply("ApiKey", "crash", kafka(emulator))
    kube.wait_for("the key to be made and the operator to die", lambda: confluent.api_keys(sa) and not operator.alive())
    [lost] = [k["id"] for k in confluent.api_keys(sa)]
    assert kube.secret("crash") is None  # its secret went down with the operator
    operator.start()
    kube.wait_condition("ApiKey", "crash", timeout=15)
    keys = [k["id"] for k in confluent.api_keys(sa)]
    assert lost not in keys
    assert keys == [kube.secret("crash")["key"]]  # type: ignore[index]


def test_no_secret_value_reaches_the_operator_log_or_events(
    kube: Kube, emulator: Emulator, operator: OperatorProcess
) -> None:
    make_owner(kube)
    owner_id(kube)
    kube.apply("ApiKey", "quiet", kafka(emulator))
    kube.wait_condition("ApiKey", "quiet", timeout=10)
    secret = kube.secret("quiet")
    assert secret is not None
    log = operator.log()
    events = str(kube.events("quiet")) + str(kube.events("owner"))
    for value in (secret["secret"], emulator.api_secret):
        assert value not in log
        assert value not in events
    assert "quiet" in log  # the log is the operator's and is not empty


def test_kubectl_wait_get_and_explain(control_plane: ControlPlane, kube: Kube, emulator: Emulator) -> None:
    kube.apply("ServiceAccount", "orders", {"displayName": f"{kube.namespace}-orders", **CREDS})
    kube.apply("ApiKey", "orders", {"serviceAccount": {"name": "orders"}, "resource": {"kind": "Cloud"}, **CREDS})
    waited = control_plane.kubectl(
        "wait",
        "-n",
        kube.namespace,
        "--for=condition=Ready",
        "serviceaccounts.ccloud.operators.dev/orders",
        "apikeys.ccloud.operators.dev/orders",
        "--timeout=20s",
    )
    assert waited.stdout.count("condition met") == 2
    table = control_plane.kubectl("get", "ccloud", "-n", kube.namespace).stdout
    assert "READY" in table and "STATUS" in table and "ID" in table and "AGE" in table
    sa_id = kube.get("ServiceAccount", "orders")["status"]["id"]  # type: ignore[index]
    key_id = kube.get("ApiKey", "orders")["status"]["id"]  # type: ignore[index]
    assert sa_id in table and key_id in table
    explained = control_plane.kubectl("explain", "apikeys.spec.secret.template").stdout
    assert "{{ .key }}" in explained


def test_adopt_an_existing_key_whose_secret_is_in_the_output_secret(
    kube: Kube, emulator: Emulator, confluent: Confluent
) -> None:
    make_owner(kube)
    sa = owner_id(kube)
    key, secret = confluent.create_api_key(sa, emulator.kafka_cluster_id, emulator.environment_id)
    kube.put_secret("adopted", {"key": key, "secret": secret})
    kube.apply("ApiKey", "adopted", kafka(emulator, adoptId=key))
    kube.wait_condition("ApiKey", "adopted", timeout=10)
    assert kube.get("ApiKey", "adopted")["status"]["id"] == key  # type: ignore[index]
    assert [k["id"] for k in confluent.api_keys(sa)] == [key]
    assert kube.secret("adopted") == {"key": key, "secret": secret}
