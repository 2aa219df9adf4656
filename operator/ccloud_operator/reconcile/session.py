"""One reconcile's world: the object as read (`Target`), what it needs from outside (`Context`),
and the session a kind works with, whose checkpoint API makes every step crash-safe.

`begin_create` before a create is sent, `created` the moment an ID is known, `accepted` when
Confluent took a create whose ID comes later, `checkpoint` for anything else that must survive a
crash. A crash between any two of these leaves a status the next reconcile can finish from: nothing
duplicated, nothing orphaned. Status is written here only, as a merge patch against what the
apiserver has (nothing at steady state). Knows nothing of kopf.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from ccloud_operator.confluent import ConfluentClient, Credentials, RateGovernor, RetryPolicy
from ccloud_operator.confluent.sts import WorkloadIdentity
from ccloud_operator.confluent.transport import ApiObserver, Credential
from ccloud_operator.kube import Kube, ObjectRef
from ccloud_operator.reconcile.conditions import READY
from ccloud_operator.reconcile.references import ObjectKey, ReferenceIndex, Role
from ccloud_operator.reconcile.shared import SharedReads
from ccloud_operator.resources import KINDS
from ccloud_operator.resources.base import GROUP, CommonSpec, CommonStatus, Condition, ConditionStatus, PendingCreate
from ccloud_operator.resources.kinds import Kind
from ccloud_operator.settings import Settings

__all__ = ["Context", "Dependency", "IdIndex", "Session", "SpecT", "StatusT", "Target", "ref_for", "write_status"]

log = logging.getLogger("ccloud_operator.reconcile")

RESYNC_ANNOTATION = f"{GROUP}/resync-interval"


def resync_interval(settings: Settings, annotations: Mapping[str, str]) -> float:
    """An object's resync interval in seconds: its resync-interval annotation's, else the operator's."""
    raw = annotations.get(RESYNC_ANNOTATION)
    if raw:
        try:
            return max(float(raw), 1.0)
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", RESYNC_ANNOTATION, raw)
    return settings.resync_seconds


SpecT = TypeVar("SpecT", bound=CommonSpec)
StatusT = TypeVar("StatusT", bound=CommonStatus)


@dataclass(frozen=True)
class Target:
    """The custom resource as it was read for this reconcile."""

    ref: ObjectRef
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    deleting: bool = False

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.ref.plural, self.ref.namespace, self.ref.name)


@dataclass(frozen=True)
class Dependency:
    """One of our objects that another waits on (a plugin, a service account), as the apiserver has it."""

    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @property
    def id(self) -> str | None:
        found = self.status.get("id")
        return str(found) if found else None

    @property
    def ready(self) -> Mapping[str, Any] | None:
        """Its Ready condition, if it has one yet."""
        conditions = self.status.get("conditions") or []
        return next((c for c in conditions if isinstance(c, dict) and c.get("type") == READY), None)

    @property
    def is_ready(self) -> bool:
        return self.ready is not None and self.ready.get("status") == "True"

    def why(self) -> str:
        """(reason: message) of its Ready condition, for a message that says why it is not Ready."""
        ready = self.ready
        return f" ({ready.get('reason')}: {ready.get('message')})" if ready and ready.get("message") else ""


class IdIndex(Protocol):
    """Which of our objects hold which Confluent ID in `status.id`, across namespaces."""

    def holders(self, plural: str, confluent_id: str) -> set[ObjectKey]: ...


class _NoIndex:
    def referrers(self, target: ObjectKey, roles: Iterable[Role]) -> set[ObjectKey]:
        return set()

    def holders(self, plural: str, confluent_id: str) -> set[ObjectKey]:
        return set()


@dataclass
class _Client:
    client: ConfluentClient
    used: float


@dataclass
class Context:
    """What every reconcile needs from outside: Kubernetes, Confluent clients, settings, indexes, a clock."""

    kube: Kube
    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None
    # Where plugin archives are downloaded from (the real network unless a test says otherwise).
    archive_transport: httpx.AsyncBaseTransport | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    references: ReferenceIndex = field(default_factory=_NoIndex)
    ids: IdIndex = field(default_factory=_NoIndex)
    shared: SharedReads = field(default_factory=lambda: SharedReads(ttl=30.0))
    monotonic: Callable[[], float] = time.monotonic
    observer: ApiObserver | None = None  # hears of every Confluent request (the metrics)
    _clients: dict[tuple[str, str], _Client] = field(default_factory=dict, repr=False)
    _identities: dict[str, WorkloadIdentity] = field(default_factory=dict, repr=False)

    def client(self, credentials: Credential) -> ConfluentClient:
        """One client per credential, shared by every resource that uses it (and so one governor)."""
        secret = credentials.secret.get_secret_value() if isinstance(credentials, Credentials) else ""
        key = (credentials.key, secret)
        entry = self._clients.get(key)
        if entry is None:
            client = ConfluentClient(
                credentials,
                base_url=self.settings.api_url,
                transport=self.transport,
                retry=self.retry,
                observer=self.observer,
            )
            entry = self._clients[key] = _Client(client, self.monotonic())
        entry.used = self.monotonic()
        return entry.client

    async def existing(self, keys: Iterable[ObjectKey], enough: int = 5) -> list[ObjectKey]:
        """Those of our objects `keys` that still exist (the first `enough` found), read from the apiserver.

        The indexes say who refers to what from the watch, and a watch that lists again after being away
        (an apiserver restart) never hears of objects deleted meanwhile: an index entry alone must never
        hold a deletion, so what holds one is confirmed here. A failed read raises `KubeError`.
        """
        found: list[ObjectKey] = []
        for key in sorted(keys, key=lambda k: (k.plural, k.namespace, k.name)):
            kind = next((k for k in KINDS if k.plural == key.plural), None)
            if kind is None or await self.kube.read_object(ref_for(kind, key.namespace, key.name)) is not None:
                found.append(key)
                if len(found) >= enough:
                    break
        return found

    def identity(self, pool: str) -> WorkloadIdentity:
        """The workload identity of `pool`: one per pool, so one exchange serves every resource using it."""
        found = self._identities.get(pool)
        if found is None:
            found = self._identities[pool] = WorkloadIdentity(
                pool,
                self._subject_token,
                base_url=self.settings.api_url,
                transport=self.transport,
                lifetime=self.settings.workload_identity_token_seconds,
                retry=self.retry,
                observer=self.observer,
            )
        return found

    @property
    def workload_identity_source(self) -> str | None:
        """Where the tokens to exchange come from, or None when the operator has none configured."""
        if self.settings.workload_identity_token_file:
            return f"the token file {self.settings.workload_identity_token_file}"
        if self.settings.workload_identity_service_account:
            return f"TokenRequest for ServiceAccount {self.settings.workload_identity_service_account}"
        return None

    async def _subject_token(self) -> str:
        """The operator's own Kubernetes identity: a projected token file, else a TokenRequest."""
        settings = self.settings
        if settings.workload_identity_token_file:
            text = await asyncio.to_thread(Path(settings.workload_identity_token_file).read_text)
            return text.strip()
        if settings.workload_identity_service_account:
            namespace, name = settings.workload_identity_service_account.split("/", 1)
            return await self.kube.service_account_token(
                namespace, name, settings.workload_identity_audience, settings.workload_identity_token_seconds
            )
        raise RuntimeError(
            "no ServiceAccount token is configured (CCLOUD_WORKLOAD_IDENTITY_TOKEN_FILE or _SERVICE_ACCOUNT)"
        )

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def release_idle_clients(self, idle: float) -> int:
        """Close the clients nobody used for `idle` seconds (rotated or abandoned credentials)."""
        cutoff = self.monotonic() - idle
        stale = [k for k, e in self._clients.items() if e.used < cutoff]
        for key in stale:
            entry = self._clients.pop(key)
            await entry.client.aclose()
            self.shared.forget_credential(key[0])
            if not any(k[0] == key[0] for k in self._clients):
                RateGovernor.forget(key[0])
        return len(stale)

    async def aclose(self) -> None:
        for entry in self._clients.values():
            await entry.client.aclose()
        self._clients.clear()
        for identity in self._identities.values():
            await identity.aclose()
        self._identities.clear()

    def timestamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")


class _Pending(Protocol):
    """Anything that records a create in flight: a status, or one entry of it (a plugin version)."""

    id: str | None
    pending_create: PendingCreate | None


@dataclass
class Session(Generic[SpecT, StatusT]):
    """One reconcile of one object: its parsed spec, the status being built, and the client to use."""

    ctx: Context
    target: Target
    spec: SpecT
    status: StatusT
    client: ConfluentClient
    extra_conditions: list[Condition] = field(default_factory=list)
    # The status as the apiserver has it now: every write is a merge patch against this.
    baseline: dict[str, Any] = field(default_factory=dict)
    # This object's failures in a row, from 1: for a kind that schedules its own backoff.
    attempt: int = 1
    # When this reconcile began, on the shared reads' clock: a fresh read is one that started since.
    began: float = field(default=0.0)
    # The create marks this reconcile set (none was there before it), with where each is.
    _marked: list[tuple[_Pending, PendingCreate]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.began = self.began or self.ctx.shared.now()

    @property
    def ref(self) -> ObjectRef:
        return self.target.ref

    @property
    def resync_seconds(self) -> float:
        """How often this object is resynced (its annotation may shorten the operator's interval)."""
        return resync_interval(self.ctx.settings, self.target.annotations)

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        return logging.LoggerAdapter(log, {"object": f"{self.ref.kind} {self.ref.namespace}/{self.ref.name}"})

    # -- the checkpoint API ----------------------------------------------------------------------

    async def begin_create(self, at: _Pending | None = None, name: str | None = None) -> None:
        """Record that a create is about to be sent (by `name`, its natural key, if it has one).

        An earlier mark is kept: a create that may have landed before stays suspected until found.
        """
        into = self.status if at is None else at
        if into.pending_create is None:
            into.pending_create = PendingCreate(since=self.ctx.timestamp(), name=name)
            self._marked.append((into, into.pending_create))
        elif name is not None:
            into.pending_create.name = name
        await self.checkpoint()

    async def accepted(self, at: _Pending | None = None) -> None:
        """Confluent took the create but its ID comes later: the mark stays, saying the object exists."""
        into = self.status if at is None else at
        if into.pending_create is not None:
            into.pending_create.accepted = True
        await self.checkpoint()

    async def created(self, id_: str, at: _Pending | None = None, *, settled: bool = True) -> None:
        """Record the new ID at once: the next reconcile must never create a second one.

        `settled=False` keeps the create mark, for a kind that still has to look for an earlier lost create.
        """
        into = self.status if at is None else at
        into.id = id_
        if settled:
            into.pending_create = None
        await self.checkpoint()

    def refused(self) -> None:
        """Confluent turned a request down outright (`ApiError.refused`), ending this reconcile: drop the
        create marks this reconcile set and Confluent never accepted. No create of theirs can have landed
        before (the mark would be older) nor since (the create was refused, or never sent), so nothing
        exists for them; kept, a mark would send the delete looking for what was never made.
        """
        for into, mark in self._marked:
            if into.pending_create is mark and not mark.accepted:
                into.pending_create = None
        self._marked.clear()

    async def checkpoint(self) -> None:
        """Write the status as it is now (only what changed)."""
        await write_status(self.ctx, self.ref, self.baseline, self.status)

    # -- what kinds share ------------------------------------------------------------------------

    async def dependency(self, kind: Kind, name: str) -> Dependency | None:
        """One of our objects of `kind` in this namespace, as it is now; None if it does not exist."""
        obj = await self.ctx.kube.read_object(ref_for(kind, self.ref.namespace, name))
        if obj is None:
            return None
        return Dependency(spec=dict(obj.get("spec") or {}), status=dict(obj.get("status") or {}))

    async def holder(self, confluent_id: str, kind: Kind | None = None) -> ObjectKey | None:
        """Another of our objects that already holds `confluent_id` in its status, if any (confirmed by a
        read: the index may still name one deleted while the watch was away)."""
        plural = kind.plural if kind is not None else self.ref.plural
        others = self.ctx.ids.holders(plural, confluent_id) - {self.target.key}
        found = await self.ctx.existing(others, enough=1) if others else []
        return found[0] if found else None

    async def shared_read(
        self, scope: Hashable, load: Callable[[], Awaitable[Any]], *, newer_than: float | None = None
    ) -> Any:
        """A read many objects need, made once per credential and scope for a short while; with
        `newer_than` (`self.began`, say), only one that started at that moment or later."""
        return await self.ctx.shared.get(self.client.credentials.key, scope, load, newer_than)

    async def event(self, type_: str, reason: str, message: str) -> None:
        """An Event on the object, and the same in the log: deletions, replacements, recreations."""
        (self.log.warning if type_ == "Warning" else self.log.info)("%s: %s", reason, message)
        await self.ctx.kube.post_event(self.ref, type_, reason, message)

    def condition(self, type_: str) -> Condition | None:
        """A condition as the object had it before this reconcile."""
        return next((c for c in self.status.conditions if c.type == type_), None)

    def set_condition(self, type_: str, true: bool, reason: str, message: str = "") -> None:
        """Report a kind-specific condition alongside Ready and Synced."""
        status = ConditionStatus.TRUE if true else ConditionStatus.FALSE
        self.extra_conditions = [c for c in self.extra_conditions if c.type != type_]
        self.extra_conditions.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                observed_generation=self.target.generation,
            )
        )


async def write_status(
    ctx: Context, ref: ObjectRef, baseline: dict[str, Any], status: BaseModel, only: tuple[str, ...] = ()
) -> None:
    """Write what differs from `baseline` (nothing, at steady state), then move the baseline along."""
    patch = _status_patch(baseline, status)
    if only:
        patch = {k: v for k, v in patch.items() if k in only}
    if not patch:
        return
    await ctx.kube.patch_status(ref, patch)
    for key, value in patch.items():
        if value is None:
            baseline.pop(key, None)
        else:
            baseline[key] = value


def _status_patch(before: Mapping[str, Any], status: BaseModel) -> dict[str, Any]:
    """The merge patch from `before` to `status`; empty when nothing changed (no write at steady state)."""
    after = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    patch: dict[str, Any] = {k: v for k, v in after.items() if before.get(k) != v}
    for key in before:
        if key not in after and key in _aliases(type(status)):
            patch[key] = None
    return patch


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def ref_for(kind: Kind, namespace: str, name: str, uid: str = "") -> ObjectRef:
    return ObjectRef(
        group=kind.group,
        version=kind.version,
        kind=kind.kind,
        plural=kind.plural,
        namespace=namespace,
        name=name,
        uid=uid,
    )
