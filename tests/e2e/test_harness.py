"""The harness is a real control plane: admission by schema and CEL, the status subresource, RBAC on
ServiceAccount tokens, namespace deletion and garbage collection by the controller manager, the pinned
versions, and no process left behind after stop(), a failed start, or the death of the parent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from ccloud_testenv import HELM_VERSION, K8S_VERSION, ControlPlane, ControlPlaneError
from ccloud_testenv.binaries import BINARIES, BUILD_SCRIPT, find_binaries

pytestmark = pytest.mark.e2e

GROUP = "harness.testenv.ccloud.dev"
CRD_NAME = f"widgets.{GROUP}"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["replicas", "maxReplicas"],
                                "properties": {
                                    "replicas": {"type": "integer", "minimum": 0},
                                    "maxReplicas": {"type": "integer", "minimum": 1},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.replicas <= self.maxReplicas",
                                        "message": "replicas must not exceed maxReplicas",
                                    }
                                ],
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


def widget(namespace: str, name: str, **spec: object) -> str:
    return json.dumps(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def get_json(cp: ControlPlane, *args: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(cp.kubectl("get", *args, "-o", "json").stdout)
    return loaded


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until true; fail after `timeout` seconds, a deadline for a stuck wait, not a speed test."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.1)


def gone(cp: ControlPlane, *args: str) -> bool:
    result = cp.kubectl("get", *args, "--ignore-not-found", "-o", "name", check=False)
    return result.returncode == 0 and result.stdout.strip() == ""


@pytest.fixture(scope="module")
def widgets(control_plane: ControlPlane) -> Iterator[str]:
    """The Widget CRD (structural schema, CEL rule, status subresource), established; removed afterwards."""
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    control_plane.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s")
    yield CRD_NAME
    control_plane.kubectl("delete", f"crd/{CRD_NAME}", "--wait=false", check=False)


def test_a_valid_resource_is_stored_and_unknown_fields_are_pruned(
    control_plane: ControlPlane, widgets: str, namespace: str
) -> None:
    manifest = json.loads(widget(namespace, "ok", replicas=1, maxReplicas=3))
    manifest["spec"]["colour"] = "red"
    # --validate=false sends the unknown field on; the structural schema then drops it.
    control_plane.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(manifest))
    stored = get_json(control_plane, "widget", "ok", "-n", namespace)
    assert stored["spec"] == {"replicas": 1, "maxReplicas": 3}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"replicas": -1, "maxReplicas": 2},
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            {"replicas": "many", "maxReplicas": 2},
            'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer',
        ),
        ({"replicas": 1}, "spec.maxReplicas: Required value"),
        ({"replicas": 3, "maxReplicas": 2}, 'spec: Invalid value: "object": replicas must not exceed maxReplicas'),
        ({"replicas": 1, "maxReplicas": 2, "colour": "red"}, 'strict decoding error: unknown field "spec.colour"'),
    ],
    ids=[
        "schema-minimum-rejects-negative-replicas",
        "schema-type-rejects-a-string",
        "schema-required-rejects-a-missing-field",
        "cel-rule-rejects-replicas-above-max",
        "strict-field-validation-rejects-an-unknown-field",
    ],
)
def test_an_invalid_resource_is_rejected_with_the_apiservers_message(
    control_plane: ControlPlane, widgets: str, namespace: str, spec: dict[str, object], message: str
) -> None:
    result = control_plane.kubectl("apply", "-f", "-", input=widget(namespace, "bad", **spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert gone(control_plane, "widget", "bad", "-n", namespace)


def test_status_is_written_only_through_the_status_subresource(
    control_plane: ControlPlane, widgets: str, namespace: str
) -> None:
    control_plane.kubectl("create", "-f", "-", input=widget(namespace, "w", replicas=1, maxReplicas=3))
    control_plane.kubectl(
        "patch", "widget", "w", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"phase": "Ready"}}',
    )  # fmt: skip
    # A spec change sent to /status is dropped; a status change sent to the main resource too.
    control_plane.kubectl(
        "patch", "widget", "w", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"spec": {"replicas": 2}, "status": {"phase": "Synced"}}',
    )  # fmt: skip
    control_plane.kubectl("patch", "widget", "w", "-n", namespace, "--type=merge", "-p", '{"status": {"phase": "X"}}')
    stored = get_json(control_plane, "widget", "w", "-n", namespace)
    assert stored["status"] == {"phase": "Synced"}
    assert stored["spec"] == {"replicas": 1, "maxReplicas": 3}
    assert stored["metadata"]["generation"] == 1  # type: ignore[index]


def test_a_service_account_token_gets_403_for_what_rbac_does_not_grant(
    control_plane: ControlPlane, widgets: str, namespace: str
) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    control_plane.kubectl(
        "create", "role", "widget-reader", "-n", namespace, "--verb=get,list", f"--resource=widgets.{GROUP}"
    )
    control_plane.kubectl(
        "create", "rolebinding", "reader", "-n", namespace, "--role=widget-reader",
        f"--serviceaccount={namespace}:reader",
    )  # fmt: skip
    kubeconfig = control_plane.kubeconfig_for_service_account(namespace, "reader")
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"

    whoami = control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"
    # The RoleBinding reaches the authorizer's cache a moment after it is created.
    eventually(
        lambda: (
            control_plane.kubectl("get", "widgets", "-n", namespace, kubeconfig=kubeconfig, check=False).returncode == 0
        ),
        timeout=10,
        what="the granted list",
    )
    denied = control_plane.kubectl(
        "create", "-f", "-", input=widget(namespace, "w", replicas=1, maxReplicas=1), kubeconfig=kubeconfig, check=False
    )
    assert denied.returncode != 0
    assert "Error from server (Forbidden)" in denied.stderr  # kubectl's rendering of the apiserver's 403
    assert f'User "system:serviceaccount:{namespace}:reader" cannot create resource "widgets"' in denied.stderr
    other = control_plane.kubectl("get", "secrets", "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert "forbidden" in other.stderr


def test_a_deleted_namespace_finishes_deleting_with_its_contents(control_plane: ControlPlane, widgets: str) -> None:
    name = f"doomed-{os.getpid()}"
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("create", "configmap", "c", "-n", name)
    control_plane.kubectl("create", "-f", "-", input=widget(name, "w", replicas=0, maxReplicas=1))
    control_plane.kubectl("delete", "namespace", name, "--wait=false")
    eventually(lambda: gone(control_plane, "namespace", name), timeout=30, what="the namespace deletion")


def test_the_garbage_collector_deletes_dependents_of_a_deleted_owner(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = get_json(control_plane, "configmap", "owner", "-n", namespace)["metadata"]["uid"]  # type: ignore[index]
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    control_plane.kubectl("create", "-f", "-", input=json.dumps(dependent))
    control_plane.kubectl("delete", "configmap", "owner", "-n", namespace)
    eventually(lambda: gone(control_plane, "configmap", "dependent", "-n", namespace), 30, "garbage collection")


def test_kubectl_and_the_apiserver_report_the_pinned_kubernetes_version(control_plane: ControlPlane) -> None:
    versions = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == K8S_VERSION == control_plane.version == "v1.34.1"
    assert versions["serverVersion"]["gitVersion"] == K8S_VERSION


def test_helm_reports_the_pinned_version(control_plane: ControlPlane) -> None:
    assert control_plane.helm("version", "--template", "{{.Version}}").stdout == HELM_VERSION == "v3.19.5"


def test_a_failed_kubectl_names_the_command_and_the_error_but_no_secret_value(control_plane: ControlPlane) -> None:
    secret_value = "hunter2-do-not-print"
    with pytest.raises(ControlPlaneError) as failure:
        control_plane.kubectl(
            "create",
            "secret",
            "generic",
            "s",
            "--namespace=no-such-namespace",
            f"--from-literal=password={secret_value}",
        )
    message = str(failure.value)
    assert "kubectl create secret generic s --namespace=no-such-namespace --from-literal=password=***" in message
    assert 'namespaces "no-such-namespace" not found' in message
    assert secret_value not in message
    assert secret_value not in repr(failure.value)


def test_the_build_script_and_the_package_key_the_cache_by_the_same_versions() -> None:
    script = BUILD_SCRIPT.read_text()
    assert f"K8S_VERSION={K8S_VERSION}\n" in script
    assert f"HELM_VERSION={HELM_VERSION}\n" in script


# --- no process outlives the control plane ------------------------------------------------------------


def running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def processes_mentioning(text: str) -> list[int]:
    """Running processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_stop_leaves_no_process_and_no_temporary_folder() -> None:
    cp = ControlPlane().start()
    try:
        pids, work_dir = cp.pids, cp.work_dir
        assert len(pids) == 3
        assert processes_mentioning(str(work_dir))
    finally:
        cp.stop()
    assert processes_mentioning(str(work_dir)) == []
    assert not any(running(pid) for pid in pids)
    assert not work_dir.exists()


@pytest.fixture
def broken_bin_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The real binaries, except one (the parameter) replaced by a script that fails at once."""
    real = find_binaries()
    assert real is not None, "the control plane is not built: run `ccloud-testenv build`"
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in BINARIES:
        (folder / name).symlink_to(real / name)
    broken = folder / request.param
    broken.unlink()
    broken.write_text(f"#!/bin/sh\necho '{request.param}: simulated failure' >&2\nexit 3\n")
    broken.chmod(0o755)
    (folder / ".complete").touch()
    return folder


@pytest.mark.parametrize(
    "broken_bin_dir",
    ["etcd", "kube-apiserver"],
    ids=["etcd-fails-first", "apiserver-fails-after-etcd-started"],
    indirect=True,
)
def test_a_failed_start_reports_the_log_and_stops_what_it_started(broken_bin_dir: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    cp = ControlPlane(bin_dir=broken_bin_dir, work_dir=work_dir, build=False, start_timeout=30)
    with pytest.raises(ControlPlaneError, match=r"exited with code 3") as failure:
        cp.start()
    assert "simulated failure" in str(failure.value)
    assert str(work_dir / "logs") in str(failure.value)
    assert processes_mentioning(str(work_dir)) == []
    assert cp.processes == []


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["ctrl-c-stops-in-order", "sigterm-stops-in-order", "sigkill-of-the-parent-kills-the-children"],
)
def test_the_up_command_takes_its_processes_with_it(signum: int, exit_code: int, tmp_path: Path) -> None:
    work_dir = tmp_path / "up"
    parent = subprocess.Popen(
        [sys.executable, "-m", "ccloud_testenv", "up", "--dir", str(work_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell running us in the background may have set SIGINT to ignored; Ctrl-C must work here.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert parent.stdout is not None
    lines = []
    for line in parent.stdout:
        lines.append(line)
        if "Running until Ctrl-C" in line:
            break
    assert f"export KUBECONFIG={work_dir / 'admin.kubeconfig'}\n" in "".join(lines)
    children = [pid for pid in processes_mentioning(str(work_dir)) if pid != parent.pid]
    assert len(children) == 3
    parent.send_signal(signum)
    # Deadlines, not speed limits: an orderly stop may take 10 s of grace per process, then a kill.
    assert parent.wait(timeout=60) == exit_code
    parent.stdout.close()
    # Both checks inside the wait: a dying process loses its command line before it stops running.
    eventually(lambda: not any(map(running, children)), timeout=30, what="the children's exit")
    assert processes_mentioning(str(work_dir)) == []


def test_the_demo_reaches_ready_and_exits_when_asked(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ccloud_testenv", "demo", "--exit-after-ready", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "==> [2/" in result.stdout
    assert f"export KUBECONFIG={tmp_path / 'demo' / 'admin.kubeconfig'}" in result.stdout
    assert "kubectl get ccloud -A" in result.stdout
    assert "every example is Ready" in result.stdout
    ready_rows = [line.split() for line in result.stdout.splitlines() if "ccloud.operators.dev/orders" in line]
    assert sorted(row[1].split("/")[-1] for row in ready_rows if row[2] == "True") == [
        "orders",
        "orders-cloud",
        "orders-cluster-admin",
        "orders-kafka",
        "orders-source",
    ]
    assert processes_mentioning(str(tmp_path / "demo")) == []
    config = yaml.safe_load((tmp_path / "demo" / "admin.kubeconfig").read_text())
    assert config["users"][0]["name"] == "admin"
