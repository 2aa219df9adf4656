"""The ConnectorPlugin schema on the real apiserver: the two shapes, and what admission refuses."""

from __future__ import annotations

import json

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

SHA = "4f1c" + "0" * 60
CCPM = {
    "environment": "env-a12b34",
    "cloud": "AWS",
    "displayName": "datagen",
    "credentialsSecretRef": {"name": "ccloud-credentials"},
    "versions": [
        {
            "version": "0.6.7",
            "connectorClasses": [
                {"className": "io.confluent.kafka.connect.datagen.DatagenConnector", "type": "SOURCE"}
            ],
            "sensitiveConfigProperties": ["password"],
            "documentationLink": "https://example.com/datagen",
            "archive": {
                "url": "https://artifacts.example.com/datagen-0.6.7.zip",
                "sha256": SHA,
                "authSecretRef": {"name": "artifacts", "key": "authorization"},
            },
        }
    ],
}
LEGACY = {
    "cloud": "AWS",
    "displayName": "datagen-legacy",
    "legacy": {
        "connectorClass": "io.confluent.kafka.connect.datagen.DatagenConnector",
        "connectorType": "SOURCE",
        "sensitiveConfigProperties": ["password"],
        "archive": {"configMapRef": {"name": "datagen", "key": "datagen.zip"}},
    },
}


@pytest.fixture
def crd(crds: None) -> None:
    """The operator's CRDs, ConnectorPlugin's among them."""


def apply(control_plane: ControlPlane, namespace: str, name: str, spec: dict[str, object]) -> tuple[bool, str]:
    body = {
        "apiVersion": "ccloud.operators.dev/v1alpha1",
        "kind": "ConnectorPlugin",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    done = control_plane.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("spec", [CCPM, LEGACY, {**CCPM, "versions": []}], ids=["CCPM", "legacy", "no versions yet"])
def test_both_shapes_are_accepted(
    control_plane: ControlPlane, crd: None, namespace: str, spec: dict[str, object]
) -> None:
    ok, said = apply(control_plane, namespace, "plugin", spec)
    assert ok, said


def _version(**archive: object) -> dict[str, object]:
    return {**CCPM["versions"][0], "archive": archive}  # type: ignore[index, dict-item]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({**LEGACY, "environment": "env-a12b34"}, "either CCPM (environment and versions) or legacy"),
        ({**LEGACY, "versions": CCPM["versions"]}, "either CCPM (environment and versions) or legacy"),
        ({k: v for k, v in CCPM.items() if k != "environment"}, "either CCPM (environment and versions) or legacy"),
        ({**CCPM, "versions": [_version(url="https://x.example/a.zip")]}, "an archive from a url needs its sha256"),
        ({**CCPM, "versions": [_version()]}, "exactly one of url (with sha256) or configMapRef"),
        (
            {
                **CCPM,
                "versions": [
                    _version(url="https://x.example/a.zip", sha256=SHA, configMapRef={"name": "a", "key": "b"})
                ],
            },
            "exactly one of url (with sha256) or configMapRef",
        ),
        (
            {
                **CCPM,
                "versions": [_version(configMapRef={"name": "a", "key": "b"}, authSecretRef={"name": "s", "key": "k"})],
            },
            "authSecretRef goes with url only",
        ),
        ({**CCPM, "versions": [CCPM["versions"][0], CCPM["versions"][0]]}, "Duplicate value"),  # type: ignore[index]
        ({**CCPM, "versions": [{**_version(configMapRef={"name": "a", "key": "b"}), "version": "latest"}]}, "version"),
        ({**CCPM, "cloud": "IBM"}, "Unsupported value"),
    ],
    ids=[
        "legacy beside environment",
        "legacy beside versions",
        "neither legacy nor environment",
        "a url without sha256",
        "an archive from nowhere",
        "an archive from two places",
        "auth without a url",
        "the same version twice",
        "a version that is no version",
        "a cloud that does not exist",
    ],
)
def test_admission_refuses_with_a_message_that_says_why(
    control_plane: ControlPlane, crd: None, namespace: str, spec: dict[str, object], says: str
) -> None:
    ok, said = apply(control_plane, namespace, "bad", spec)
    assert not ok
    assert says in said, said


@pytest.mark.parametrize(
    ("first", "change", "says"),
    [
        (CCPM, {"cloud": "GCP"}, "cloud cannot be changed"),
        (CCPM, {"environment": "env-other1"}, "environment cannot be changed"),
        (LEGACY, {"legacy": {**LEGACY["legacy"], "connectorType": "SINK"}}, "connectorType cannot be changed"),  # type: ignore[dict-item]
        (
            LEGACY,
            {"legacy": {**LEGACY["legacy"], "archive": {"url": "https://x.example/b.zip", "sha256": SHA}}},  # type: ignore[dict-item]
            "archive cannot be changed",
        ),
    ],
    ids=["cloud", "environment", "legacy connector type", "legacy archive"],
)
def test_immutable_fields_are_refused_on_update(
    control_plane: ControlPlane,
    crd: None,
    namespace: str,
    first: dict[str, object],
    change: dict[str, object],
    says: str,
) -> None:
    ok, said = apply(control_plane, namespace, "fixed", first)
    assert ok, said
    ok, said = apply(control_plane, namespace, "fixed", {**first, **change})
    assert not ok
    assert says in said, said


def test_a_plugin_cannot_change_shape(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    ok, said = apply(control_plane, namespace, "shape", CCPM)
    assert ok, said
    legacy = {**LEGACY, "displayName": "datagen"}
    ok, said = apply(control_plane, namespace, "shape", legacy)
    assert not ok
    assert "environment cannot be changed" in said or "cannot change between the CCPM and the legacy shape" in said
