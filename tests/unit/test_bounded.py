"""Memory that stays flat as objects and credentials come and go; Kubernetes errors that leak nothing."""

from __future__ import annotations

import json

import httpx
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from ccloud_operator.confluent import ConfluentClient, Credentials, RateGovernor
from ccloud_operator.kube import Kube, KubeError
from ccloud_operator.reconcile.controller import Controller
from ccloud_operator.reconcile.kinds.api_key import ApiKeyReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.session import Context
from ccloud_operator.settings import Settings


def context(**settings: object) -> Context:
    # A client that is never called: these tests only look at what the controller keeps.
    return Context(kube=Kube(kubernetes.client.ApiClient()), settings=Settings(**settings))  # type: ignore[arg-type]


def body(name: str, generation: int = 1, **meta: object) -> dict[str, object]:
    return {"metadata": {"namespace": "team-a", "name": name, "generation": generation, **meta}, "spec": {}}


STATUS = {
    "kind": "Status",
    "reason": "Invalid",
    "message": 'Secret "creds" is invalid: data[password=hunter2hunter2]: Basic dXNlcjpodW50ZXIyaHVudGVyMg==',
}


async def test_the_controller_keeps_nothing_for_objects_that_are_gone() -> None:
    kinds = {r.kind.plural: r for r in (ServiceAccountReconciler(), ApiKeyReconciler())}
    controller = Controller(context(), kinds)
    for i in range(500):
        controller.object_event("apikeys", None, body(f"key-{i}"))
    assert controller.tracked == 500 and len(controller.queue) == 500
    for i in range(500):
        controller.object_event("apikeys", "DELETED", body(f"key-{i}"))
    assert controller.tracked == 0 and len(controller.queue) == 0


async def test_our_own_status_write_wakes_nothing_but_a_spec_change_does() -> None:
    controller = Controller(context(), {"serviceaccounts": ServiceAccountReconciler()})
    controller.object_event("serviceaccounts", None, body("orders"))
    controller.queue.forget(next(iter(controller._seen)))  # as if reconciled and not due
    controller.object_event("serviceaccounts", "MODIFIED", body("orders", resourceVersion="2"))
    assert len(controller.queue) == 0
    controller.object_event("serviceaccounts", "MODIFIED", body("orders", generation=2))
    assert len(controller.queue) == 1
    controller.queue.forget(next(iter(controller._seen)))
    paused = {"annotations": {"ccloud.operators.dev/paused": "true", "kopf.ccloud.operators.dev/x": "y"}}
    controller.object_event("serviceaccounts", "MODIFIED", body("orders", generation=2, **paused))
    assert len(controller.queue) == 1  # our annotation changed, kopf's would not count


async def test_clients_of_credentials_nobody_uses_any_more_are_released() -> None:
    now = [0.0]
    ctx = context()
    ctx.monotonic = lambda: now[0]
    old = ctx.client(Credentials(key="ROTATEDAWAY00001", secret="old-secret-value"))
    governor = old.governor
    now[0] = 100.0
    ctx.client(Credentials(key="CURRENTKEY000001", secret="new-secret-value"))
    assert ctx.clients == 2
    assert await ctx.release_idle_clients(idle=50) == 1
    assert ctx.clients == 1
    assert RateGovernor.for_key("ROTATEDAWAY00001") is not governor  # the registry let it go too
    await ctx.aclose()


async def test_secrets_remembered_for_scrubbing_are_bounded() -> None:
    client = ConfluentClient(
        Credentials(key="K", secret="the-credential-secret"),
        transport=httpx.MockTransport(lambda r: httpx.Response(200)),
    )
    api = client._api
    for i in range(5000):
        api.remember_secret(f"secret-number-{i:05d}")
    assert len(api._secrets) <= 257
    assert "the-credential-secret" in api._secrets and "secret-number-04999" in api._secrets
    await client.aclose()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (json.dumps(STATUS), "HTTP 422 Invalid: Secret"),
        ("<html>password=hunter2hunter2</html>" + "x" * 5000, "HTTP 422 Unprocessable Entity"),
    ],
    ids=["the apiserver's Status, scrubbed", "a body that is not a Status is left out"],
)
def test_a_kubernetes_error_is_short_and_scrubbed(raw: str, says: str) -> None:
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = raw
    exc.headers = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.payload.signature"}
    text = str(KubeError.of(exc, "write Secret team-a/creds"))
    assert text.startswith(f"Kubernetes API write Secret team-a/creds: {says}"), text
    assert "hunter2hunter2" not in text and "dXNlcjpodW50ZXIy" not in text and "eyJhbGci" not in text
    assert len(text) < 300
