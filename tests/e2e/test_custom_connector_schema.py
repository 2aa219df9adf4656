"""The CustomConnector schema on the real apiserver: the issue's YAML is accepted, and what admission refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

SPEC: dict[str, Any] = {
    "environment": "env-a12b34",
    "kafkaCluster": "lkc-abcd123",
    "connectorName": "orders-source",
    "plugin": {"name": "datagen", "version": "0.6.7"},
    "connectorClass": "io.confluent.kafka.connect.datagen.DatagenConnector",
    "tasksMax": 1,
    "state": "RUNNING",
    "kafkaAuth": {"serviceAccount": {"name": "orders"}},
    "config": {"kafka.topic": "pageviews", "quickstart": "pageviews"},
    "sensitiveConfig": [{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}],
    "connectionEndpoints": ["s3.us-east-1.amazonaws.com:443:TCP"],
    "schemaRegistryAuto": False,
    "runtime": {"pluginRuntime": "3.9.0", "javaVersion": "17"},
    "restartPolicy": {"mode": "OnFailure", "maxRestarts": 5, "backoffSeconds": 30, "maxBackoffSeconds": 900},
    "credentialsSecretRef": {"name": "ccloud-credentials"},
    "deletionPolicy": "Delete",
    "adoptionPolicy": "AdoptOrCreate",
}


@pytest.fixture
def crd(crds: None) -> None:
    """The operator's CRDs, CustomConnector's among them."""


def apply(control_plane: ControlPlane, namespace: str, name: str, spec: dict[str, Any]) -> tuple[bool, str]:
    body = {
        "apiVersion": "ccloud.operators.dev/v1alpha1",
        "kind": "CustomConnector",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    done = control_plane.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        {**SPEC, "plugin": {"id": "ccp-l57dmn", "version": "1.0.0"}},
        {**SPEC, "kafkaAuth": {"apiKeySecret": {"name": "orders-kafka"}}, "state": "PAUSED"},
        {k: v for k, v in SPEC.items() if k not in {"connectorName", "sensitiveConfig", "runtime", "restartPolicy"}},
    ],
    ids=["the issue's", "a plugin by ID", "an API key, paused", "only what is required"],
)
def test_the_api_users_write_is_accepted(
    control_plane: ControlPlane, crd: None, namespace: str, spec: dict[str, Any]
) -> None:
    ok, said = apply(control_plane, namespace, "connector", spec)
    assert ok, said


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({**SPEC, "config": {"tasks.max": "3"}}, "config must not set tasks.max: spec.tasksMax does"),
        (
            {**SPEC, "config": {"kafka.api.secret": "x"}},
            "config must not set kafka.api.secret: spec.kafkaAuth.apiKeySecret does",
        ),
        ({**SPEC, "config": {"confluent.connector.type": "MANAGED"}}, "always sends CUSTOM"),
        (
            {**SPEC, "config": {"database.password": "plain"}},
            "a key is in both config and sensitiveConfig",
        ),
        (
            {**SPEC, "sensitiveConfig": [{"name": "kafka.api.secret", "secretKeyRef": {"name": "k", "key": "s"}}]},
            "sensitiveConfig must not set a key a typed field sets",
        ),
        ({**SPEC, "plugin": {"name": "datagen", "id": "ccp-abc"}}, "plugin takes exactly one of name or id"),
        (
            {**SPEC, "kafkaAuth": {"serviceAccount": {"name": "a"}, "apiKeySecret": {"name": "b"}}},
            "kafkaAuth takes exactly one of serviceAccount or apiKeySecret",
        ),
        ({**SPEC, "kafkaAuth": {}}, "kafkaAuth takes exactly one of serviceAccount or apiKeySecret"),
        ({**SPEC, "tasksMax": 6}, "tasksMax"),
        ({**SPEC, "state": "STOPPED"}, "Unsupported value"),
        ({**SPEC, "connectionEndpoints": ["s3.amazonaws.com:443"]}, "connectionEndpoints"),
        ({**SPEC, "connectorName": "a/b"}, "connectorName"),
        ({**SPEC, "config": {"n": 1}}, "config.n"),
    ],
    ids=[
        "tasks.max in config",
        "the Kafka secret in config",
        "the connector type in config",
        "a key in config and sensitiveConfig",
        "a typed key in sensitiveConfig",
        "a plugin by name and ID",
        "two Kafka identities",
        "no Kafka identity",
        "more tasks than custom connectors run",
        "a state that is not one",
        "an endpoint without its protocol",
        "a name Confluent refuses",
        "a config value that is not a string",
    ],
)
def test_admission_refuses_with_a_message_that_says_why(
    control_plane: ControlPlane, crd: None, namespace: str, spec: dict[str, Any], says: str
) -> None:
    ok, said = apply(control_plane, namespace, "bad", spec)
    assert not ok
    assert says in said, said


@pytest.mark.parametrize(
    ("field", "value"),
    [("environment", "env-other1"), ("kafkaCluster", "lkc-other1"), ("connectorName", "renamed")],
)
def test_what_names_the_connector_cannot_change(
    control_plane: ControlPlane, crd: None, namespace: str, field: str, value: str
) -> None:
    ok, said = apply(control_plane, namespace, "fixed", SPEC)
    assert ok, said
    ok, said = apply(control_plane, namespace, "fixed", {**SPEC, field: value})
    assert not ok
    assert f"{field} cannot be changed: create a new CustomConnector instead" in said, said


def test_kubectl_knows_the_short_name_and_the_category(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    ok, said = apply(control_plane, namespace, "listed", SPEC)
    assert ok, said
    for what in ("cccc", "ccloud"):
        shown = control_plane.kubectl("get", what, "-n", namespace, "-o", "name").stdout
        assert "customconnector.ccloud.operators.dev/listed" in shown, (what, shown)
