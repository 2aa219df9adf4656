"""The stack the operator benchmarks run on: the real kube-apiserver, the emulator on 127.0.0.1, the
operator as a process. Everything started here is stopped when the block exits, however it exits.

    with stack("convergence", timing=Timing(connector_provisioning=2.0), rate=20.0) as s:
        objects = s.manifests({"ServiceAccount": 10})
        s.create(objects)

The objects come from `ccloud_testenv.workload` (its manifests, in dependency order); this module adds
only what a benchmark needs around them: the namespace with the credentials Secret, the plugin archive
served over HTTP, and a few helpers (the operator's metrics, its /proc figures).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes

from ccloud_emulator import Emulator, Timing, serve_in_thread
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.files import plugin_archive, serve_bytes
from ccloud_testenv.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parent.parent
GROUP, VERSION = "ccloud.operators.dev", "v1alpha1"
NAMESPACE = "bench"
CREDENTIALS = "ccloud-credentials"
# Every kind's plural, dependents first (the order to delete in).
PLURALS = {
    "CustomConnector": "customconnectors",
    "RoleBinding": "rolebindings",
    "IpFilter": "ipfilters",
    "Invitation": "invitations",
    "ApiKey": "apikeys",
    "IdentityPool": "identitypools",
    "ConnectorPlugin": "connectorplugins",
    "IpGroup": "ipgroups",
    "ServiceAccount": "serviceaccounts",
    "IdentityProvider": "identityproviders",
}
KIND_OF = {plural: kind for kind, plural in PLURALS.items()}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    plane: ControlPlane
    emulator: Emulator
    base_url: str
    api: kubernetes.client.ApiClient
    operator: OperatorProcess
    place: Any  # ccloud_testenv.workload.Place
    metrics_port: int
    namespace: str = NAMESPACE

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    def manifests(self, counts: Mapping[str, int], tag: str = "w") -> list[dict[str, Any]]:
        from ccloud_testenv import workload

        objects: list[dict[str, Any]] = workload.manifests(dict(counts), self.namespace, self.place, tag=tag)
        return objects

    def create(self, objects: list[dict[str, Any]]) -> None:
        from ccloud_testenv import workload

        workload.create_all(self.api, objects, threads=8)

    def list(self, plural: str) -> list[dict[str, Any]]:
        """Every object of a kind in the namespace, parsed straight from JSON (the client's models are slow)."""
        response = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, body)

    def delete(self, plural: str, name: str) -> None:
        with contextlib.suppress(kubernetes.client.ApiException):
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def tables(self) -> dict[str, int]:
        """How many objects each of the emulator's state tables holds (`workload.expected`'s keys)."""
        from ccloud_testenv import workload

        with self.emulator.core.lock:
            state = self.emulator.core.state
            return {table: len(getattr(state, table)) for table in workload.expected([])}

    # --- the operator from the outside -------------------------------------------------------------

    def pid(self) -> int:
        pid = self.operator.pid
        if pid is None or not self.operator.alive():
            raise RuntimeError(f"the operator is not running; see {self.operator.log_path}")
        return pid

    def rss_mib(self) -> tuple[float, float]:
        """The operator's resident set now and at its peak (VmRSS, VmHWM), in MiB."""
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{self.pid()}/status").read_text().splitlines() if ":" in line
        )
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def cpu_seconds(self) -> float:
        """The operator's user + system CPU time so far (/proc/<pid>/stat utime + stime)."""
        stat = Path(f"/proc/{self.pid()}/stat").read_text()
        after_name = stat.rsplit(")", 1)[1].split()
        return (int(after_name[11]) + int(after_name[12])) / CLK_TCK  # fields 14 and 15

    def metric(self, name: str) -> dict[str, float]:
        """One metric of the operator's /metrics, summed by kind label (or "" without one)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        sums: dict[str, float] = {}
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            labels = head[len(name) :]
            if labels and not labels.startswith("{"):
                continue  # another metric sharing the prefix
            kind = ""
            if 'kind="' in labels:
                kind = labels.split('kind="', 1)[1].split('"', 1)[0]
            sums[kind] = sums.get(kind, 0.0) + float(value)
        return sums

    def restart_operator(self, settings: Mapping[str, str] | None = None, reason: str = "benchmark") -> float:
        """Stop the operator and start it again (with these settings merged in); the wall-clock start."""
        self.operator.stop()
        if settings:
            self.operator.settings.update(settings)
        began = time.time()
        self.operator.restart(reason, timeout=60)
        return began


@contextlib.contextmanager
def stack(
    name: str,
    *,
    timing: Timing | None = None,
    rate: float | None = None,
    settings: Mapping[str, str] | None = None,
    start_operator: bool = True,
) -> Iterator[Stack]:
    """Control plane with our CRDs, emulator (limited to `rate` requests/s if given), operator; all stopped after."""
    from ccloud_testenv import workload

    out = ROOT / "bench" / "out" / name
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as exits:
        began = time.monotonic()
        plane = exits.enter_context(ControlPlane())
        plane.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        emulator = Emulator(timing=timing or Timing())
        if rate is not None:
            emulator.set_rate_limit(rate=rate, burst=max(1, round(rate)))
        base_url = exits.enter_context(serve_in_thread(emulator))
        archive = plugin_archive()
        archive_url = exits.enter_context(serve_bytes(archive))
        api = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
        exits.callback(api.close)
        core = kubernetes.client.CoreV1Api(api)
        core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=NAMESPACE)))
        secret = kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=CREDENTIALS, namespace=NAMESPACE),
            string_data={"apiKey": emulator.api_key, "apiSecret": emulator.api_secret},
        )
        core.create_namespaced_secret(NAMESPACE, secret)
        place = workload.Place(
            environment=emulator.environment_id,
            kafka_cluster=emulator.kafka_cluster_id,
            archive_url=archive_url,
            archive_sha256=hashlib.sha256(archive).hexdigest(),
            credentials={"credentialsSecretRef": {"name": CREDENTIALS}},
        )
        metrics_port = _free_port()
        log = out / "operator.log"
        log.unlink(missing_ok=True)
        operator_settings = {
            "CCLOUD_API_URL": base_url,
            "CCLOUD_METRICS_HOST": "127.0.0.1",
            "CCLOUD_METRICS_PORT": str(metrics_port),
            "CCLOUD_LOG_LEVEL": "INFO",
            **(settings or {}),
        }
        operator = OperatorProcess(plane.kubeconfig, log, operator_settings)
        exits.callback(operator.stop)
        if start_operator:
            operator.start(timeout=60)
        print(f"    [{name}] stack up in {time.monotonic() - began:.1f}s (operator log {log})", flush=True)
        yield Stack(plane, emulator, base_url, api, operator, place, metrics_port)
