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

from ccloud_operator.confluent import Cluster, NotFound
from ccloud_operator.confluent.iam import ApiKey
from ccloud_operator.kube import SecretView
from ccloud_operator.reconcile.engine import BaseReconciler, delete_resource
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import SECRET, ObjectKey, Reference, Role
from ccloud_operator.reconcile.session import Session
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
# How many waits a new key is trusted to exist on the strength of its own probe alone.
PROPAGATION_PATIENCE = 30
_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
# Confluent's clock and ours differ a little: keys created just before pendingCreate.since still count.
_CLOCK_SKEW = dt.timedelta(minutes=2)
# How long Confluent may take to list a key it has created: a list older than that shows every key.
_LIST_SETTLE = dt.timedelta(seconds=60)


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


class ApiKeyReconciler(BaseReconciler[ApiKeySpec, ApiKeyStatus]):
    kind = API_KEY
    spec_model = ApiKeySpec
    status_model = ApiKeyStatus

    def references(self, spec: ApiKeySpec, namespace: str, name: str) -> list[Reference]:
        return [
            Reference(
                Role.DEPENDENCY,
                ObjectKey(SERVICE_ACCOUNT.plural, namespace, spec.service_account.name),
                "spec.serviceAccount",
            ),
            Reference(Role.OUTPUT, ObjectKey(SECRET, namespace, spec.secret.name or name), "spec.secret.name"),
        ]

    async def sync(self, s: KeySession) -> Outcome:
        if bad := template_errors(s.spec):
            return Terminal("InvalidSpec", f"{'; '.join(bad)}: use only {', '.join('.' + f for f in TEMPLATE_FIELDS)}.")
        if s.spec.adopt_id is not None and (holder := await s.holder(s.spec.adopt_id)) is not None:
            return Terminal(
                "AlreadyManaged",
                f"spec.adoptId: API key {s.spec.adopt_id} is already managed by ApiKey "
                f"{holder.namespace}/{holder.name}: two objects must not own one key.",
            )
        owner = await self._owner(s)
        if not isinstance(owner, str):
            return owner
        resource_id = CLOUD if s.spec.resource.kind == ApiKeyResourceKind.CLOUD else str(s.spec.resource.id)
        secret_name = s.spec.secret.name or s.ref.name

        secret = await s.ctx.kube.read_secret(s.ref.namespace, secret_name)
        if secret is None and s.status.secret_name and s.status.secret_name != secret_name:
            secret = await self._rename(s, s.status.secret_name, secret_name)
        s.status.owner_id, s.status.resource_id, s.status.secret_name = owner, resource_id, secret_name
        if secret is not None and s.ref.uid not in secret.owner_uids and not _adoptable(s, secret):
            return Terminal(
                "SecretConflict",
                f"Secret {secret_name} exists and is not managed by this ApiKey: delete it, choose another "
                "spec.secret.name, or set spec.adoptId to the key it holds.",
            )
        if (outcome := await self._propagated(s, secret, resource_id)) is not None:
            return outcome
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        current, why = await self._current(s, secret, owner, resource_id)
        settled = True

        if current is None:
            if observe_only or s.spec.adopt_id is not None:
                wanted = s.spec.adopt_id or s.status.id
                return Terminal(
                    "NotFound",
                    f"API key {wanted} was not found for {owner} on {resource_id}"
                    if wanted
                    else "ObserveOnly needs spec.adoptId (with its secret in the output Secret).",
                )
            lost_create = s.status.pending_create is not None
            if lost_create:
                await self._clean_up_lost_creates(s, owner, resource_id, keep=None)
            replaced = s.status.id
            values = await self._values(s, resource_id)
            # After a lost create, the mark stays until a list shows this new key (and so any older one).
            current, secret_value = await self._create(
                s, owner, resource_id, secret_name, values, settled=not lost_create
            )
            settled = not lost_create
            if replaced is not None and replaced != current.id:
                await _delete_key(s, replaced)
                await s.event("Normal", "KeyReplaced", f"{why}: created API key {current.id} and deleted {replaced}.")
            elif lost_create:
                await s.event("Normal", "KeyCreated", f"{why}: created API key {current.id}.")
        else:
            assert secret is not None
            secret_value = secret.data.get("secret", "")
            if s.status.pending_create is not None:
                settled = await self._clean_up_lost_creates(s, owner, resource_id, keep=current.id)
            if s.status.id is not None and s.status.id != current.id:
                await _delete_key(s, s.status.id)  # the one the Secret no longer holds
                await s.event(
                    "Normal", "KeyDeleted", f"Deleted API key {s.status.id}: Secret {secret_name} holds {current.id}."
                )
            if s.status.id != current.id or (s.status.pending_create is not None and settled):
                await s.created(current.id, settled=settled)
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
        if not known and (waiting := await self._probe(s, current.id, secret_value, resource_id)) is not None:
            return waiting
        s.set_condition(PROPAGATED, True, "KeyUsable", f"API key {current.id} authenticates to {resource_id}.")
        if not settled:
            return Waiting(
                "CheckingForLostKeys",
                f"API key {current.id} is Ready; Confluent's key list does not show it yet, so a key an earlier "
                "crashed create may have made cannot be ruled out: looking again shortly.",
                after=s.ctx.settings.wait_seconds,
            )
        return Ready("Observed" if observe_only else "Ready")

    async def _probe(self, s: KeySession, key_id: str, secret_value: str, resource_id: str) -> Waiting | None:
        """Try the key where it is meant to work: None once it does, else the wait for it to propagate."""
        cluster = await self._cluster(s, resource_id) if resource_id != CLOUD else None
        usable = await s.client.api_keys.is_usable(
            key_id, secret_value, resource_id, environment_id=s.spec.resource.environment, cluster=cluster
        )
        if usable:
            return None
        message = f"API key {key_id} exists; Confluent has not made it usable yet."
        s.set_condition(PROPAGATED, False, "WaitingForPropagation", message)
        return Waiting("WaitingForPropagation", message, after=s.ctx.settings.wait_seconds)

    async def _propagated(self, s: KeySession, secret: SecretView | None, resource_id: str) -> Outcome | None:
        """A key this object made a moment ago and still waits on to become usable: the probe with the key
        itself (the new key's call, not this credential's) says it exists, so Confluent is not read for it
        again. None: reconcile in full (anything changed since, or the wait has gone on too long).
        """
        prior, key_id = s.condition(PROPAGATED), s.status.id
        if (
            prior is None
            or prior.reason != "WaitingForPropagation"
            or prior.observed_generation != s.target.generation
            or prior.last_transition_time is None
            or key_id is None
            or s.status.pending_create is not None
            or secret is None
            or secret.data.get("key") != key_id
            or not secret.data.get("secret")
        ):
            return None
        waited = (s.ctx.now() - _parse_time(prior.last_transition_time)).total_seconds()
        if waited > PROPAGATION_PATIENCE * s.ctx.settings.wait_seconds:
            return None  # a key deleted meanwhile would never work: look at it again
        if (waiting := await self._probe(s, key_id, secret.data["secret"], resource_id)) is not None:
            return waiting
        s.set_condition(PROPAGATED, True, "KeyUsable", f"API key {key_id} authenticates to {resource_id}.")
        return Ready("Observed" if s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY else "Ready")

    async def _owner(self, s: KeySession) -> str | Waiting:
        name = s.spec.service_account.name
        owner = await s.dependency(SERVICE_ACCOUNT, name)
        if owner is None:
            return Waiting(
                "WaitingForServiceAccount",
                f"ServiceAccount {name} does not exist in namespace {s.ref.namespace}.",
                after=s.ctx.settings.resync_seconds,
                synced=False,
            )
        # A new key needs a Ready owner; a key that exists only needs to know who owns it, so an
        # owner's passing trouble (its own reconcile failing) does not make every key of it un-Ready.
        if owner.id is None or (not owner.is_ready and s.status.id is None):
            return Waiting(
                "WaitingForServiceAccount",
                f"ServiceAccount {name} is not Ready yet{owner.why()}.",
                # Its Ready turning True wakes this key; the resync is only the safety net.
                after=s.ctx.settings.resync_seconds,
                synced=False,
            )
        return owner.id

    async def _current(
        self, s: KeySession, secret: SecretView | None, owner: str, resource_id: str
    ) -> tuple[ApiKey | None, str]:
        """The key whose secret we hold, if Confluent still has it for this owner and resource; else why not."""
        name = s.status.secret_name or s.spec.secret.name or s.ref.name
        if secret is None:
            if s.status.pending_create is not None and s.status.id is None:
                return None, "The answer to a create was lost before its secret was stored"
            if s.status.id is None:
                return None, "New key"
            return (
                None,
                f"Secret {name} was deleted outside Kubernetes, and the secret of API key {s.status.id} with it",
            )
        held = secret.data.get("key") if secret.data.get("secret") else None
        if held is None:
            return None, f"Secret {name} no longer holds the secret of API key {s.status.id or '(none)'}"
        try:
            remote = await s.client.api_keys.get(held)
        except NotFound:
            return None, f"API key {held} (in Secret {name}) was deleted outside Kubernetes"
        if remote.owner_id != owner or (remote.resource_id or "").lower() != resource_id:
            return None, f"API key {held} (in Secret {name}) belongs to {remote.owner_id} on {remote.resource_id}"
        return remote, ""

    async def _rename(self, s: KeySession, old_name: str, new_name: str) -> SecretView | None:
        """spec.secret.name changed: move the key and its secret, then delete the old Secret (ours)."""
        old = await s.ctx.kube.read_secret(s.ref.namespace, old_name)
        if old is None or s.ref.uid not in old.owner_uids or not old.data.get("secret"):
            return None
        written = await s.ctx.kube.write_secret(s.ref.namespace, new_name, dict(old.data), owner=s.ref)
        s.status.secret_name = new_name
        await s.checkpoint()
        await s.ctx.kube.delete_secret(s.ref.namespace, old_name)
        await s.event(
            "Normal",
            "SecretRenamed",
            f"Moved API key {old.data.get('key')} from Secret {old_name} to Secret {new_name}; deleted {old_name}.",
        )
        return written

    async def _create(
        self, s: KeySession, owner: str, resource_id: str, secret_name: str, values: dict[str, str], *, settled: bool
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
        await s.created(created.id, settled=settled)
        return created, secret_value

    async def _values(self, s: KeySession, resource_id: str) -> dict[str, str]:
        values = {"clusterId": "" if resource_id == CLOUD else resource_id}
        values["environment"] = s.spec.resource.environment or ""
        uses_bootstrap = any("bootstrapServers" in t for t in s.spec.secret.template.values())
        if uses_bootstrap and resource_id != CLOUD:
            cluster = await self._cluster(s, resource_id)
            endpoint = cluster.spec.kafka_bootstrap_endpoint or ""
            values["bootstrapServers"] = endpoint.split("://", 1)[-1]
        return values

    async def _cluster(self, s: KeySession, resource_id: str) -> Cluster:
        """The key's Kafka cluster: one read shared by every key of the cluster for a little while."""
        environment = s.spec.resource.environment or ""
        cluster: Cluster = await s.shared_read(
            ("cmk/v2 cluster", environment, resource_id),
            lambda: s.client.clusters.get(resource_id, environment_id=environment),
        )
        return cluster

    async def _clean_up_lost_creates(self, s: KeySession, owner: str, resource_id: str, keep: str | None) -> bool:
        """Delete keys a crashed create left behind: ours by name, created since the mark, held by nobody.

        True when the list was complete enough to be sure: it shows the key we hold (any older one would
        show too), or, with no key to look for, the mark is older than Confluent needs to list a new key.
        """
        pending = s.status.pending_create
        if pending is None:
            return True
        marked = _parse_time(pending.since)
        since = marked - _CLOCK_SKEW
        name = display_name(s.spec, s.ref.namespace, s.ref.name)
        listed = await s.client.api_keys.list(owner=owner, resource=resource_id)
        for key in listed:
            created = _parse_time(key.metadata.created_at) if key.metadata and key.metadata.created_at else None
            if key.id in (keep, s.status.id) or key.spec.display_name != name or created is None or created < since:
                continue
            if s.ctx.ids.holders(s.ref.plural, key.id) - {s.target.key}:
                continue  # another ApiKey's, however alike (or once was: in doubt, never ours to delete)
            await _delete_key(s, key.id)
            await s.event("Normal", "LostKeyDeleted", f"Deleted API key {key.id}: its secret was lost in a crash.")
        anchor = keep or s.status.id
        if anchor is not None and anchor in {k.id for k in listed}:
            return True
        return s.ctx.now() - marked >= _LIST_SETTLE

    async def delete(self, s: KeySession) -> Outcome:
        pending = s.status.pending_create is not None and s.status.owner_id and s.status.resource_id
        if pending and not await self._clean_up_lost_creates(
            s, str(s.status.owner_id), str(s.status.resource_id), keep=None
        ):
            return Waiting(
                "CheckingForLostKeys",
                "A create may have landed before a crash; waiting until Confluent's key list shows it.",
                after=s.ctx.settings.wait_seconds,
            )
        if s.status.id is not None:
            key_id = s.status.id
            await delete_resource(lambda: s.client.api_keys.delete(key_id), lambda: s.client.api_keys.get(key_id))
            s.log.info("API key %s deleted", key_id)
        secret_name = s.status.secret_name or s.spec.secret.name or s.ref.name
        secret = await s.ctx.kube.read_secret(s.ref.namespace, secret_name)
        if secret is not None and s.ref.uid in secret.owner_uids:
            await s.ctx.kube.delete_secret(s.ref.namespace, secret_name)
        return Ready("Deleted", f"API key {s.status.id} deleted." if s.status.id else "Nothing to delete.")


def _adoptable(s: KeySession, secret: SecretView) -> bool:
    return s.spec.adopt_id is not None and secret.data.get("key") == s.spec.adopt_id


async def _delete_key(s: KeySession, key_id: str) -> None:
    """Delete a key we no longer need; gone already is fine, a refusal (403) is raised."""
    await delete_resource(lambda: s.client.api_keys.delete(key_id), lambda: s.client.api_keys.get(key_id))
    s.log.info("API key %s deleted", key_id)


def _kwargs(request: KeyRequest) -> dict[str, str]:
    return {k: v for k, v in vars(request).items() if v is not None}


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
