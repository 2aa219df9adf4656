"""Least privilege, proven by use: the operator runs with a token minted (TokenRequest) for the chart's
ServiceAccount, with the settings of the chart's Deployment, through the whole life of every kind.

The chart is installed namespaced (the narrowest RBAC it renders): one watched namespace, and the
default Cloud API key in a Secret of the release's own namespace, which the operator may read and hold
by name only. Some objects use that key, the others a credentials Secret of their own namespace. Every
object is applied, becomes Ready, is deleted and is gone; then the operator's log must show no 403 and
no kopf complaint about permissions, and every finalizer it put on a Secret must be off again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import uvicorn
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator, Timing
from ccloud_operator.resources import GROUP, KINDS
from ccloud_testenv import ControlPlane
from ccloud_testenv.files import plugin_archive, serve_bytes
from ccloud_testenv.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ccloud-operator"
VERSION = "v1alpha1"
PREFIX = "least-priv"  # every namespace and release here starts with it: the control plane is shared
DEFAULT_CREDENTIALS = "ccloud-credentials"  # in the release namespace, outside the watched one
TEAM_CREDENTIALS = "team-credentials"  # in the watched namespace, named by credentialsSecretRef
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
PLURALS = {kind.kind: kind.plural for kind in KINDS}
# A refusal as kopf, the apiserver's message, or the operator's KubeError would log it.
REFUSED = re.compile(r"Forbidden|forbidden|Not enough permissions|HTTP 403|\(403\)|cannot \w+ resource")
# The kubernetes client's request line: https://127.0.0.1:PORT "PATCH /api/v1/... HTTP/1.1" 403 321
STATUS = re.compile(r'" (\d{3}) ')
# Confluent's side: a deleted key or service account answers 403 there, which is no Kubernetes refusal.
CONFLUENT = re.compile(r"\s(httpx|httpcore\.\w+|ccloud_operator\.confluent[\w.]*):\s")


@dataclass(frozen=True)
class Setup:
    """One release of the chart and the namespace its objects live in."""

    mode: str
    release: str  # contains the chart name: the full name, and the ServiceAccount's, is the release's
    team: str
    watch: bool  # watchNamespaces=[team] (Roles), or every namespace (a ClusterRole)


SETUPS = [
    Setup("namespaced", f"{PREFIX}-ns-ccloud-operator", f"{PREFIX}-ns-team", watch=True),
    Setup("cluster-wide", f"{PREFIX}-cw-ccloud-operator", f"{PREFIX}-cw-team", watch=False),
]


ARCHIVE = plugin_archive()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own
        pass


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[Emulator, str]]:
    """Confluent Cloud, served on 127.0.0.1 and stopped after the module."""
    emulator = Emulator(
        timing=Timing(connector_provisioning=0.5, plugin_version_processing=0.5, api_key_propagation=1.0)
    )
    server = _Server(uvicorn.Config(emulator.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield emulator, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def archive_url() -> Iterator[str]:
    """The plugin archive, served on 127.0.0.1 and stopped after the module."""
    with serve_bytes(ARCHIVE, "datagen.zip") as url:
        yield url


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _can(control_plane: ControlPlane, kubeconfig: Path, *args: str) -> bool:
    return control_plane.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False).returncode == 0


@pytest.fixture(scope="module")
def admin(control_plane: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    api = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api
    api.close()


def _secret(name: str, namespace: str, data: dict[str, str]) -> kubernetes.client.V1Secret:
    return kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=namespace), string_data=data
    )


@pytest.fixture(scope="module", params=SETUPS, ids=[s.mode for s in SETUPS])
def setup(request: pytest.FixtureRequest) -> Setup:
    found: Setup = request.param
    return found


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    crds: None,
    admin: kubernetes.client.ApiClient,
    emulator: tuple[Emulator, str],
    setup: Setup,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The chart installed, and the operator run as its ServiceAccount with its Deployment's env."""
    emu, url = emulator
    release, team = setup.release, setup.team
    core = kubernetes.client.CoreV1Api(admin)
    for namespace in (release, team):
        control_plane.kubectl("create", "namespace", namespace, check=False)  # left by an earlier run: reuse it
    keys = {"apiKey": emu.api_key, "apiSecret": emu.api_secret}
    for name, namespace in ((DEFAULT_CREDENTIALS, release), (TEAM_CREDENTIALS, team)):
        with contextlib.suppress(ApiException):
            core.create_namespaced_secret(namespace, _secret(name, namespace, keys))
    values = {
        "watchNamespaces": [team] if setup.watch else [],
        "credentials": {"existingSecret": DEFAULT_CREDENTIALS},
        "crds": {"install": False},  # the session's `crds` applied them
        "apiUrl": url,
        "waitSeconds": 0.3,
        "retryCapSeconds": 3,
        "logLevel": "DEBUG",
    }
    values_file = tmp_path_factory.mktemp("least-privilege-values") / "values.json"
    values_file.write_text(json.dumps(values))  # JSON is YAML; `--set` would make 0.3 a string
    process: OperatorProcess | None = None
    try:
        control_plane.helm("install", release, str(CHART), f"--namespace={release}", f"--values={values_file}")
        kubeconfig = control_plane.kubeconfig_for_service_account(release, release)
        # A new binding reaches the authorizer a moment after it is stored: start once it has.
        where = f"--namespace={team}" if setup.watch else "--all-namespaces"
        asks = [
            ("watch", f"customconnectors.{GROUP}", where),
            ("patch", f"secret/{DEFAULT_CREDENTIALS}", f"--namespace={release}"),
            ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
            *([("watch", "namespaces")] if setup.watch else []),
        ]
        _wait(
            "the chart's bindings to reach the authorizer",
            lambda: all(_can(control_plane, kubeconfig, *ask) for ask in asks),
            30,
        )
        deployment = json.loads(
            control_plane.kubectl("get", "deployment", release, f"--namespace={release}", "-o", "json").stdout
        )
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        # Exactly what the pod would get, but its ports: OperatorProcess picks free ones on 127.0.0.1.
        own_ports = ("CCLOUD_LIVENESS_PORT", "CCLOUD_METRICS_PORT")
        env = {e["name"]: e["value"] for e in container["env"] if e["name"] not in own_ports}
        assert env["CCLOUD_DEFAULT_CREDENTIALS_SECRET"] == f"{release}/{DEFAULT_CREDENTIALS}"
        assert json.loads(env["CCLOUD_NAMESPACES"]) == ([team] if setup.watch else [])
        log = tmp_path_factory.mktemp("least-privilege") / "operator.log"
        process = OperatorProcess(kubeconfig, log, env).start()
        yield process
    finally:
        if process is not None:
            process.stop()
        _strip_finalizers(admin, setup)
        control_plane.helm("uninstall", release, f"--namespace={release}", check=False)
        for namespace in (release, team):
            control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _strip_finalizers(admin: kubernetes.client.ApiClient, setup: Setup) -> None:
    """After a failure: nothing is left that no operator would ever release."""
    release, team = setup.release, setup.team
    custom, core = kubernetes.client.CustomObjectsApi(admin), kubernetes.client.CoreV1Api(admin)
    unhold = {"metadata": {"finalizers": None}}
    for plural in PLURALS.values():
        with contextlib.suppress(ApiException):
            for obj in custom.list_namespaced_custom_object(GROUP, VERSION, team, plural)["items"]:
                name = obj["metadata"]["name"]
                with contextlib.suppress(ApiException):
                    custom.patch_namespaced_custom_object(GROUP, VERSION, team, plural, name, unhold)
                    custom.delete_namespaced_custom_object(GROUP, VERSION, team, plural, name)
    for namespace, name in ((release, DEFAULT_CREDENTIALS), (team, TEAM_CREDENTIALS)):
        with contextlib.suppress(ApiException):
            core.patch_namespaced_secret(name, namespace, unhold)


def _objects(emu: Emulator, archive_url: str, team: str) -> dict[tuple[str, str], dict[str, Any]]:
    """One of each kind (a ConnectorPlugin, a ServiceAccount and an ApiKey as the connector's chain)."""
    own = {"credentialsSecretRef": {"name": TEAM_CREDENTIALS}}  # the others use the default credentials
    cluster = {"environment": emu.environment_id, "kafkaCluster": emu.kafka_cluster_id}
    versions = [
        {"version": "0.6.7", "archive": {"url": archive_url, "sha256": hashlib.sha256(ARCHIVE).hexdigest()}},
        {"version": "0.7.0", "archive": {"configMapRef": {"name": "archives", "key": "datagen.zip"}}},
    ]
    classes = {"connectorClasses": [{"className": CLASS, "type": "SOURCE"}]}
    return {
        ("ServiceAccount", "orders"): {"displayName": f"{team}-orders"},
        ("ApiKey", "orders-kafka"): {
            "serviceAccount": {"name": "orders"},
            "resource": {"kind": "KafkaCluster", "id": emu.kafka_cluster_id, "environment": emu.environment_id},
            "secret": {"name": "orders-kafka"},
            **own,
        },
        ("ConnectorPlugin", "datagen"): {
            "environment": emu.environment_id,
            "cloud": "AWS",
            "displayName": f"{team}-datagen",
            "versions": [{**v, **classes, "sensitiveConfigProperties": ["database.password"]} for v in versions],
            **own,
        },
        ("CustomConnector", f"{team}-pageviews"): {
            **cluster,
            "plugin": {"name": "datagen", "version": "0.6.7"},
            "connectorClass": CLASS,
            "kafkaAuth": {"serviceAccount": {"name": "orders"}},
            "config": {"kafka.topic": "pageviews", "quickstart": "pageviews"},
            "sensitiveConfig": [{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}],
        },
        ("RoleBinding", "orders-admin"): {
            "principal": {"serviceAccount": {"name": "orders"}},
            "roleName": "CloudClusterAdmin",
            "scope": cluster,
            **own,
        },
        ("IpGroup", "office"): {"groupName": f"{team}-office", "cidrBlocks": ["203.0.113.0/24"]},
        ("IpFilter", "office-only"): {"ipGroups": [{"name": "office"}], **own},
        ("Invitation", "alice"): {"email": f"alice@{team}.example.com"},
        ("IdentityProvider", "this-cluster"): {
            "displayName": f"{team}-k8s",
            "issuer": "https://oidc.example.com/clusters/prod",
            "jwksUri": "https://oidc.example.com/clusters/prod/openid/v1/jwks",
        },
        ("IdentityPool", "ccloud-operator"): {
            "identityProvider": {"name": "this-cluster"},
            "identityClaim": "claims.sub",
            "filter": 'claims.sub == "system:serviceaccount:ccloud-operator:ccloud-operator"',
            **own,
        },
    }


def test_every_kind_lives_and_dies_with_the_charts_rbac_and_nothing_is_refused(
    admin: kubernetes.client.ApiClient,
    operator: OperatorProcess,
    emulator: tuple[Emulator, str],
    archive_url: str,
    control_plane: ControlPlane,
    setup: Setup,
) -> None:
    emu, url = emulator
    release, team = setup.release, setup.team
    core, custom = kubernetes.client.CoreV1Api(admin), kubernetes.client.CustomObjectsApi(admin)
    objects = _objects(emu, archive_url, team)
    assert {kind for kind, _ in objects} == set(PLURALS), "one of each kind"

    def get(kind: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, team, PLURALS[kind], name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def ready(kind: str, name: str) -> bool:
        conditions = ((get(kind, name) or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    core.create_namespaced_secret(team, _secret("db", team, {"password": "not-a-real-password"}))
    core.create_namespaced_config_map(
        team,
        kubernetes.client.V1ConfigMap(
            metadata=kubernetes.client.V1ObjectMeta(name="archives", namespace=team),
            binary_data={"datagen.zip": base64.b64encode(ARCHIVE).decode()},
        ),
    )
    for (kind, name), spec in objects.items():
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}
        custom.create_namespaced_custom_object(GROUP, VERSION, team, PLURALS[kind], body)
    for kind, name in objects:
        try:
            _wait(f"{kind} {name} to be Ready", lambda k=kind, n=name: ready(k, n), 45)  # type: ignore[misc]
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {(get(kind, name) or {}).get('status')}\n{operator.log_tail()}") from None

    # What the operator wrote with its own rights: the ApiKey's Secret, owned by the ApiKey; the finalizer
    # on both credentials Secrets, the default one outside the watched namespace included; Events.
    written = core.read_namespaced_secret("orders-kafka", team)
    assert [o.kind for o in written.metadata.owner_references] == ["ApiKey"]
    # Someone edits the Secret the ApiKey owns: the operator puts it back, replacing it (update).
    core.patch_namespaced_secret("orders-kafka", team, {"stringData": {"stray": "edited by hand"}})
    _wait(
        "the ApiKey's Secret to be put back",
        lambda: "stray" not in (core.read_namespaced_secret("orders-kafka", team).data or {}),
        15,
    )
    for namespace, name in ((release, DEFAULT_CREDENTIALS), (team, TEAM_CREDENTIALS)):
        assert core.read_namespaced_secret(name, namespace).metadata.finalizers, f"{namespace}/{name} is held"
    events = core.list_namespaced_event(team).items
    assert {e.involved_object.kind for e in events if e.source and e.source.component == "ccloud-operator"} >= {
        "ServiceAccount",
        "CustomConnector",
    }

    for kind, name in objects:  # all at once: the operator keeps dependencies in order itself
        custom.delete_namespaced_custom_object(GROUP, VERSION, team, PLURALS[kind], name)
    for kind, name in objects:
        try:
            _wait(f"{kind} {name} to be gone", lambda k=kind, n=name: get(k, n) is None, 45)  # type: ignore[misc]
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {(get(kind, name) or {}).get('status')}\n{operator.log_tail()}") from None

    _wait(
        "the ApiKey's Secret to be deleted",
        lambda: not [s for s in core.list_namespaced_secret(team).items if s.metadata.name == "orders-kafka"],
        10,
    )
    for namespace, name in ((release, DEFAULT_CREDENTIALS), (team, TEAM_CREDENTIALS)):
        _wait(
            f"the finalizer on Secret {namespace}/{name} to be released",
            lambda ns=namespace, n=name: not core.read_namespaced_secret(n, ns).metadata.finalizers,  # type: ignore[misc]
            10,
        )
    assert f"{team}-pageviews" not in {c.name for c in emu.core.state.connectors.values()}, "gone from Confluent"
    assert operator.alive()
    kube_calls, refused = _kube_calls_and_refusals(operator.log(), control_plane.server, url)
    assert not refused, "\n".join(refused[:20])
    # The log shows the operator's own apiserver calls, so a refused one could not have gone unseen.
    assert {"GET", "PATCH", "POST", "PUT", "DELETE"} <= {method for method, _ in kube_calls}
    assert {status for _, status in kube_calls} <= {"200", "201", "404", "409", "422"}


def _kube_calls_and_refusals(log: str, apiserver: str, emulator_url: str) -> tuple[set[tuple[str, str]], list[str]]:
    """The (method, status) of every apiserver call the kubernetes client logged, and every refusal."""
    calls: set[tuple[str, str]] = set()
    refused: list[str] = []
    for line in log.splitlines():
        if emulator_url in line or CONFLUENT.search(line):
            continue
        if apiserver in line and (status := STATUS.search(line)):
            method = line.split('"', 2)[1].split(" ", 1)[0]
            calls.add((method, status.group(1)))
            if status.group(1) in ("401", "403"):
                refused.append(line)
        elif REFUSED.search(line):
            refused.append(line)
    return calls, refused


def test_the_log_check_sees_refused_apiserver_calls_and_not_confluents_403s() -> None:
    api, emu = "https://127.0.0.1:6443", "http://127.0.0.1:8080"
    log = "\n".join(
        [
            f'12:00:00,403 DEBUG   urllib3.connectionpool: [ApiKey t/k] {api} "GET /api/v1/namespaces/t/secrets/k HTTP/1.1" 200 99',
            f'12:00:01,000 DEBUG   urllib3.connectionpool: [ApiKey t/k] {api} "PUT /api/v1/namespaces/t/secrets/k HTTP/1.1" 403 321',
            "12:00:02,000 INFO    ccloud_operator.reconcile: [ApiKey t/k] Kubernetes API write Secret t/k: HTTP 403 Forbidden",
            "12:00:03,000 WARNING kopf._core.reactor.observation: Not enough permissions to watch for namespaces",
            f'12:00:04,000 INFO    httpx: [ApiKey t/k] HTTP Request: GET {emu}/iam/v2/api-keys/K "HTTP/1.1 403 Forbidden"',
            "12:00:05,000 DEBUG   ccloud_operator.confluent: [ApiKey t/k] GET /iam/v2/api-keys/K 403 in 4ms",
        ]
    )
    calls, refused = _kube_calls_and_refusals(log, api, emu)
    assert calls == {("GET", "200"), ("PUT", "403")}
    assert [line[:12] for line in refused] == ["12:00:01,000", "12:00:02,000", "12:00:03,000"]
