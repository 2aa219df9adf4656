"""Reconcile against the emulator (in process, with injected faults) and the real apiserver, no kopf."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import kubernetes
import pytest

from ccloud_emulator import Emulator, Timing
from ccloud_operator.confluent import RetryPolicy
from ccloud_operator.kube import Kube
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.engine import KindReconciler
from ccloud_operator.reconcile.outcome import Outcome
from ccloud_operator.reconcile.session import Context, Target, ref_for
from ccloud_operator.resources import GROUP, KINDS, VERSION, Kind
from ccloud_operator.settings import Settings
from ccloud_testenv.controlplane import ControlPlane


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(timing=Timing(api_key_propagation=0.0))


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane, crds: None) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def namespace(api: kubernetes.client.ApiClient, emulator: Emulator) -> Iterator[str]:
    core = kubernetes.client.CoreV1Api(api)
    name = f"r-{uuid.uuid4().hex[:8]}"
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    secret = kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name="creds", namespace=name),
        string_data={"apiKey": emulator.api_key, "apiSecret": emulator.api_secret},
    )
    core.create_namespaced_secret(name, secret)
    yield name
    core.delete_namespace(name)


@dataclass
class Harness:
    """One reconcile at a time, the way the handlers call it, with the object read afresh each time."""

    ctx: Context
    api: kubernetes.client.ApiClient
    namespace: str

    def create(self, kind: Kind, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind.kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"credentialsSecretRef": {"name": "creds"}, **spec},
        }
        kubernetes.client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, kind.plural, body
        )

    async def object(self, kind: Kind, name: str) -> dict[str, Any]:
        obj = await self.ctx.kube.read_object(ref_for(kind, self.namespace, name))
        assert obj is not None
        return obj

    def target(self, obj: dict[str, Any], kind: Kind | None = None) -> Target:
        meta = obj["metadata"]
        kind = kind or next(k for k in KINDS if k.kind == obj["kind"])
        return Target(
            ref=ref_for(kind, self.namespace, meta["name"], meta["uid"]),
            generation=meta["generation"],
            annotations=meta.get("annotations") or {},
            spec=obj["spec"],
            status=obj.get("status") or {},
            deleting=bool(meta.get("deletionTimestamp")),
        )

    async def reconcile(self, reconciler: KindReconciler[Any, Any], name: str, attempt: int = 1) -> Outcome:
        obj = await self.object(reconciler.kind, name)
        return await engine.reconcile(self.ctx, reconciler, self.target(obj, reconciler.kind), attempt)


@pytest.fixture
async def harness(api: kubernetes.client.ApiClient, namespace: str, emulator: Emulator) -> AsyncIterator[Harness]:
    ctx = Context(
        kube=Kube(api),
        settings=Settings(api_url="http://emulator.test"),
        transport=httpx.ASGITransport(app=emulator.app),
        # One attempt per call: what the client would retry on its own surfaces here as the outcome.
        retry=RetryPolicy(max_attempts=1),
    )
    yield Harness(ctx, api, namespace)
    await ctx.aclose()
