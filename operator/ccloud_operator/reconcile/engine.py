"""The reconcile every kind shares: validate, honour pause and policies, find credentials, let the
kind observe and act, classify errors once, then write status and Events in one place.

A kind supplies `sync` (observe, then create, update or nothing), `delete`, and the declarations the
controller needs: `references` (what its spec points at) and `may_exist` (whether anything may have
been created). Everything that is the same for all kinds lives here. Knows nothing of kopf.

The session a kind works with is its checkpoint API: `begin_create` before a create is sent,
`created` the moment an ID is known, `accepted` when Confluent took a create whose ID comes later,
`checkpoint` for anything else that must survive a crash. A crash between any two of these leaves a
status the next reconcile can finish from: nothing duplicated, nothing orphaned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ccloud_operator.confluent import (
    ConfluentClient,
    ConfluentError,
    Credentials,
    Forbidden,
    NotFound,
    RateGovernor,
    RetryPolicy,
)
from ccloud_operator.kube import Kube, KubeError, ObjectRef
from ccloud_operator.reconcile.conditions import READY, conditions_for, merge_conditions, ready_of
from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting, classify
from ccloud_operator.reconcile.references import ObjectKey, Reference, ReferenceIndex, Role, credentials_reference
from ccloud_operator.reconcile.shared import SharedReads
from ccloud_operator.resources import KINDS
from ccloud_operator.resources.base import GROUP, CommonSpec, CommonStatus, Condition, ConditionStatus, PendingCreate
from ccloud_operator.resources.kinds import Kind
from ccloud_operator.settings import Settings

__all__ = [
    "PAUSED_ANNOTATION",
    "RESYNC_ANNOTATION",
    "BaseReconciler",
    "Context",
    "IdIndex",
    "KindReconciler",
    "Session",
    "Target",
    "backoff",
    "delete",
    "delete_confirmed",
    "reconcile",
    "ref_for",
    "references_of",
]

log = logging.getLogger("ccloud_operator.reconcile")

PAUSED_ANNOTATION = f"{GROUP}/paused"
RESYNC_ANNOTATION = f"{GROUP}/resync-interval"
CREDENTIAL_KEYS = ("apiKey", "apiSecret")

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
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    references: ReferenceIndex = field(default_factory=_NoIndex)
    ids: IdIndex = field(default_factory=_NoIndex)
    shared: SharedReads = field(default_factory=lambda: SharedReads(ttl=30.0))
    monotonic: Callable[[], float] = time.monotonic
    _clients: dict[tuple[str, str], _Client] = field(default_factory=dict, repr=False)

    def client(self, credentials: Credentials) -> ConfluentClient:
        """One client per credential, shared by every resource that uses it (and so one governor)."""
        key = (credentials.key, credentials.secret.get_secret_value())
        entry = self._clients.get(key)
        if entry is None:
            client = ConfluentClient(
                credentials, base_url=self.settings.api_url, transport=self.transport, retry=self.retry
            )
            entry = self._clients[key] = _Client(client, self.monotonic())
        entry.used = self.monotonic()
        return entry.client

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

    @property
    def ref(self) -> ObjectRef:
        return self.target.ref

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

    async def checkpoint(self) -> None:
        """Write the status as it is now (only what changed)."""
        await _write_status(self.ctx, self.ref, self.baseline, self.status)

    # -- what kinds share ------------------------------------------------------------------------

    def holder(self, confluent_id: str, kind: Kind | None = None) -> ObjectKey | None:
        """Another of our objects that already holds `confluent_id` in its status, if any."""
        plural = kind.plural if kind is not None else self.ref.plural
        others = self.ctx.ids.holders(plural, confluent_id) - {self.target.key}
        return min(others) if others else None

    async def shared_read(self, scope: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """A read many objects need, made once per credential and scope for a short while."""
        return await self.ctx.shared.get(self.client.credentials.key, scope, load)

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


class KindReconciler(Protocol[SpecT, StatusT]):
    kind: Kind
    spec_model: type[SpecT]
    status_model: type[StatusT]

    def references(self, spec: SpecT, namespace: str, name: str) -> list[Reference]:
        """Everything the spec points at, besides credentials (the engine adds those)."""
        ...

    def may_exist(self, status: StatusT) -> bool:
        """Whether anything may exist in Confluent for this status (so deleting must look)."""
        ...

    async def sync(self, session: Session[SpecT, StatusT]) -> Outcome: ...

    async def delete(self, session: Session[SpecT, StatusT]) -> Outcome: ...


class BaseReconciler(Generic[SpecT, StatusT]):
    """Defaults for the declarations: no references but credentials; an ID or a create mark may exist."""

    kind: Kind
    spec_model: type[SpecT]
    status_model: type[StatusT]

    def references(self, spec: SpecT, namespace: str, name: str) -> list[Reference]:
        return []

    def may_exist(self, status: StatusT) -> bool:
        return status.id is not None or status.pending_create is not None


def references_of(
    ctx: Context, kind: KindReconciler[SpecT, StatusT], namespace: str, name: str, spec: Mapping[str, Any]
) -> list[Reference]:
    """What an object's spec points at, credentials included; nothing for a spec that does not validate."""
    try:
        parsed = kind.spec_model.model_validate(dict(spec))
    except ValidationError:
        return []
    creds = credentials_reference(
        namespace,
        parsed.credentials_secret_ref.name if parsed.credentials_secret_ref else None,
        ctx.settings.default_credentials_secret,
        ctx.settings.default_credentials_namespaces,
    )
    return [*([creds] if creds else []), *kind.references(parsed, namespace, name)]


async def reconcile(ctx: Context, kind: KindReconciler[SpecT, StatusT], target: Target, attempt: int = 1) -> Outcome:
    """Bring one object in line with its spec and report what happened in its status."""
    status = _parse_status(kind.status_model, target.status)
    previous = list(status.conditions)
    try:
        spec = kind.spec_model.model_validate(target.spec)
    except ValidationError as exc:
        outcome: Outcome = Terminal("InvalidSpec", _validation_message(exc))
        await _report(ctx, target, status, previous, outcome, [])
        return outcome

    if target.annotations.get(PAUSED_ANNOTATION, "").lower() == "true":
        outcome = Paused(f"Reconciliation is paused by the annotation {PAUSED_ANNOTATION}; remove it to resume.")
        await _report(ctx, target, status, previous, outcome, [])
        return outcome

    found = await _credentials(ctx, target, spec)
    if not isinstance(found, tuple):
        await _report(ctx, target, status, previous, found, [])
        return found
    credentials, source = found

    session = Session(
        ctx=ctx, target=target, spec=spec, status=status, client=ctx.client(credentials), baseline=dict(target.status)
    )
    try:
        outcome = await _watching_the_governor(session, previous, kind.sync(session))
    except ConfluentError as exc:
        outcome = classify(exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source)
    except KubeError as exc:
        outcome = Retry("KubernetesError", str(exc), backoff(ctx, attempt))
    await _report(ctx, target, session.status, previous, outcome, session.extra_conditions, session.baseline)
    return outcome


async def _watching_the_governor(
    session: Session[Any, Any], previous: list[Condition], work: Awaitable[Outcome]
) -> Outcome:
    """Run `work`; if it is still waiting on the credential's rate governor after a moment, say so in status."""
    task = asyncio.ensure_future(work)
    patience = session.ctx.settings.throttle_report_seconds
    try:
        done, _ = await asyncio.wait({task}, timeout=patience)
        if not done and (message := _throttled(session.client.governor, session.client.credentials.key)):
            fresh = conditions_for(Retry("Throttled", message, 0.0), previous, session.target.generation)
            conditions = merge_conditions(previous, fresh, session.ctx.timestamp())
            snapshot = session.status.model_copy(update={"conditions": conditions})
            await _write_status(session.ctx, session.ref, session.baseline, snapshot, only=("conditions",))
            session.log.info("throttled: %s", message)
        return await task
    finally:
        if not task.done():
            task.cancel()


def _throttled(governor: RateGovernor, key: str) -> str | None:
    state = governor.snapshot()
    if not state.waiting and not state.throttled:
        return None
    now = dt.datetime.now(dt.UTC)
    until = state.throttled_until or (state.reset_at if state.remaining == 0 else None)
    expected = f"; the next slot opens in about {max(1, round((until - now).total_seconds()))}s" if until else ""
    return (
        f"Calls wait on the rate limit of Cloud API key {key} ({state.waiting} queued, "
        f"limit {state.limit if state.limit is not None else 'not yet known'}){expected}."
    )


async def delete(ctx: Context, kind: KindReconciler[SpecT, StatusT], target: Target, attempt: int = 1) -> Outcome:
    """Remove the Confluent resource, or leave it, as the policies say. Ready means done.

    Anything else is reported in status (Ready=False with the reason deletion waits) and retried.
    """
    status = _parse_status(kind.status_model, target.status)
    previous = list(status.conditions)
    try:
        outcome = await _delete(ctx, kind, target, status, attempt)
    except KubeError as exc:
        outcome = Retry("KubernetesError", str(exc), backoff(ctx, attempt))
    if not isinstance(outcome, Ready):
        if isinstance(outcome, Terminal | Retry):
            # Deleting is never given up (a finalizer dropped too early orphans what is in Confluent),
            # so every outcome but done is one more wait, and the message says what would end it.
            outcome = Retry(outcome.reason, _deletion_hint(outcome.message), _delete_retry(ctx, outcome, attempt))
        await _report(ctx, target, status, previous, outcome, [])
    return outcome


def _delete_retry(ctx: Context, outcome: Retry | Terminal, attempt: int) -> float:
    if isinstance(outcome, Retry):
        return outcome.after
    return backoff(ctx, attempt)


def _kind_name(plural: str) -> str:
    return next((k.kind for k in KINDS if k.plural == plural), plural)


def backoff(ctx: Context, attempt: int) -> float:
    """Capped exponential backoff with full jitter, at least a second: for failures that are not Confluent's."""
    return min(ctx.settings.retry_cap_seconds, max(1.0, ctx.retry.rand() * ctx.retry.backoff(attempt)))


def _deletion_hint(message: str) -> str:
    return f"Deleting waits: {message} (or set spec.deletionPolicy: Orphan to leave the resource in Confluent)."


async def _delete(
    ctx: Context, kind: KindReconciler[SpecT, StatusT], target: Target, status: StatusT, attempt: int
) -> Outcome:
    try:
        spec = kind.spec_model.model_validate(target.spec)
    except ValidationError:
        if not kind.may_exist(status):
            return Ready("Orphaned", "The spec never validated, so nothing was created.")
        return Terminal("InvalidSpec", "the spec no longer validates, so the operator cannot find what to delete")
    if spec.management_policy == "ObserveOnly":
        return Ready("Orphaned", "ObserveOnly: the Confluent resource is left as it is.")
    policy = spec.deletion_policy or ctx.settings.default_deletion_policy
    if policy == "Orphan":
        return Ready("Orphaned", "deletionPolicy Orphan: the Confluent resource is left as it is.")
    dependents = sorted(
        ctx.references.referrers(target.key, (Role.DEPENDENCY,)) - {target.key}, key=lambda k: (k.plural, k.name)
    )
    if dependents:
        # Confluent would delete or break them with it: never pull a resource from under live dependents.
        names = ", ".join(f"{_kind_name(d.plural)} {d.name}" for d in dependents[:5])
        return Waiting(
            "DependentsExist",
            f"{names} still use{'s' if len(dependents) == 1 else ''} this {target.ref.kind}: delete "
            f"{'it' if len(dependents) == 1 else 'them'} first.",
            after=ctx.settings.wait_seconds * 5,
        )
    if not kind.may_exist(status):
        return Ready("Deleted", "Nothing was created in Confluent Cloud.")
    found = await _credentials(ctx, target, spec)
    if not isinstance(found, tuple):
        return found
    credentials, source = found
    session = Session(
        ctx=ctx, target=target, spec=spec, status=status, client=ctx.client(credentials), baseline=dict(target.status)
    )
    try:
        return await kind.delete(session)
    except ConfluentError as exc:
        return classify(exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source)


async def delete_confirmed(remove: Callable[[], Awaitable[None]], read: Callable[[], Awaitable[object]]) -> bool:
    """Delete, then read to be sure: True when the resource is gone, False while it still shows.

    A 403 on the delete is the credential's refusal, unless a read says the resource is gone already;
    it is raised (`Forbidden`) so the finalizer stays and the condition says which role is missing.
    """
    try:
        await remove()
    except NotFound:
        pass
    except Forbidden:
        try:
            await read()
        except NotFound:
            return True
        raise
    try:
        await read()
    except NotFound:
        return True
    return False


async def _credentials(ctx: Context, target: Target, spec: CommonSpec) -> tuple[Credentials, str] | Waiting | Terminal:
    """The Cloud API key to use, and where it came from; or why there is none."""
    ns = target.ref.namespace
    ref = credentials_reference(
        ns,
        spec.credentials_secret_ref.name if spec.credentials_secret_ref else None,
        ctx.settings.default_credentials_secret,
        ctx.settings.default_credentials_namespaces,
    )
    if ref is None:
        if ctx.settings.default_credentials_secret is None:
            return Terminal(
                "NoCredentials",
                "spec.credentialsSecretRef is not set and the operator has no default credentials: "
                "create a Secret with keys apiKey and apiSecret and reference it.",
            )
        return Terminal(
            "CredentialsNotAllowed",
            f"The operator's default credentials are not available in namespace {ns}: "
            "set spec.credentialsSecretRef to a Secret in this namespace.",
        )
    namespace, name = ref.target.namespace, ref.target.name
    where = ref.field
    secret = await ctx.kube.read_secret(namespace, name)
    if secret is None:
        return Waiting(
            "CredentialsSecretMissing",
            f"Secret {namespace}/{name} ({where}) does not exist: create it with keys apiKey and apiSecret.",
            after=ctx.settings.wait_seconds * 15,
            synced=False,
        )
    missing = [k for k in CREDENTIAL_KEYS if not secret.data.get(k)]
    if missing:
        return Terminal(
            "CredentialsInvalid",
            f"Secret {namespace}/{name} ({where}) has no {' or '.join(missing)}: it needs keys apiKey and apiSecret.",
        )
    credentials = Credentials(key=secret.data["apiKey"].strip(), secret=secret.data["apiSecret"].strip())
    return credentials, f"Secret {namespace}/{name} ({where})"


async def _report(
    ctx: Context,
    target: Target,
    status: CommonStatus,
    previous: list[Condition],
    outcome: Outcome,
    extra: list[Condition],
    baseline: dict[str, Any] | None = None,
) -> None:
    fresh = [*conditions_for(outcome, previous, target.generation), *extra]
    status.conditions = merge_conditions(previous, fresh, ctx.timestamp())
    if not isinstance(outcome, Retry | Paused):
        status.observed_generation = target.generation
    await _write_status(ctx, target.ref, dict(target.status) if baseline is None else baseline, status)
    await _announce(ctx, target.ref, ready_of(previous), ready_of(status.conditions), outcome)


async def _announce(
    ctx: Context, ref: ObjectRef, before: Condition | None, after: Condition | None, outcome: Outcome
) -> None:
    """An Event for every change of Ready's status or reason: the transitions a user wants to see."""
    if after is None or (before is not None and (before.status, before.reason) == (after.status, after.reason)):
        return
    kind = "Warning" if isinstance(outcome, Terminal | Retry) else "Normal"
    message = after.message or f"{READY} is {after.status}"
    where = {"object": f"{ref.kind} {ref.namespace}/{ref.name}"}
    logging.LoggerAdapter(log, where).log(
        logging.WARNING if kind == "Warning" else logging.INFO, "%s: %s", after.reason, message
    )
    await ctx.kube.post_event(ref, kind, after.reason, message)


def _parse_status(model: type[StatusT], raw: Mapping[str, Any]) -> StatusT:
    try:
        return model.model_validate(dict(raw))
    except ValidationError:
        return model()  # a mangled status is rebuilt from Confluent, never trusted


async def _write_status(
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


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = "spec." + ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


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
