"""Workload identity end to end: no Cloud API key anywhere in the cluster or in the operator.

The local control plane is the OIDC issuer (its ServiceAccount tokens, its JWKS on loopback); the
emulator trusts its CA, fetches that JWKS and verifies the operator's tokens at its STS. The platform
team's one-time set-up (an identity provider for this cluster and a pool for the operator's
ServiceAccount) is made with the emulator's API key here, as a bootstrap; the operator itself runs
with `CCLOUD_WORKLOAD_IDENTITY_SERVICE_ACCOUNT` only, takes a ServiceAccount and a CustomConnector
through their lives, reports a pool whose filter refuses it, and survives the apiserver's signing key
being rotated.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator, Timing
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.files import plugin_archive, serve_bytes
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import OPERATOR_SETTINGS, Kube, Tap

pytestmark = pytest.mark.e2e
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
AUDIENCE = "confluent"


ARCHIVE = plugin_archive()


@pytest.fixture(scope="module")
def emulator(control_plane: ControlPlane) -> Emulator:
    return Emulator(
        timing=Timing(connector_provisioning=0.5, plugin_version_processing=0.5, api_key_propagation=1.0),
        trusted_ca=control_plane.ca_cert,
    )


@pytest.fixture(scope="module")
def admin(emulator: Emulator, tap: tuple[Tap, str]) -> Iterator[httpx.Client]:
    """The platform team's bootstrap: the emulator's own API key, used for the trust set-up only."""
    with httpx.Client(base_url=tap[1], auth=(emulator.api_key, emulator.api_secret)) as client:
        yield client


@pytest.fixture(scope="module")
def identity(control_plane: ControlPlane, admin: httpx.Client) -> Iterator[dict[str, str]]:
    """The operator's Kubernetes ServiceAccount, and the trust the platform team declares for it."""
    namespace = f"wi-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)
    control_plane.kubectl("create", "serviceaccount", "ccloud-operator", "-n", namespace)
    subject = f"system:serviceaccount:{namespace}:ccloud-operator"
    provider = admin.post(
        "/iam/v2/identity-providers",
        json={
            "display_name": f"cluster-{namespace}",
            "description": "this control plane",
            "issuer": control_plane.issuer,
            "jwks_uri": control_plane.jwks_uri,
        },
    )
    provider.raise_for_status()
    pools = f"/iam/v2/identity-providers/{provider.json()['id']}/identity-pools"

    def pool(name: str, filter_: str) -> str:
        body = {"display_name": name, "description": "", "identity_claim": "claims.sub", "filter": filter_}
        made = admin.post(pools, json=body)
        made.raise_for_status()
        return str(made.json()["id"])

    yield {
        "provider": str(provider.json()["id"]),
        "namespace": namespace,
        "service_account": f"{namespace}/ccloud-operator",
        "pool": pool("operator", f'claims.sub == "{subject}" && "{AUDIENCE}" in claims.aud'),
        "wrong_audience": pool("other-audience", f'claims.sub == "{subject}" && "not-{AUDIENCE}" in claims.aud'),
    }
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    crds: None,
    tap: tuple[Tap, str],
    identity: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with no Cloud API key: only its own ServiceAccount's tokens, by TokenRequest."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    settings = {
        **OPERATOR_SETTINGS,
        "CCLOUD_API_URL": tap[1],
        "CCLOUD_WORKLOAD_IDENTITY_SERVICE_ACCOUNT": identity["service_account"],
        "CCLOUD_WORKLOAD_IDENTITY_AUDIENCE": AUDIENCE,
    }
    with OperatorProcess(control_plane.kubeconfig, log, settings) as process:
        yield process


@pytest.fixture
def kube(control_plane: ControlPlane, operator: OperatorProcess) -> Iterator[Kube]:
    """A fresh namespace with no Secret at all; its objects are deleted before it."""
    api = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    k = Kube(api, f"t-{uuid.uuid4().hex[:8]}")
    k.core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=k.namespace)))
    try:
        yield k
    finally:
        for plural in ("customconnectors", "connectorplugins", "serviceaccounts"):
            for obj in k.custom.list_namespaced_custom_object("ccloud.operators.dev", "v1alpha1", k.namespace, plural)[
                "items"
            ]:
                with contextlib.suppress(ApiException):
                    k.custom.delete_namespaced_custom_object(
                        "ccloud.operators.dev", "v1alpha1", k.namespace, plural, obj["metadata"]["name"]
                    )
        with contextlib.suppress(ApiException):
            k.core.delete_namespace(k.namespace)
        api.close()


def by_pool(pool: str) -> dict[str, Any]:
    return {"credentials": {"workloadIdentity": {"identityPoolId": pool}}}


def test_a_service_account_and_a_connector_live_their_lives_with_no_api_key(
    kube: Kube, emulator: Emulator, identity: dict[str, str], operator: OperatorProcess
) -> None:
    pool = identity["pool"]
    creds = by_pool(pool)
    assert not kube.core.list_namespaced_secret(kube.namespace).items  # nothing to steal here
    with serve_bytes(ARCHIVE, "datagen.zip") as url:
        kube.apply(
            "ConnectorPlugin",
            "datagen",
            {
                "environment": emulator.environment_id,
                "cloud": "AWS",
                "displayName": f"{kube.namespace}-datagen",
                "versions": [
                    {
                        "version": "0.6.7",
                        "connectorClasses": [{"className": CLASS, "type": "SOURCE"}],
                        "archive": {"url": url, "sha256": hashlib.sha256(ARCHIVE).hexdigest()},
                    }
                ],
                **creds,
            },
        )
        kube.apply("ServiceAccount", "orders", {"displayName": f"{kube.namespace}-orders", **creds})
        kube.apply(
            "CustomConnector",
            "orders-source",
            {
                "environment": emulator.environment_id,
                "kafkaCluster": emulator.kafka_cluster_id,
                "connectorName": f"{kube.namespace}-src",
                "plugin": {"name": "datagen", "version": "0.6.7"},
                "connectorClass": CLASS,
                "kafkaAuth": {"serviceAccount": {"name": "orders"}},
                "config": {"kafka.topic": "pageviews", "quickstart": "pageviews"},
                **creds,
            },
        )
        kube.wait_condition("ServiceAccount", "orders", timeout=30)
        kube.wait_condition("CustomConnector", "orders-source", reason="Running", timeout=60)

    sa_id = kube.get("ServiceAccount", "orders")["status"]["id"]  # type: ignore[index]
    assert sa_id in emulator.core.state.service_accounts
    # Every call was the pool's, made with its Bearer tokens; one exchange served them all.
    calls = [r for r in emulator.requests if r.identity == pool]
    assert len(calls) >= 6 and all(r.api_key is None for r in calls)
    issued = emulator.token_exchanges(pool, issued=True)
    assert (
        len(issued) == 1
        and issued[0].subject == f"system:serviceaccount:{identity['service_account'].replace('/', ':')}"
    )

    kube.patch("ServiceAccount", "orders", {"spec": {"description": "changed by the team"}})
    kube.wait_for(
        "the new description in Confluent",
        lambda: emulator.core.state.service_accounts[sa_id].description == "changed by the team",
    )
    for kind, name in (
        ("CustomConnector", "orders-source"),
        ("ConnectorPlugin", "datagen"),
        ("ServiceAccount", "orders"),
    ):
        kube.delete(kind, name)
        kube.wait_gone(kind, name, timeout=40)
    assert sa_id not in emulator.core.state.service_accounts
    assert not [c for c in emulator.core.state.connectors.values() if c.name == f"{kube.namespace}-src"]
    log = operator.log_path.read_text()
    assert "Bearer " not in log and "eyJ" not in log  # no token, subject (a JWT) or access, in the log


def test_a_pool_that_refuses_the_token_is_a_condition_naming_the_pool_and_why(
    kube: Kube, emulator: Emulator, identity: dict[str, str]
) -> None:
    pool = identity["wrong_audience"]
    kube.apply("ServiceAccount", "refused", {"displayName": f"{kube.namespace}-refused", **by_pool(pool)})
    cond = kube.wait_condition("ServiceAccount", "refused", status="False", reason="WorkloadIdentityRefused")
    assert pool in cond["message"] and "filter" in cond["message"]
    assert emulator.token_exchanges(pool, issued=False)
    assert not [sa for sa in emulator.core.state.service_accounts.values() if sa.display_name.endswith("-refused")]


def test_a_rotated_signing_key_is_survived(
    control_plane: ControlPlane, kube: Kube, emulator: Emulator, identity: dict[str, str], admin: httpx.Client
) -> None:
    pool = identity["pool"]
    kube.apply("ServiceAccount", "rotated", {"displayName": f"{kube.namespace}-rotated", **by_pool(pool)})
    kube.wait_condition("ServiceAccount", "rotated", timeout=30)
    before = len(emulator.token_exchanges(pool, issued=True))

    new_kid = control_plane.rotate_service_account_key()  # new tokens carry a kid the emulator has not seen
    assert emulator.expire_access_tokens(pool) >= 1  # so the next call needs a new exchange

    kube.patch("ServiceAccount", "rotated", {"spec": {"description": "after the rotation"}})
    sa_id = kube.get("ServiceAccount", "rotated")["status"]["id"]  # type: ignore[index]
    kube.wait_for(
        "the change made with a token signed by the new key",
        lambda: emulator.core.state.service_accounts[sa_id].description == "after the rotation",
        timeout=60,
    )
    assert len(emulator.token_exchanges(pool, issued=True)) == before + 1
    provider = admin.get(f"/iam/v2/identity-providers/{identity['provider']}").json()
    assert new_kid in [key["kid"] for key in provider.get("keys", [])]  # the JWKS was fetched again
