"""ApiKey: a key owned by a Ready ServiceAccount, its secret written to a Kubernetes Secret first.

Confluent shows a key's secret once, in the create response, so the output Secret is the truth:
- the key in the Secret is the current key when Confluent still has it for the same owner and resource;
- a key whose secret was lost (the Secret deleted, or a crash before it was written) is replaced by a
  new one, and the old one is deleted, never left behind;
- a create that may have landed before a crash (status.pendingCreate) is cleaned up by looking for
  keys of ours created since then that no Secret holds.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ccloud_operator.confluent import NotFound
from ccloud_operator.confluent.iam import ApiKey
from ccloud_operator.kube import SecretView
from ccloud_operator.reconcile.conditions import READY
from ccloud_operator.reconcile.engine import Session, ref_for
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.resources.api_key import (
    API_KEY,
    TEMPLATE_FIELDS,
    ApiKeyResourceKind,
    ApiKeySpec,
    ApiKeyStatus,
)
from ccloud_operator.resources.base import ConditionStatus, ManagementPolicy
from ccloud_operator.resources.service_account import SERVICE_ACCOUNT

__all__ = ["ApiKeyReconciler", "KeyRequest", "create_request", "render_secret", "update_request"]

KeySession = Session[ApiKeySpec, ApiKeyStatus]
CLOUD = "cloud"
PROPAGATED = "Propagated"
_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
# Confluent's clock and ours differ a little: keys created just before pendingCreate.since still count.
_CLOCK_SKEW = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class KeyRequest:
    display_name: str | None = None
    description: str | None = None


def display_name(spec: ApiKeySpec, namespace: str, name: str) -> str:
    return spec.display_name or f"{namespace}/{name}"


def create_request(spec: ApiKeySpec, namespace: str, name: str) -> KeyRequest:
    return KeyRequest(display_name=display_name(spec, namespace, name), description=spec.description)


def update_request(spec: ApiKeySpec, namespace: str, name: str, remote: ApiKey) -> KeyRequest | None:
    want = create_request(spec, namespace, name)
    patch = KeyRequest(
        display_name=want.display_name if remote.spec.display_name != want.display_name else None,
        description=want.description if (remote.spec.description or "") != want.description else None,
    )
    return None if patch == KeyRequest() else patch


def template_errors(spec: ApiKeySpec) -> list[str]:
    bad = []
    for entry, template in spec.secret.template.items():
        for field in _PLACEHOLDER.findall(template):
            if field not in TEMPLATE_FIELDS:
                bad.append(f"spec.secret.template[{entry!r}] uses {{{{ .{field} }}}}")
    return bad


def render_secret(spec: ApiKeySpec, key: str, secret: str, values: dict[str, str]) -> dict[str, str]:
    """The output Secret's entries: key, secret and the rendered templates."""
    fields = {"key": key, "secret": secret, **values}
    data = {"key": key, "secret": secret}
    for entry, template in spec.secret.template.items():
        data[entry] = _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), ""), template)
    return data


class ApiKeyReconciler:
    kind = API_KEY
    spec_model = ApiKeySpec
    status_model = ApiKeyStatus

    async def sync(self, s: KeySession) -> Outcome:
        if bad := template_errors(s.spec):
            return Terminal("InvalidSpec", f"{'; '.join(bad)}: use only {', '.join('.' + f for f in TEMPLATE_FIELDS)}.")
        owner = await self._owner(s)
        if not isinstance(owner, str):
            return owner
        resource_id = CLOUD if s.spec.resource.kind == ApiKeyResourceKind.CLOUD else str(s.spec.resource.id)
        secret_name = s.spec.secret.name or s.ref.name
        s.status.owner_id, s.status.resource_id, s.status.secret_name = owner, resource_id, secret_name

        secret = await s.ctx.kube.read_secret(s.ref.namespace, secret_name)
        if secret is not None and s.ref.uid not in secret.owner_uids and not _adoptable(s, secret):
            return Terminal(
                "SecretConflict",
                f"Secret {secret_name} exists and is not managed by this ApiKey: delete it, choose another "
                "spec.secret.name, or set spec.adoptId to the key it holds.",
            )
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        current = await self._current(s, secret, owner, resource_id)

        if current is None:
            if observe_only or s.spec.adopt_id is not None:
                wanted = s.spec.adopt_id or s.status.id
                return Terminal(
                    "NotFound",
                    f"API key {wanted} was not found for {owner} on {resource_id}"
                    if wanted
                    else "ObserveOnly needs spec.adoptId (with its secret in the output Secret).",
                )
            await self._clean_up_lost_creates(s, owner, resource_id, keep=None)
            replaced = s.status.id
            values = await self._values(s, resource_id)
            current, secret_value = await self._create(s, owner, resource_id, secret_name, values)
            if replaced is not None and replaced != current.id:
                await _delete_key(s, replaced)
                await s.ctx.kube.post_event(
                    s.ref,
                    "Normal",
                    "KeyReplaced",
                    f"The secret of API key {replaced} was lost; replaced by {current.id}.",
                )
        else:
            assert secret is not None
            secret_value = secret.data.get("secret", "")
            if s.status.pending_create is not None:
                await self._clean_up_lost_creates(s, owner, resource_id, keep=current.id)
            if s.status.id is not None and s.status.id != current.id:
                await _delete_key(s, s.status.id)  # the one the Secret no longer holds
            if s.status.id != current.id or s.status.pending_create is not None:
                await s.created(current.id)
            if not observe_only:
                want = render_secret(s.spec, current.id, secret_value, await self._values(s, resource_id))
                if dict(secret.data) != want:
                    await s.ctx.kube.write_secret(s.ref.namespace, secret_name, want, owner=s.ref)
            patch = update_request(s.spec, s.ref.namespace, s.ref.name, current)
            if patch is not None and not observe_only:
                current = await s.client.api_keys.update(current.id, **_kwargs(patch))

        s.status.id = current.id
        s.status.resource_name = current.metadata.resource_name if current.metadata else None
        prior = s.condition(PROPAGATED)
        known = prior is not None and prior.status == ConditionStatus.TRUE and s.target.status.get("id") == current.id
        if not known:
            usable = await s.client.api_keys.is_usable(
                current.id, secret_value, resource_id, environment_id=s.spec.resource.environment
            )
            if not usable:
                message = f"API key {current.id} exists; Confluent has not made it usable yet."
                s.set_condition(PROPAGATED, False, "WaitingForPropagation", message)
                return Waiting("WaitingForPropagation", message, after=s.ctx.settings.wait_seconds)
        s.set_condition(PROPAGATED, True, "KeyUsable", f"API key {current.id} authenticates to {resource_id}.")
        return Ready("Observed" if observe_only else "Ready")

    async def _owner(self, s: KeySession) -> str | Waiting:
        name = s.spec.service_account.name
        obj = await s.ctx.kube.read_object(ref_for(SERVICE_ACCOUNT, s.ref.namespace, name))
        if obj is None:
            return Waiting(
                "WaitingForServiceAccount",
                f"ServiceAccount {name} does not exist in namespace {s.ref.namespace}.",
                after=s.ctx.settings.wait_seconds * 5,
                synced=False,
            )
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions", []) if c.get("type") == READY), None)
        if not status.get("id") or ready is None or ready.get("status") != "True":
            why = f" ({ready.get('reason')}: {ready.get('message')})" if ready and ready.get("message") else ""
            return Waiting(
                "WaitingForServiceAccount",
                f"ServiceAccount {name} is not Ready yet{why}.",
                after=s.ctx.settings.wait_seconds,
                synced=False,
            )
        owner: str = status["id"]
        return owner

    async def _current(self, s: KeySession, secret: SecretView | None, owner: str, resource_id: str) -> ApiKey | None:
        """The key whose secret we hold, if Confluent still has it for this owner and resource."""
        held = secret.data.get("key") if secret is not None and secret.data.get("secret") else None
        if held is None:
            return None
        try:
            remote = await s.client.api_keys.get(held)
        except NotFound:
            return None
        if remote.owner_id != owner or (remote.resource_id or "").lower() != resource_id:
            return None
        return remote

    async def _create(
        self, s: KeySession, owner: str, resource_id: str, secret_name: str, values: dict[str, str]
    ) -> tuple[ApiKey, str]:
        await s.begin_create()
        request = create_request(s.spec, s.ref.namespace, s.ref.name)
        created = await s.client.api_keys.create(
            owner_id=owner,
            resource_id=resource_id,
            environment_id=s.spec.resource.environment,
            display_name=request.display_name or "",
            description=request.description or "",
        )
        secret_value = created.secret.get_secret_value() if created.secret else ""
        # The secret exists only in this response: it goes to the Secret before anything else happens.
        data = render_secret(s.spec, created.id, secret_value, values)
        await s.ctx.kube.write_secret(s.ref.namespace, secret_name, data, owner=s.ref)
        await s.created(created.id)
        return created, secret_value

    async def _values(self, s: KeySession, resource_id: str) -> dict[str, str]:
        values = {"clusterId": "" if resource_id == CLOUD else resource_id}
        values["environment"] = s.spec.resource.environment or ""
        uses_bootstrap = any("bootstrapServers" in t for t in s.spec.secret.template.values())
        if uses_bootstrap and resource_id != CLOUD:
            cluster = await s.client.clusters.get(resource_id, environment_id=s.spec.resource.environment or "")
            endpoint = cluster.spec.kafka_bootstrap_endpoint or ""
            values["bootstrapServers"] = endpoint.split("://", 1)[-1]
        return values

    async def _clean_up_lost_creates(self, s: KeySession, owner: str, resource_id: str, keep: str | None) -> None:
        """Delete keys a crashed create left behind: ours by name, created since the mark, held by no Secret."""
        pending = s.status.pending_create
        if pending is None:
            return
        since = _parse_time(pending.since) - _CLOCK_SKEW
        name = display_name(s.spec, s.ref.namespace, s.ref.name)
        for key in await s.client.api_keys.list(owner=owner, resource=resource_id):
            created = _parse_time(key.metadata.created_at) if key.metadata and key.metadata.created_at else None
            if key.id in (keep, s.status.id) or key.spec.display_name != name or created is None or created < since:
                continue
            await _delete_key(s, key.id)
            await s.ctx.kube.post_event(
                s.ref,
                "Normal",
                "LostKeyDeleted",
                f"Deleted API key {key.id}: its secret was lost in a crash.",
            )

    async def delete(self, s: KeySession) -> Outcome:
        if s.status.owner_id and s.status.resource_id:
            await self._clean_up_lost_creates(s, s.status.owner_id, s.status.resource_id, keep=None)
        if s.status.id is not None:
            await _delete_key(s, s.status.id)
        secret_name = s.status.secret_name or s.spec.secret.name or s.ref.name
        secret = await s.ctx.kube.read_secret(s.ref.namespace, secret_name)
        if secret is not None and s.ref.uid in secret.owner_uids:
            await s.ctx.kube.delete_secret(s.ref.namespace, secret_name)
        return Ready("Deleted", f"API key {s.status.id} deleted." if s.status.id else "Nothing to delete.")


def _adoptable(s: KeySession, secret: SecretView) -> bool:
    return s.spec.adopt_id is not None and secret.data.get("key") == s.spec.adopt_id


async def _delete_key(s: KeySession, key_id: str) -> None:
    try:
        await s.client.api_keys.delete(key_id)
    except NotFound:
        pass  # gone already (Confluent answers 403 for deleted keys; the client maps it to NotFound)


def _kwargs(request: KeyRequest) -> dict[str, str]:
    return {k: v for k, v in vars(request).items() if v is not None}


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
