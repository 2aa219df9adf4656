"""The Secret metadata edits the controller makes, on the real apiserver: guarded, and retried when raced."""

from __future__ import annotations

import asyncio

import kubernetes
import pytest

from ccloud_operator.kube import Kube

pytestmark = pytest.mark.e2e


async def test_finalizers_added_and_removed_at_once_by_many_all_land(
    api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(api)
    body = kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name="shared", namespace=namespace), string_data={"a": "b"}
    )
    core.create_namespaced_secret(namespace, body)
    kubes = [Kube(api) for _ in range(4)]  # four writers, as replicas or concurrent reconciles would be
    names = [f"example.com/f{i}" for i in range(4)]
    # Each reads the same resourceVersion; all but one patch's test op fails (422) and reads again.
    held = await asyncio.gather(
        *(k.add_secret_finalizer(namespace, "shared", n) for k, n in zip(kubes, names, strict=True))
    )
    assert held == [True] * 4
    assert sorted(core.read_namespaced_secret("shared", namespace).metadata.finalizers) == names
    await asyncio.gather(
        *(k.remove_secret_finalizer(namespace, "shared", n) for k, n in zip(kubes, names, strict=True))
    )
    assert not core.read_namespaced_secret("shared", namespace).metadata.finalizers


async def test_no_finalizer_on_a_secret_that_does_not_exist(api: kubernetes.client.ApiClient, namespace: str) -> None:
    assert await Kube(api).add_secret_finalizer(namespace, "missing", "example.com/f") is False
    await Kube(api).remove_secret_finalizer(namespace, "missing", "example.com/f")  # nothing to do, no error
