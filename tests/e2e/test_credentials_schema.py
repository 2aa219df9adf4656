"""Credentials at admission, on the real apiserver: a Secret or workload identity, never both."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e
SECRET = {"credentialsSecretRef": {"name": "ccloud-credentials"}}


def apply(control_plane: ControlPlane, namespace: str, spec: dict[str, Any]) -> tuple[bool, str]:
    body = {
        "apiVersion": "ccloud.operators.dev/v1alpha1",
        "kind": "ServiceAccount",
        "metadata": {"name": "orders", "namespace": namespace},
        "spec": spec,
    }
    done = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "spec",
    [
        SECRET,
        {"credentials": {"workloadIdentity": {"identityPoolId": "pool-AbC123"}}},
        {"credentials": {"workloadIdentity": {}}},  # the operator's default pool
        {},  # the operator's default, whichever it is
    ],
    ids=["secret", "pool", "default-pool", "default"],
)
def test_one_way_of_credentials_is_accepted(
    control_plane: ControlPlane, crds: None, namespace: str, spec: dict[str, Any]
) -> None:
    ok, output = apply(control_plane, namespace, spec)
    assert ok, output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {**SECRET, "credentials": {"workloadIdentity": {"identityPoolId": "pool-AbC123"}}},
            "give credentialsSecretRef (a Cloud API key) or credentials.workloadIdentity, not both",
        ),
        (
            {"credentials": {"workloadIdentity": {"identityPoolId": "op-AbC123"}}},
            "spec.credentials.workloadIdentity.identityPoolId",
        ),
        ({"credentials": {}}, "spec.credentials.workloadIdentity: Required value"),
    ],
    ids=["both", "not-a-pool", "empty"],
)
def test_two_ways_or_a_bad_pool_are_refused(
    control_plane: ControlPlane, crds: None, namespace: str, spec: dict[str, Any], message: str
) -> None:
    ok, output = apply(control_plane, namespace, spec)
    assert not ok and message in output, output


@pytest.mark.parametrize("name", ["Creds", "a%b", "-creds", "creds-", "ccloud credentials", "Ç%creds"])
def test_a_secret_name_kubernetes_could_never_serve_is_refused(
    control_plane: ControlPlane, crds: None, namespace: str, name: str
) -> None:
    # The apiserver answers 400 to a read of such a name: admitted, it would leave the object unanswered.
    ok, output = apply(control_plane, namespace, {"credentialsSecretRef": {"name": name}})
    assert not ok and "spec.credentialsSecretRef.name" in output, output
