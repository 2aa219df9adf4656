"""The Kubernetes calls the reconcilers make themselves: Secrets, status, Events, other objects.

Knows nothing of kopf or Confluent. The `kubernetes` client is synchronous, so every call runs in
a worker thread and the event loop never blocks on the apiserver.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kubernetes.client as k8s
from kubernetes.client.exceptions import ApiException

__all__ = ["Kube", "ObjectRef", "SecretView"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "ccloud-operator"}


@dataclass(frozen=True)
class ObjectRef:
    """Where a custom resource lives, and what it is, for status patches, Events and owner references."""

    group: str
    version: str
    kind: str
    plural: str
    namespace: str
    name: str
    uid: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


@dataclass(frozen=True)
class SecretView:
    """A Secret as read: identity and version in the clear, the values kept out of every repr."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    owner_uids: tuple[str, ...]
    data: Mapping[str, str] = field(repr=False)

    @property
    def fingerprint(self) -> str:
        # Identity and version, never the bytes: a hash of a short secret can be guessed offline.
        return f"{self.uid}/{self.resource_version}"


class Kube:
    def __init__(self, api: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api)
        self._custom = k8s.CustomObjectsApi(api)
        self._written: dict[tuple[str, str], str] = {}

    def wrote(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Whether this version of the Secret is one this process wrote itself."""
        return resource_version is not None and self._written.get((namespace, name)) == resource_version

    async def read_secret(self, namespace: str, name: str) -> SecretView | None:
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _view(secret)

    async def write_secret(
        self, namespace: str, name: str, data: Mapping[str, str], owner: ObjectRef | None
    ) -> SecretView:
        """Create the Secret, or replace the data of one this operator already owns."""
        body = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels=dict(MANAGED_BY),
                owner_references=[_owner_reference(owner)] if owner else None,
            ),
            type="Opaque",
            data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        )
        try:
            written = await asyncio.to_thread(self._core.create_namespaced_secret, namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            written = await asyncio.to_thread(self._core.replace_namespaced_secret, name, namespace, body)
        view = _view(written)
        self._written[(namespace, name)] = view.resource_version
        return view

    async def delete_secret(self, namespace: str, name: str) -> None:
        try:
            await asyncio.to_thread(self._core.delete_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def read_object(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            obj = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object,
                ref.group,
                ref.version,
                ref.namespace,
                ref.plural,
                ref.name,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return cast(dict[str, Any], obj)

    async def list_objects(self, group: str, version: str, plural: str, namespace: str) -> list[dict[str, Any]]:
        listing = await asyncio.to_thread(self._custom.list_namespaced_custom_object, group, version, namespace, plural)
        return cast(list[dict[str, Any]], cast(dict[str, Any], listing).get("items", []))

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource. A null value removes a field."""
        try:
            await asyncio.to_thread(
                self._custom.patch_namespaced_custom_object_status,
                ref.group,
                ref.version,
                ref.namespace,
                ref.plural,
                ref.name,
                {"status": dict(status)},
            )
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: nothing left to report on
                raise

    async def post_event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        now = dt.datetime.now(dt.UTC)
        event = k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(generate_name=f"{ref.name}.", namespace=ref.namespace),
            involved_object=k8s.V1ObjectReference(
                api_version=ref.api_version,
                kind=ref.kind,
                name=ref.name,
                namespace=ref.namespace,
                uid=ref.uid,
            ),
            type=type_,
            reason=reason,
            message=message[:1024],
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=k8s.V1EventSource(component="ccloud-operator"),
            reporting_component="ccloud-operator",
            reporting_instance="ccloud-operator",
        )
        try:
            await asyncio.to_thread(self._core.create_namespaced_event, ref.namespace, event)
        except ApiException:
            pass  # an Event is a courtesy: losing one must not fail a reconcile


def _owner_reference(ref: ObjectRef) -> k8s.V1OwnerReference:
    return k8s.V1OwnerReference(api_version=ref.api_version, kind=ref.kind, name=ref.name, uid=ref.uid, controller=True)


def _view(secret: k8s.V1Secret) -> SecretView:
    meta = secret.metadata or k8s.V1ObjectMeta()
    return SecretView(
        namespace=str(meta.namespace),
        name=str(meta.name),
        uid=str(meta.uid),
        resource_version=str(meta.resource_version),
        owner_uids=tuple(o.uid for o in (meta.owner_references or [])),
        data={k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()},
    )
