"""The Kubernetes calls the reconcilers make themselves: Secrets, status, Events, finalizers.

Knows nothing of kopf or Confluent. The `kubernetes` client is synchronous, so every call runs in
a worker thread and the event loop never blocks on the apiserver. Every failure is a `KubeError`
whose text is scrubbed and short: the client's own exception quotes whole response bodies and
headers, which may carry what a log must never see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import kubernetes.client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as UnreachableError

from ccloud_operator.redact import scrub

__all__ = ["Kube", "KubeError", "ObjectRef", "SecretView"]

T = TypeVar("T")

MANAGED_BY = {"app.kubernetes.io/managed-by": "ccloud-operator"}
JSON_PATCH = "application/json-patch+json"


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


class KubeError(Exception):
    """The apiserver refused or failed a call; `status` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, reason: str, message: str, action: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.action = action
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"Kubernetes API {self.action}: HTTP {self.status}" if self.status else f"Kubernetes API {self.action}"
        return f"{head} {self.reason}: {self.message}" if self.message else f"{head} {self.reason}"

    @classmethod
    def of(cls, exc: BaseException, action: str) -> KubeError:
        if isinstance(exc, ApiException):
            reason, message = str(exc.reason or ""), ""
            try:
                body = json.loads(exc.body) if exc.body else {}
            except (TypeError, ValueError):
                body = {}
            if isinstance(body, dict):
                reason = str(body.get("reason") or reason)
                message = str(body.get("message") or "")
            return cls(int(exc.status or 0), scrub(reason, limit=60), scrub(message), action)
        return cls(0, type(exc).__name__, scrub(str(exc)), action)


@dataclass(frozen=True)
class SecretView:
    """A Secret as read: identity and version in the clear, the values kept out of every repr."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    owner_uids: tuple[str, ...]
    data: Mapping[str, str] = field(repr=False)

    finalizers: tuple[str, ...] = ()
    deleting: bool = False

    @property
    def fingerprint(self) -> str:
        # Identity and version, never the bytes: a hash of a short secret can be guessed offline.
        return f"{self.uid}/{self.resource_version}"


class Kube:
    def __init__(self, api: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api)
        self._custom = k8s.CustomObjectsApi(api)
        # The last version of each Secret this process wrote, and whether that write changed its data.
        self._written: dict[tuple[str, str], tuple[str, bool]] = {}
        # Secrets with a write of ours in flight: its watch event may arrive before the write returns.
        self._inflight: dict[tuple[str, str], tuple[int, asyncio.Event]] = {}

    def wrote(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Whether this version of the Secret is one this process wrote itself."""
        return resource_version is not None and self._written.get((namespace, name), ("", False))[0] == resource_version

    def wrote_data(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Whether this version is ours and changed the Secret's data (not only its finalizers)."""
        return self.wrote(namespace, name, resource_version) and self._written[(namespace, name)][1]

    def writing(self, namespace: str, name: str) -> bool:
        """Whether a write of ours to the Secret is in flight: `wrote` can tell only once it `settled`."""
        return (namespace, name) in self._inflight

    async def settled(self, namespace: str, name: str) -> None:
        """Wait until no write of ours to the Secret is in flight."""
        entry = self._inflight.get((namespace, name))
        if entry is not None:
            await entry[1].wait()

    @contextlib.asynccontextmanager
    async def _writing(self, namespace: str, name: str) -> AsyncIterator[None]:
        key = (namespace, name)
        count, done = self._inflight.get(key, (0, asyncio.Event()))
        self._inflight[key] = (count + 1, done)
        try:
            yield
        finally:
            count, done = self._inflight[key]
            if count > 1:
                self._inflight[key] = (count - 1, done)
            else:
                del self._inflight[key]
                done.set()

    def forget_secret(self, namespace: str, name: str) -> None:
        """The Secret is gone: nothing about it needs remembering."""
        self._written.pop((namespace, name), None)

    async def _call(
        self, action: str, fn: Callable[..., T], *args: Any, missing_ok: bool = False, **kwargs: Any
    ) -> T | None:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise KubeError.of(exc, action) from None
        # The apiserver is unreachable (restarting, say): the client raises urllib3's MaxRetryError or
        # ProtocolError then, which are no OSError.
        except (OSError, UnreachableError) as exc:
            raise KubeError.of(exc, action) from None

    async def read_secret(self, namespace: str, name: str) -> SecretView | None:
        secret = await self._call(
            f"read Secret {namespace}/{name}", self._core.read_namespaced_secret, name, namespace, missing_ok=True
        )
        return None if secret is None else _view(secret)

    async def service_account_token(self, namespace: str, name: str, audience: str, seconds: int = 600) -> str:
        """A new token for the ServiceAccount (TokenRequest), for `audience`; never logged."""
        body = k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[audience], expiration_seconds=max(seconds, 600))
        )
        answer = await self._call(
            f"request a token for ServiceAccount {namespace}/{name}",
            self._core.create_namespaced_service_account_token,
            name,
            namespace,
            body,
        )
        token = answer.status.token if answer is not None and answer.status is not None else None
        if not token:
            raise KubeError(201, "NoToken", "the answer holds no token", f"request a token for {namespace}/{name}")
        return str(token)

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
        action = f"write Secret {namespace}/{name}"
        async with self._writing(namespace, name):
            return await self._write_secret(action, namespace, name, body)

    async def _write_secret(self, action: str, namespace: str, name: str, body: k8s.V1Secret) -> SecretView:
        try:
            written = await asyncio.to_thread(self._core.create_namespaced_secret, namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise KubeError.of(exc, action) from None
            replaced = await self._call(action, self._core.replace_namespaced_secret, name, namespace, body)
            assert replaced is not None  # _call returns None only with missing_ok
            written = replaced
        except (OSError, UnreachableError) as exc:
            raise KubeError.of(exc, action) from None
        view = _view(written)
        self._written[(namespace, name)] = (view.resource_version, True)
        return view

    async def delete_secret(self, namespace: str, name: str) -> None:
        await self._call(
            f"delete Secret {namespace}/{name}", self._core.delete_namespaced_secret, name, namespace, missing_ok=True
        )
        self.forget_secret(namespace, name)

    async def add_secret_finalizer(self, namespace: str, name: str, finalizer: str) -> bool:
        """Put `finalizer` on the Secret (if it exists and is not being deleted); whether it now has it."""

        def add(meta: k8s.V1ObjectMeta) -> list[dict[str, Any]] | None:
            if finalizer in (meta.finalizers or []) or meta.deletion_timestamp is not None:
                return None  # there already, or the Secret is on its way out (no finalizer may be added)
            return [
                {"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version},
                {"op": "add", "path": "/metadata/finalizers", "value": [*(meta.finalizers or []), finalizer]},
            ]

        meta = await self._edit_secret_metadata(namespace, name, f"add a finalizer to Secret {namespace}/{name}", add)
        return meta is not None and finalizer in (meta.finalizers or [])

    async def remove_secret_finalizer(self, namespace: str, name: str, finalizer: str) -> None:
        def remove(meta: k8s.V1ObjectMeta) -> list[dict[str, Any]] | None:
            if finalizer not in (meta.finalizers or []):
                return None
            return _without(list(meta.finalizers or []), finalizer, str(meta.resource_version))

        await self._edit_secret_metadata(namespace, name, f"remove a finalizer from Secret {namespace}/{name}", remove)

    async def _edit_secret_metadata(
        self,
        namespace: str,
        name: str,
        action: str,
        edit: Callable[[k8s.V1ObjectMeta], list[dict[str, Any]] | None],
        tries: int = 8,
    ) -> k8s.V1ObjectMeta | None:
        """Read the Secret, apply the JSON patch `edit` makes of its metadata (None: nothing to do),
        guarded by resourceVersion; one that changed meanwhile (422, a test op failed) is read again.
        The metadata as it is after, or None when the Secret does not exist."""
        for attempt in range(1, tries + 1):
            secret = await self._call(
                f"read Secret {namespace}/{name}", self._core.read_namespaced_secret, name, namespace, missing_ok=True
            )
            meta = secret.metadata if secret is not None else None
            if meta is None:
                return None
            patch = edit(meta)
            if patch is None:
                return meta
            try:
                async with self._writing(namespace, name):
                    patched = await self._call(
                        action,
                        self._core.patch_namespaced_secret,
                        name,
                        namespace,
                        patch,
                        missing_ok=True,
                        _content_type=JSON_PATCH,
                    )
                    self._remember(patched)
            except KubeError as exc:
                if exc.status != 422 or attempt == tries:
                    raise
                await asyncio.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311  (racing writers spread out)
                continue
            return patched.metadata if patched is not None else None
        return None

    def _remember(self, secret: k8s.V1Secret | None) -> None:
        """A version of a Secret this process made (its own finalizer, say): its watch event is no news."""
        meta = secret.metadata if secret is not None else None
        if meta is not None and meta.name and meta.namespace:
            self._written[(meta.namespace, meta.name)] = (str(meta.resource_version), False)

    async def read_configmap_bytes(self, namespace: str, name: str, key: str) -> bytes | None:
        """The bytes under `key` of a ConfigMap's binaryData (or its data, as UTF-8); None if either is missing."""
        found = await self._call(
            f"read ConfigMap {namespace}/{name}",
            self._core.read_namespaced_config_map,
            name,
            namespace,
            missing_ok=True,
        )
        if found is None:
            return None
        binary = found.binary_data or {}
        if key in binary:
            return base64.b64decode(binary[key])
        text = (found.data or {}).get(key)
        return None if text is None else text.encode()

    async def read_object(self, ref: ObjectRef) -> dict[str, Any] | None:
        obj = await self._call(
            f"read {ref.kind} {ref.namespace}/{ref.name}",
            self._custom.get_namespaced_custom_object,
            ref.group,
            ref.version,
            ref.namespace,
            ref.plural,
            ref.name,
            missing_ok=True,
        )
        return cast(dict[str, Any] | None, obj)

    async def add_finalizer(self, ref: ObjectRef, obj: Mapping[str, Any], finalizer: str) -> None:
        """Put `finalizer` on the object as read in `obj` (refused if it changed since: read again)."""
        meta = obj["metadata"]
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "add", "path": "/metadata/finalizers", "value": [*(meta.get("finalizers") or []), finalizer]},
        ]
        await self._patch_object(ref, patch, "add a finalizer to")

    async def remove_finalizer(self, ref: ObjectRef, obj: Mapping[str, Any], finalizer: str) -> None:
        meta = obj["metadata"]
        if finalizer not in (meta.get("finalizers") or []):
            return
        await self._patch_object(ref, _without(meta["finalizers"], finalizer, meta["resourceVersion"]), "release")

    async def _patch_object(self, ref: ObjectRef, patch: list[dict[str, Any]], what: str) -> None:
        await self._call(
            f"{what} {ref.kind} {ref.namespace}/{ref.name}",
            self._custom.patch_namespaced_custom_object,
            ref.group,
            ref.version,
            ref.namespace,
            ref.plural,
            ref.name,
            patch,
            missing_ok=True,
            _content_type=JSON_PATCH,
        )

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource. A null value removes a field."""
        # A 404 means deleted meanwhile: nothing left to report on.
        await self._call(
            f"write the status of {ref.kind} {ref.namespace}/{ref.name}",
            self._custom.patch_namespaced_custom_object_status,
            ref.group,
            ref.version,
            ref.namespace,
            ref.plural,
            ref.name,
            {"status": dict(status)},
            missing_ok=True,
        )

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
        except (ApiException, OSError, UnreachableError):
            pass  # an Event is a courtesy: losing one must not fail a reconcile


def _without(finalizers: list[str], finalizer: str, resource_version: str) -> list[dict[str, Any]]:
    """A JSON patch that removes one finalizer, refused if the object changed since it was read."""
    index = finalizers.index(finalizer)
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]


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
        finalizers=tuple(meta.finalizers or ()),
        deleting=meta.deletion_timestamp is not None,
        data={k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.data or {}).items()},
    )
