"""The Helm chart, rendered offline: lint, the strict values schema, values that mirror the operator's
settings, least-privilege RBAC in both scopes, and the Deployment's shape.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import yaml

from ccloud_operator.resources import GROUP, KINDS, Kind
from ccloud_operator.settings import Settings

from .conftest import CHART, Render, Rendered, RenderError

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())

# Settings fields the chart names differently, and the one it sets itself.
RENAMED = {"namespaces": "watchNamespaces"}
# The pod must listen on 0.0.0.0 for the kubelet's probes and for Prometheus: not a choice.
NOT_A_VALUE = {"liveness_host", "metrics_host"}
# The chart mounts the token itself (workloadIdentity.projectedToken); a TokenRequest is for outside a pod.
NOT_A_VALUE |= {"workload_identity_token_file", "workload_identity_service_account"}
CHART_ONLY = {
    "credentials",
    "workloadIdentity",
    "crds",
    "replicas",
    "image",
    "imagePullSecrets",
    "resources",
    "securityContext",
    "containerSecurityContext",
    "podAnnotations",
    "podLabels",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "serviceAccount",
    "nameOverride",
    "fullnameOverride",
    "metrics",
}
# The chart's own nested values (the others are Kubernetes objects passed through).
OWN_OBJECTS = ("credentials", "workloadIdentity", "crds", "image", "serviceAccount", "metrics")
SA = ("ops", "ccloud-ccloud-operator")  # release "ccloud" in namespace "ops", as conftest renders it


def value_key(field: str) -> str:
    if field in RENAMED:
        return RENAMED[field]
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


MIRRORED = {field: value_key(field) for field in Settings.model_fields if field not in NOT_A_VALUE}


# --- lint and the schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sets",
    [(), ("watchNamespaces={team-a,team-b}", "peering=ccloud", "replicas=2", "credentials.existingSecret=creds")],
    ids=["default values", "namespaced, peered, two replicas, existing credentials"],
)
def test_helm_lint_strict_passes(generate: ModuleType, sets: tuple[str, ...]) -> None:
    argv = [str(generate.find_helm()), "lint", "--strict", f"--kube-version={generate.KUBE_VERSION}", str(CHART)]
    result = subprocess.run(argv + [f"--set={s}" for s in sets], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"resyncSecond": 1}, "at '': additional properties 'resyncSecond' not allowed"),
        ({"image": {"tagg": "1.0"}}, "at '/image': additional properties 'tagg' not allowed"),
        ({"crds": {"instal": False}}, "at '/crds': additional properties 'instal' not allowed"),
        ({"securityContext": {"runAsNonroot": True}}, "at '/securityContext': additional properties 'runAsNonroot'"),
        ({"resyncSeconds": "10m"}, "at '/resyncSeconds': got string, want number"),
        ({"replicas": 1.5}, "at '/replicas': got number, want integer"),
        ({"watchNamespaces": "team-a"}, "at '/watchNamespaces': got string, want array"),
        ({"crds": {"keep": "yes"}}, "at '/crds/keep': got string, want boolean"),
        ({"resyncJitter": 2}, "at '/resyncJitter': maximum: got 2, want 1"),
        ({"resyncSeconds": 0}, "at '/resyncSeconds': exclusiveMinimum"),
        ({"defaultDeletionPolicy": "Remove"}, "at '/defaultDeletionPolicy': value must be one of 'Delete', 'Orphan'"),
        ({"logLevel": "verbose"}, "at '/logLevel': value must be one of"),
        ({"defaultCredentialsSecret": "ccloud"}, "at '/defaultCredentialsSecret': 'ccloud' does not match pattern"),
        ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0': 'Team_A' does not match pattern"),
    ],
    ids=[
        "a typo'd top-level key",
        "a typo'd nested key",
        "a typo'd crds switch",
        "a typo inside a Kubernetes security context",
        "a duration string where seconds go",
        "a fraction of a replica",
        "one namespace instead of a list",
        "a string where a boolean goes",
        "jitter above 1",
        "a zero resync interval",
        "an unknown deletion policy",
        "an unknown log level",
        "a credentials Secret without its namespace",
        "a namespace name Kubernetes would refuse",
    ],
)
def test_schema_refuses_with_the_key_and_the_reason(
    render_error: RenderError, values: dict[str, Any], error: str
) -> None:
    message = render_error(values)
    assert "values don't meet the specifications of the schema" in message
    assert error in message


def _objects(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if "properties" in node:
        yield path or "/", node
        for key, child in node["properties"].items():
            yield from _objects(child, f"{path}/{key}")
    if isinstance(node.get("items"), dict):
        yield from _objects(node["items"], f"{path}/*")


def test_schema_closes_every_object_it_describes_and_describes_every_key() -> None:
    for path, node in _objects(SCHEMA):
        assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        for key, child in node["properties"].items():
            assert child.get("description"), f"{path}/{key} has no description"


def test_values_yaml_documents_every_key_of_the_chart() -> None:
    assert set(VALUES) == set(SCHEMA["properties"])
    for key in OWN_OBJECTS:
        assert set(VALUES[key]) == set(SCHEMA["properties"][key]["properties"]), key
    lines = (CHART / "values.yaml").read_text().splitlines()
    parent = ""
    for number, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("#", "-")):
            continue
        indent = len(line) - len(stripped)
        key = stripped.split(":", 1)[0]
        if indent == 0:
            parent = key
        if indent == 0 or (indent == 2 and parent in OWN_OBJECTS):
            previous = next(text for text in reversed(lines[:number]) if text.strip())
            assert previous.lstrip().startswith("#"), f"values.yaml: {key!r} has no comment above it"


# --- values mirror the operator's settings -------------------------------------------------------


def test_every_setting_is_a_value_and_every_value_a_setting_or_the_charts_own() -> None:
    assert set(SCHEMA["properties"]) == set(MIRRORED.values()) | CHART_ONLY


@pytest.mark.parametrize("field", sorted(MIRRORED), ids=lambda f: f"{MIRRORED[f]} defaults to Settings.{f}")
def test_value_defaults_equal_the_operators_defaults(field: str) -> None:
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    chart = VALUES[MIRRORED[field]]
    assert chart == ("" if default is None else default)


def _settings_schema() -> dict[str, Any]:
    schema = Settings.model_json_schema()
    defs = schema.get("$defs", {})
    properties: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if "$ref" in prop:
            prop = {**defs[prop["$ref"].rsplit("/", 1)[-1]], **prop}
        if "anyOf" in prop:
            prop = {**next(p for p in prop["anyOf"] if p.get("type") != "null"), **prop}
        properties[name] = prop
    return properties


@pytest.mark.parametrize("field", sorted(MIRRORED), ids=lambda f: f"{MIRRORED[f]} is as strict as Settings.{f}")
def test_schema_constraints_match_the_settings_model(field: str) -> None:
    model = _settings_schema()[field]
    chart = SCHEMA["properties"][MIRRORED[field]]
    assert chart["type"] == model["type"]
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if bound in model:
            assert chart.get(bound) == model[bound], bound
    if "enum" in model:
        assert chart["enum"] == model["enum"]


NON_DEFAULT = {
    "apiUrl": "http://emulator.test:8080",
    "watchNamespaces": ["team-a", "team-b"],
    "defaultCredentialsSecret": "platform/ccloud",
    "defaultCredentialsNamespaces": ["team-a"],
    "workloadIdentityAudience": "ccloud.example.com",
    "workloadIdentityTokenSeconds": 600,
    "defaultDeletionPolicy": "Orphan",
    "resyncSeconds": 30.5,
    "resyncJitter": 0.25,
    "retryCapSeconds": 120,
    "waitSeconds": 0.5,
    "workers": 4,
    "sharedReadSeconds": 5,
    "throttleReportSeconds": 1.5,
    "failedGraceSeconds": 45,
    "listPageSize": 50,
    "peering": "ccloud",
    "priority": 7,
    "livenessPort": 9090,
    "metricsPort": 9091,
    "logFormat": "json",
    "logLevel": "DEBUG",
}


# The other way to give default credentials (the two exclude each other): rendered on its own.
BY_POOL = {
    **{k: v for k, v in NON_DEFAULT.items() if k != "defaultCredentialsSecret"},
    "defaultIdentityPool": "pool-ab12cd",
    "workloadIdentity": {"projectedToken": True},
}
TOKEN_FILE = "/var/run/secrets/ccloud.operators.dev/workload-identity/token"


@pytest.mark.parametrize("values", [NON_DEFAULT, BY_POOL], ids=["api-key", "identity-pool"])
def test_every_value_reaches_the_operator_as_its_setting(
    render: Render, monkeypatch: pytest.MonkeyPatch, values: dict[str, Any]
) -> None:
    assert set(NON_DEFAULT) | {"defaultIdentityPool"} == set(MIRRORED.values())
    env = render(values).env
    assert set(env) <= {f"CCLOUD_{field.upper()}" for field in Settings.model_fields}
    for name in [n for n in os.environ if n.startswith("CCLOUD_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    for field, key in MIRRORED.items():
        assert getattr(settings, field) == values.get(key, VALUES[key] or None), field


def test_the_projected_token_is_mounted_for_the_audience_and_read_from_its_file(render: Render) -> None:
    rendered = render(BY_POOL)
    assert rendered.env["CCLOUD_WORKLOAD_IDENTITY_TOKEN_FILE"] == TOKEN_FILE
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "workload-identity"]
    [source] = volume["projected"]["sources"]
    assert source["serviceAccountToken"] == {
        "audience": "ccloud.example.com",
        "expirationSeconds": 3600,
        "path": "token",
    }
    [mount] = [m for m in rendered.container["volumeMounts"] if m["name"] == "workload-identity"]
    assert mount["readOnly"] is True and TOKEN_FILE.startswith(mount["mountPath"] + "/")


def test_without_the_projected_token_nothing_is_mounted(default: Rendered) -> None:
    assert "CCLOUD_WORKLOAD_IDENTITY_TOKEN_FILE" not in default.env
    pod = default.one("Deployment")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"defaultIdentityPool": "pool-ab12cd"}, "set workloadIdentity.projectedToken to true"),
        (
            {
                "defaultIdentityPool": "pool-ab12cd",
                "defaultCredentialsSecret": "ops/a",
                "workloadIdentity": {"projectedToken": True},
            },
            "set in 2 ways (defaultCredentialsSecret, defaultIdentityPool)",
        ),
        ({"defaultIdentityPool": "ab12cd"}, "does not match pattern"),
    ],
)
def test_identity_pool_mistakes_are_refused(render_error: RenderError, values: dict[str, Any], message: str) -> None:
    assert message in render_error(values)


# --- RBAC ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    verb: str
    resource: str
    namespace: str | None  # None: cluster-wide (every namespace at once, or a cluster-scoped resource)
    group: str = ""
    name: str | None = None

    def __str__(self) -> str:
        where = f"in {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource}{'/' + self.name if self.name else ''} {where}"


def allowed(rendered: Rendered, access: Access, subject: tuple[str, str] = SA) -> bool:
    """A small RBAC evaluator over the rendered objects: does some binding of the subject allow it?"""
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        if not any(
            s["kind"] == "ServiceAccount" and (s["namespace"], s["name"]) == subject for s in binding["subjects"]
        ):
            continue
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        if scope is not None and access.namespace != scope:
            continue
        ref = binding["roleRef"]
        role = rendered.one(ref["kind"], ref["name"], scope if ref["kind"] == "Role" else None)
        for rule in role["rules"]:
            if (
                access.group in rule["apiGroups"]
                and access.resource in rule["resources"]
                and access.verb in rule["verbs"]
                and (not rule.get("resourceNames") or access.name in rule["resourceNames"])
            ):
                return True
    return False


def _operator_needs(namespace: str | None) -> list[Access]:
    needs = [Access(verb, "secrets", namespace) for verb in ("get", "list", "watch", "create", "update", "patch")]
    needs += [Access("delete", "secrets", namespace), Access("create", "events", namespace)]
    needs += [Access(verb, "configmaps", namespace) for verb in ("get", "list", "watch")]
    for kind in KINDS:
        needs += [Access(verb, kind.plural, namespace, GROUP) for verb in ("get", "list", "watch", "patch")]
        needs.append(Access("patch", f"{kind.plural}/status", namespace, GROUP))
    return needs


CRD_DISCOVERY = [Access(v, "customresourcedefinitions", None, "apiextensions.k8s.io") for v in ("list", "watch")]
NAMESPACED = {"watchNamespaces": ["team-a", "team-b"]}


@pytest.mark.parametrize(
    ("values", "needs"),
    [
        ({}, _operator_needs(None) + CRD_DISCOVERY),
        (
            NAMESPACED,
            _operator_needs("team-a")
            + _operator_needs("team-b")
            + CRD_DISCOVERY
            + [Access(v, "namespaces", None) for v in ("list", "watch")],
        ),
    ],
    ids=["every namespace: all it needs, cluster-wide", "watched namespaces: all it needs, in each of them"],
)
def test_operator_is_granted_every_verb_it_uses(render: Render, values: dict[str, Any], needs: list[Access]) -> None:
    rendered = render(values)
    missing = [str(access) for access in needs if not allowed(rendered, access)]
    assert not missing


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        (
            {},
            [
                Access("delete", "namespaces", None),
                Access("create", "customresourcedefinitions", None, "apiextensions.k8s.io"),
                Access("update", "apikeys", None, GROUP),
                Access("delete", "serviceaccounts", None, GROUP),
                Access("get", "pods", None),
                Access("create", "configmaps", None),
                Access("update", "configmaps", None),
                Access("create", "clusterroles", None, "rbac.authorization.k8s.io"),
                Access("patch", "events", None),
                Access("delete", "events", None),
                Access("create", "apikeys", None, GROUP),
                Access("update", "apikeys/status", None, GROUP),
                Access("update", "apikeys/finalizers", None, GROUP),
                Access("list", "namespaces", None),
            ],
        ),
        (
            NAMESPACED,
            [
                Access("list", "secrets", None),
                Access("get", "secrets", "team-c"),
                Access("get", "secrets", "ops"),
                Access("patch", "apikeys", "team-c", GROUP),
                Access("list", "apikeys", None, GROUP),
                Access("delete", "namespaces", None),
                Access("create", "events", "kube-system"),
            ],
        ),
    ],
    ids=["every namespace: nothing beyond its needs", "watched namespaces: nothing outside them"],
)
def test_operator_is_refused_what_it_does_not_need(
    render: Render, values: dict[str, Any], refused: list[Access]
) -> None:
    rendered = render(values)
    granted = [str(access) for access in refused if allowed(rendered, access)]
    assert not granted


def test_watched_namespaces_get_roles_and_no_cluster_role_touches_secrets(render: Render) -> None:
    rendered = render(NAMESPACED)
    assert sorted(r["metadata"]["namespace"] for r in rendered.of_kind("Role")) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in rendered.of_kind("RoleBinding")) == ["team-a", "team-b"]
    bound = {b["roleRef"]["name"] for b in rendered.of_kind("ClusterRoleBinding")}
    for role in rendered.of_kind("ClusterRole"):
        if role["metadata"]["name"] in bound:
            resources = {r for rule in role["rules"] for r in rule["resources"]}
            assert resources == {"customresourcedefinitions", "namespaces"}


def test_default_credentials_outside_the_watched_namespaces_are_readable_by_name_only(render: Render) -> None:
    rendered = render({**NAMESPACED, "credentials": {"existingSecret": "ccloud-creds"}})
    assert allowed(rendered, Access("get", "secrets", "ops", name="ccloud-creds"))
    # patch: the credentials finalizer the operator holds on a Secret while resources use it.
    assert allowed(rendered, Access("patch", "secrets", "ops", name="ccloud-creds"))
    assert not allowed(rendered, Access("get", "secrets", "ops", name="other"))
    assert not allowed(rendered, Access("patch", "secrets", "ops", name="other"))
    assert not allowed(rendered, Access("list", "secrets", "ops"))
    for verb in ("update", "delete", "create"):
        assert not allowed(rendered, Access(verb, "secrets", "ops", name="ccloud-creds")), verb
    assert rendered.env["CCLOUD_DEFAULT_CREDENTIALS_SECRET"] == "ops/ccloud-creds"


@pytest.mark.parametrize(
    ("values", "resource", "namespace"),
    [({}, "clusterkopfpeerings", None), (NAMESPACED, "kopfpeerings", "team-b")],
    ids=["every namespace: the cluster peering", "watched namespaces: a peering in each"],
)
def test_peering_lets_replicas_write_their_own_peering_object_only(
    render: Render, values: dict[str, Any], resource: str, namespace: str | None
) -> None:
    rendered = render({**values, "peering": "ccloud", "replicas": 2})
    assert allowed(rendered, Access("patch", resource, namespace, "kopf.dev", "ccloud"))
    assert allowed(rendered, Access("watch", resource, namespace, "kopf.dev"))
    assert not allowed(rendered, Access("patch", resource, namespace, "kopf.dev", "someone-elses"))
    kind = "ClusterKopfPeering" if namespace is None else "KopfPeering"
    assert rendered.one(kind, "ccloud", namespace)["apiVersion"] == "kopf.dev/v1"


def test_no_peering_means_no_peering_rights_or_objects(default: Rendered) -> None:
    assert not allowed(default, Access("list", "clusterkopfpeerings", None, "kopf.dev"))
    assert not default.of_kind("ClusterKopfPeering")
    assert "CCLOUD_PEERING" not in default.env


@pytest.mark.parametrize(
    ("role", "labels", "verbs"),
    [
        ("view", {"aggregate-to-view", "aggregate-to-edit", "aggregate-to-admin"}, {"get", "list", "watch"}),
        ("edit", {"aggregate-to-edit", "aggregate-to-admin"}, {"create", "update", "patch", "delete"}),
    ],
    ids=["viewers may read every kind", "editors may write every kind"],
)
def test_users_get_the_kinds_through_aggregated_roles(
    default: Rendered, role: str, labels: set[str], verbs: set[str]
) -> None:
    cluster_role = default.one("ClusterRole", f"ccloud-ccloud-operator-{role}")
    assert {f"rbac.authorization.k8s.io/{label}" for label in labels} <= set(cluster_role["metadata"]["labels"])
    (rule,) = cluster_role["rules"]
    assert rule["apiGroups"] == [GROUP]
    assert {kind.plural for kind in KINDS} <= set(rule["resources"])
    assert verbs <= set(rule["verbs"])
    assert not default.of_kind("ClusterRoleBinding") or all(
        b["roleRef"]["name"] != cluster_role["metadata"]["name"] for b in default.of_kind("ClusterRoleBinding")
    )


# --- the Deployment and friends ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "replicas", "strategy"),
    [({}, 1, "Recreate"), ({"replicas": 3, "peering": "ccloud"}, 3, None)],
    ids=["one replica is replaced, never doubled", "peered replicas roll"],
)
def test_replicas_and_strategy(render: Render, values: dict[str, Any], replicas: int, strategy: str | None) -> None:
    spec = render(values).one("Deployment")["spec"]
    assert spec["replicas"] == replicas
    assert spec.get("strategy", {}).get("type") == strategy


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"replicas": 2}, "replicas is 2 but peering is empty"),
        (
            {"defaultCredentialsSecret": "ops/a", "credentials": {"existingSecret": "b"}},
            "the default credentials are set in 2 ways (defaultCredentialsSecret, credentials.existingSecret)",
        ),
        ({"credentials": {"apiKey": "EXAMPLEKEY"}}, "credentials.apiKey and credentials.apiSecret go together"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name must name an existing ServiceAccount"),
    ],
    ids=[
        "two replicas without peering would both reconcile",
        "two sources of default credentials",
        "an API key without its secret",
        "no ServiceAccount to run as",
    ],
)
def test_template_refuses_contradictions_with_a_fix(
    render_error: RenderError, values: dict[str, Any], error: str
) -> None:
    assert error in render_error(values)


def test_probes_check_healthz_and_readyz_on_the_liveness_port(default: Rendered) -> None:
    container = default.container
    assert container["ports"] == [
        {"name": "healthz", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    assert container["args"] == ["run"]


def test_liveness_port_zero_turns_endpoints_and_probes_off(render: Render) -> None:
    rendered = render({"livenessPort": 0})
    assert "livenessProbe" not in rendered.container
    assert "readinessProbe" not in rendered.container
    assert [port["name"] for port in rendered.container["ports"]] == ["metrics"]
    assert rendered.env["CCLOUD_LIVENESS_PORT"] == "0"


def test_metrics_service_selects_the_operator_pods_on_the_metrics_port(default: Rendered) -> None:
    service = default.one("Service", "ccloud-ccloud-operator-metrics", "ops")
    pod_labels = default.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]
    assert not default.of_kind("ServiceMonitor")


def test_metrics_port_zero_means_no_endpoint_no_service(render: Render) -> None:
    rendered = render({"metricsPort": 0})
    assert not rendered.of_kind("Service")
    assert [port["name"] for port in rendered.container["ports"]] == ["healthz"]
    assert rendered.env["CCLOUD_METRICS_PORT"] == "0"


def test_service_monitor_scrapes_the_metrics_service_only_when_enabled(render: Render) -> None:
    rendered = render(
        {"metrics": {"serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}}}
    )
    monitor = rendered.one("ServiceMonitor", "ccloud-ccloud-operator", "ops")
    service = rendered.one("Service", "ccloud-ccloud-operator-metrics")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"metricsPort": 0, "metrics": {"serviceMonitor": {"enabled": True}}}, "metricsPort: it is 0"),
        ({"metricsPort": 8080}, "livenessPort and metricsPort are both 8080"),
        ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "at '/metrics/serviceMonitor/interval'"),
    ],
    ids=["a ServiceMonitor with nothing to scrape", "probes and metrics on one port", "an interval Prometheus refuses"],
)
def test_metrics_values_refuse_contradictions(render_error: RenderError, values: dict[str, Any], error: str) -> None:
    assert error in render_error(values)


def test_pod_meets_the_restricted_pod_security_standard(default: Rendered) -> None:
    pod = default.one("Deployment")["spec"]["template"]["spec"]
    container = default.container
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert all("hostPath" not in volume for volume in pod["volumes"])


def test_scheduling_and_image_values_reach_the_pod(render: Render) -> None:
    digest = "sha256:" + "a" * 64
    rendered = render(
        {
            "image": {"repository": "registry.example/ccloud", "digest": digest},
            "nodeSelector": {"pool": "system"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"x": 1}},
            "podAnnotations": {"a": "b"},
            "podLabels": {"team": "platform"},
            "imagePullSecrets": [{"name": "registry"}],
            "priorityClassName": "system-cluster-critical",
        }
    )
    assert rendered.one("Deployment")["spec"]["template"]["spec"]["priorityClassName"] == "system-cluster-critical"
    template = rendered.one("Deployment")["spec"]["template"]
    assert rendered.container["image"] == f"registry.example/ccloud@{digest}"
    assert template["spec"]["nodeSelector"] == {"pool": "system"}
    assert template["spec"]["tolerations"][0]["key"] == "dedicated"
    assert template["spec"]["affinity"] == {"nodeAffinity": {"x": 1}}
    assert template["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    assert template["metadata"]["annotations"] == {"a": "b"}
    assert template["metadata"]["labels"]["team"] == "platform"


def test_image_tag_defaults_to_the_charts_app_version(default: Rendered) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert default.container["image"] == f"ccloud-operator:{app_version}"


def test_existing_service_account_is_used_not_created(render: Render) -> None:
    rendered = render({"serviceAccount": {"create": False, "name": "platform-sa"}})
    assert not rendered.of_kind("ServiceAccount")
    assert rendered.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-sa"
    assert allowed(rendered, Access("list", "secrets", None), subject=("ops", "platform-sa"))


def test_inline_credentials_become_a_secret_the_operator_defaults_to(render: Render) -> None:
    rendered = render({"credentials": {"apiKey": "EXAMPLEKEY", "apiSecret": "example-not-a-secret"}})
    secret = rendered.one("Secret", "ccloud-ccloud-operator-credentials", "ops")
    assert base64.b64decode(secret["data"]["apiKey"]).decode() == "EXAMPLEKEY"
    assert set(secret["data"]) == {"apiKey", "apiSecret"}
    assert rendered.env["CCLOUD_DEFAULT_CREDENTIALS_SECRET"] == "ops/ccloud-ccloud-operator-credentials"


def test_no_credentials_means_no_secret_and_no_default(default: Rendered) -> None:
    assert not default.of_kind("Secret")
    assert "CCLOUD_DEFAULT_CREDENTIALS_SECRET" not in default.env


@pytest.mark.parametrize(
    ("values", "crds", "kept"),
    [({}, len(KINDS), True), ({"crds": {"keep": False}}, len(KINDS), False), ({"crds": {"install": False}}, 0, False)],
    ids=["installed and kept on uninstall", "installed, removed on uninstall", "left to someone else"],
)
def test_crds_install_and_keep(render: Render, values: dict[str, Any], crds: int, kept: bool) -> None:
    found = render(values).of_kind("CustomResourceDefinition")
    assert len(found) == crds
    for crd in found:
        annotations = crd["metadata"].get("annotations") or {}
        assert (annotations.get("helm.sh/resource-policy") == "keep") is kept


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: f"{k.plural} is served")
def test_every_kind_of_the_operator_is_in_the_chart(default: Rendered, kind: Kind) -> None:
    assert default.one("CustomResourceDefinition", kind.crd_name)
    assert allowed(default, Access("patch", f"{kind.plural}/status", "anywhere", GROUP))
