"""Which credential a reconcile uses: a Secret, or workload identity (the resource's pool or the
operator's default), and what status says when the choice cannot be made. On the real apiserver,
against the emulator in process with a test identity provider."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import RetryPolicy
from ccloud_operator.kube import Kube
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.outcome import Ready, Terminal
from ccloud_operator.reconcile.references import Role
from ccloud_operator.reconcile.session import Context
from ccloud_operator.resources import GROUP, SERVICE_ACCOUNT, VERSION
from ccloud_operator.settings import Settings
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.idp import ISSUER, JWKS_URI, FakeIdp

from .conftest import Harness

pytestmark = pytest.mark.e2e
SA = ServiceAccountReconciler()
SUBJECT = "system:serviceaccount:prod:orders"


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp(time.time)


@pytest.fixture
def emulator(idp: FakeIdp) -> Emulator:
    return Emulator(jwks_transport=idp.transport)


@pytest.fixture
async def pool(emulator: Emulator) -> str:
    """The platform team's set-up, with the emulator's API key: a provider and a pool for SUBJECT."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator.app),
        base_url="http://emulator.test",
        auth=(emulator.api_key, emulator.api_secret),
    ) as admin:
        op = await admin.post(
            "/iam/v2/identity-providers",
            json={"display_name": "k8s", "description": "", "issuer": ISSUER, "jwks_uri": JWKS_URI},
        )
        op.raise_for_status()
        made = await admin.post(
            f"/iam/v2/identity-providers/{op.json()['id']}/identity-pools",
            json={
                "display_name": "orders",
                "description": "",
                "identity_claim": "claims.sub",
                "filter": f'claims.sub == "{SUBJECT}"',
            },
        )
        made.raise_for_status()
        return str(made.json()["id"])


@pytest.fixture
def token_file(tmp_path: Path, idp: FakeIdp) -> Path:
    path = tmp_path / "token"
    path.write_text(idp.token() + "\n")  # as the kubelet writes it
    return path


def _harness(api: kubernetes.client.ApiClient, namespace: str, emulator: Emulator, **settings: Any) -> Harness:
    ctx = Context(
        kube=Kube(api),
        settings=Settings(api_url="http://emulator.test", **settings),
        transport=httpx.ASGITransport(app=emulator.app),
        retry=RetryPolicy(max_attempts=1),
    )
    return Harness(ctx, api, namespace)


@pytest.fixture
async def contexts(api: kubernetes.client.ApiClient) -> AsyncIterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        await harness.ctx.aclose()


def create(harness: Harness, name: str, spec: dict[str, Any]) -> None:
    """Unlike Harness.create, names no credentials Secret unless the spec does."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": harness.namespace},
        "spec": spec,
    }
    kubernetes.client.CustomObjectsApi(harness.api).create_namespaced_custom_object(
        GROUP, VERSION, harness.namespace, SERVICE_ACCOUNT.plural, body
    )


async def test_a_resource_naming_a_pool_calls_confluent_as_that_pool(
    api: kubernetes.client.ApiClient,
    namespace: str,
    emulator: Emulator,
    pool: str,
    token_file: Path,
    contexts: list[Harness],
) -> None:
    harness = _harness(api, namespace, emulator, workload_identity_token_file=str(token_file))
    contexts.append(harness)
    create(harness, "orders", {"displayName": "orders", "credentials": {"workloadIdentity": {"identityPoolId": pool}}})
    outcome = await harness.reconcile(SA, "orders")
    assert isinstance(outcome, Ready), outcome
    writes = [r for r in emulator.requests if r.method == "POST" and r.path == "/iam/v2/service-accounts"]
    assert [r.identity for r in writes] == [pool]
    # No Secret is referenced, so none is watched for it or held by a finalizer.
    obj = await harness.object(SERVICE_ACCOUNT, "orders")
    refs = engine.references_of(harness.ctx, SA, namespace, "orders", obj["spec"])
    assert [r for r in refs if r.role is Role.CREDENTIALS] == []


async def test_the_default_pool_serves_resources_that_name_no_credentials(
    api: kubernetes.client.ApiClient,
    namespace: str,
    emulator: Emulator,
    pool: str,
    token_file: Path,
    contexts: list[Harness],
) -> None:
    harness = _harness(
        api, namespace, emulator, workload_identity_token_file=str(token_file), default_identity_pool=pool
    )
    contexts.append(harness)
    emulator.clear_requests()
    create(harness, "plain", {"displayName": "plain"})
    create(harness, "pool-of-its-own", {"displayName": "own", "credentials": {"workloadIdentity": {}}})
    for name in ("plain", "pool-of-its-own"):
        assert isinstance(await harness.reconcile(SA, name), Ready)
    writes = [r for r in emulator.requests if r.method == "POST" and r.path == "/iam/v2/service-accounts"]
    assert len(writes) == 2 and {r.identity for r in writes} == {pool}
    assert len(emulator.token_exchanges(pool, issued=True)) == 1  # one exchange for both


@pytest.mark.parametrize(
    ("settings", "spec", "reason", "says"),
    [
        (
            {},
            {"credentials": {"workloadIdentity": {"identityPoolId": "pool-abc1"}}},
            "WorkloadIdentityUnavailable",
            "CCLOUD_WORKLOAD_IDENTITY_TOKEN_FILE",
        ),
        (
            {"workload_identity_token_file": "/nowhere"},
            {"credentials": {"workloadIdentity": {}}},
            "NoIdentityPool",
            "CCLOUD_DEFAULT_IDENTITY_POOL",
        ),
        ({}, {}, "NoCredentials", "credentialsSecretRef"),
        (
            {
                "default_identity_pool": "pool-abc1",
                "default_credentials_namespaces": ["elsewhere"],
                "workload_identity_token_file": "/x",
            },
            {},
            "CredentialsNotAllowed",
            "not available in namespace",
        ),
    ],
    ids=["no-token-source", "no-pool", "nothing-at-all", "default-pool-not-here"],
)
async def test_a_credential_that_cannot_be_chosen_is_a_terminal_condition_and_no_call(
    api: kubernetes.client.ApiClient,
    namespace: str,
    emulator: Emulator,
    contexts: list[Harness],
    settings: dict[str, Any],
    spec: dict[str, Any],
    reason: str,
    says: str,
) -> None:
    harness = _harness(api, namespace, emulator, **settings)
    contexts.append(harness)
    create(harness, "orders", {"displayName": "orders", **spec})
    emulator.clear_requests()
    outcome = await harness.reconcile(SA, "orders")
    assert isinstance(outcome, Terminal) and outcome.reason == reason and says in outcome.message
    assert emulator.requests == [] and emulator.token_exchanges() == []
    ready = next(
        c for c in (await harness.object(SERVICE_ACCOUNT, "orders"))["status"]["conditions"] if c["type"] == "Ready"
    )
    assert ready["reason"] == reason


async def test_a_token_request_token_is_for_the_audience_asked(
    control_plane: ControlPlane, api: kubernetes.client.ApiClient
) -> None:
    import base64
    import json

    namespace = f"tr-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)
    try:
        control_plane.kubectl("create", "serviceaccount", "ccloud-operator", "-n", namespace)
        token = await Kube(api).service_account_token(namespace, "ccloud-operator", "confluent", 900)
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert payload["aud"] == ["confluent"] and payload["iss"] == control_plane.issuer
        assert payload["sub"] == f"system:serviceaccount:{namespace}:ccloud-operator"
        assert 890 <= payload["exp"] - payload["iat"] <= 910
    finally:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_the_settings_refuse_two_defaults() -> None:
    with pytest.raises(ValueError, match="not both"):
        Settings(default_credentials_secret="ops/creds", default_identity_pool="pool-abc1")
