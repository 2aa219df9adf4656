"""Operators these tests start themselves: default credentials per namespace, two replicas with peering.

No test here may use the module-wide `operator` (the `kube` fixture): a second operator in the
cluster would act on the same objects.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ccloud_emulator import Emulator
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, OPERATOR_SETTINGS, Confluent, Tap, namespace_with_credentials

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_default_credentials_only_where_the_platform_team_allows(
    crds: None,
    control_plane: ControlPlane,
    emulator: Emulator,
    tap: tuple[Tap, str],
    confluent: Confluent,
    tmp_path: Path,
) -> None:
    with (
        namespace_with_credentials(control_plane, emulator) as allowed,
        namespace_with_credentials(control_plane, emulator) as denied,
    ):
        settings = {
            **OPERATOR_SETTINGS,
            "CCLOUD_API_URL": tap[1],
            "CCLOUD_DEFAULT_CREDENTIALS_SECRET": f"{allowed.namespace}/ccloud-credentials",
            "CCLOUD_DEFAULT_CREDENTIALS_NAMESPACES": f'["{allowed.namespace}"]',
        }
        with OperatorProcess(control_plane.kubeconfig, tmp_path / "operator.log", settings):
            allowed.apply("ServiceAccount", "a", {"displayName": f"{allowed.namespace}-a"})
            denied.apply("ServiceAccount", "d", {"displayName": f"{denied.namespace}-d"})
            allowed.wait_condition("ServiceAccount", "a")
            cond = denied.wait_condition("ServiceAccount", "d", "False", "CredentialsNotAllowed")
            assert "spec.credentialsSecretRef" in cond["message"]
            assert confluent.service_accounts(f"{denied.namespace}-d") == []
            for k, name in ((allowed, "a"), (denied, "d")):  # finalizers come off while the operator runs
                k.delete("ServiceAccount", name)
                k.wait_gone("ServiceAccount", name)


def leaders(*replicas: OperatorProcess) -> list[OperatorProcess]:
    """The replicas acting now: kopf starts each paused, then logs every resume and every pause."""
    active = []
    for replica in replicas:
        turns = [
            line for line in replica.log().splitlines() if "Resuming operations" in line or "Pausing operations" in line
        ]
        if turns and "Resuming operations" in turns[-1]:
            active.append(replica)
    return active


def test_two_replicas_with_peering_never_both_act(
    crds: None,
    control_plane: ControlPlane,
    emulator: Emulator,
    tap: tuple[Tap, str],
    confluent: Confluent,
    tmp_path: Path,
) -> None:
    control_plane.kubectl("apply", "-f", str(ROOT / "helm" / "ccloud-operator" / "crds" / "kopf-peering.yaml"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=30s")
    control_plane.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata: {name: ccloud-test}\n",
    )
    settings = {**OPERATOR_SETTINGS, "CCLOUD_API_URL": tap[1], "CCLOUD_PEERING": "ccloud-test"}
    first = OperatorProcess(control_plane.kubeconfig, tmp_path / "first.log", settings)
    second = OperatorProcess(control_plane.kubeconfig, tmp_path / "second.log", settings)
    with namespace_with_credentials(control_plane, emulator) as kube, first, second:
        kube.wait_for("exactly one replica to lead", lambda: len(leaders(first, second)) == 1, timeout=30)
        name = f"{kube.namespace}-peered"
        kube.apply("ServiceAccount", "peered", {"displayName": name, **CREDS})
        kube.wait_condition("ServiceAccount", "peered", timeout=20)
        assert len(confluent.service_accounts(name)) == 1
        acted = [p for p in (first, second) if "peered" in p.log()]
        assert len(acted) == 1
        assert leaders(first, second) == acted
        kube.delete("ServiceAccount", "peered")
        kube.wait_gone("ServiceAccount", "peered")


def test_a_restart_with_many_objects_runs_no_more_reconciles_at_once_than_its_workers(
    crds: None,
    control_plane: ControlPlane,
    emulator: Emulator,
    tap: tuple[Tap, str],
    confluent: Confluent,
    tmp_path: Path,
) -> None:
    count, workers = 40, 2
    settings = {**OPERATOR_SETTINGS, "CCLOUD_API_URL": tap[1], "CCLOUD_WORKERS": str(workers)}
    with namespace_with_credentials(control_plane, emulator) as kube:
        names = [f"sa-{i:02d}" for i in range(count)]
        with OperatorProcess(control_plane.kubeconfig, tmp_path / "first.log", settings):
            for name in names:
                kube.apply("ServiceAccount", name, {"displayName": f"{kube.namespace}-{name}", **CREDS})
            for name in names:
                kube.wait_condition("ServiceAccount", name, timeout=60)
        ids = {kube.get("ServiceAccount", n)["status"]["id"] for n in names}  # type: ignore[index]
        # The emulator now answers 429 to any request beyond `workers` in flight, and takes its time
        # over each read, so that reconciles overlap: a stampede would show.
        emulator.set_rate_limit(None, concurrency=workers)
        slow = emulator.fail("GET", "/iam/v2/service-accounts/*", latency=0.3)
        started = time.time()
        try:
            with OperatorProcess(control_plane.kubeconfig, tmp_path / "again.log", settings):

                def all_read_again() -> bool:
                    read = {r.path.rsplit("/", 1)[-1] for r in emulator.requests if r.time >= started}
                    return ids <= read

                kube.wait_for("every ServiceAccount read after the restart", all_read_again, timeout=60)
                for name in names:
                    kube.delete("ServiceAccount", name)
                for name in names:
                    kube.wait_gone("ServiceAccount", name, timeout=60)
        finally:
            emulator.remove_fault(slow.id)
            emulator.set_rate_limit(None)
        answered = [r for r in emulator.requests if r.time >= started]
        assert len(answered) >= 2 * count  # a read at start and a delete each
        assert [r for r in answered if r.status == 429] == [], "more reconciles ran at once than workers"
