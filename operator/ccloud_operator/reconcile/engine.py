"""The reconcile every kind shares: validate, honour pause and policies, find credentials, let the
kind observe and act, classify errors once, then write status and Events in one place.

A kind supplies `sync` (observe, then create, update or nothing) and `delete`; everything that is
the same for all kinds lives here. Knows nothing of kopf.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ccloud_operator.confluent import ConfluentClient, ConfluentError, Credentials, RetryPolicy
from ccloud_operator.kube import Kube, ObjectRef
from ccloud_operator.reconcile.conditions import READY, conditions_for, merge_conditions, ready_of
from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting, classify
from ccloud_operator.resources.base import GROUP, CommonSpec, CommonStatus, Condition, ConditionStatus, PendingCreate
from ccloud_operator.resources.kinds import Kind
from ccloud_operator.settings import Settings

__all__ = [
    "PAUSED_ANNOTATION",
    "RESYNC_ANNOTATION",
    "Context",
    "KindReconciler",
    "Session",
    "Target",
    "delete",
    "reconcile",
    "ref_for",
]

log = logging.getLogger(__name__)

PAUSED_ANNOTATION = f"{GROUP}/paused"
RESYNC_ANNOTATION = f"{GROUP}/resync-interval"
CREDENTIAL_KEYS = ("apiKey", "apiSecret")

SpecT = TypeVar("SpecT", bound=CommonSpec)
StatusT = TypeVar("StatusT", bound=CommonStatus)


@dataclass(frozen=True)
class Target:
    """The custom resource as the handler saw it."""

    ref: ObjectRef
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


@dataclass
class Context:
    """What every reconcile needs from outside: Kubernetes, Confluent clients, settings, a clock."""

    kube: Kube
    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _clients: dict[tuple[str, str], ConfluentClient] = field(default_factory=dict, repr=False)

    def client(self, credentials: Credentials) -> ConfluentClient:
        """One client per credential, shared by every resource that uses it (and so one governor)."""
        key = (credentials.key, credentials.secret.get_secret_value())
        if key not in self._clients:
            self._clients[key] = ConfluentClient(
                credentials, base_url=self.settings.api_url, transport=self.transport, retry=self.retry
            )
        return self._clients[key]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def timestamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")


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

    async def begin_create(self) -> None:
        """Record that a create is about to be sent, so a crash before its result is recorded is found."""
        self.status.pending_create = PendingCreate(since=self.ctx.timestamp())
        await self._persist()

    async def created(self, id_: str) -> None:
        """Record the new ID at once: the next reconcile must never create a second one."""
        self.status.id = id_
        self.status.pending_create = None
        await self._persist()

    async def _persist(self) -> None:
        await _write_status(self.ctx, self.ref, self.baseline, self.status)

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

    async def sync(self, session: Session[SpecT, StatusT]) -> Outcome: ...

    async def delete(self, session: Session[SpecT, StatusT]) -> Outcome: ...


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
        outcome = await kind.sync(session)
    except ConfluentError as exc:
        outcome = classify(exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source)
    await _report(ctx, target, session.status, previous, outcome, session.extra_conditions, session.baseline)
    return outcome


async def delete(ctx: Context, kind: KindReconciler[SpecT, StatusT], target: Target, attempt: int = 1) -> Outcome:
    """Remove the Confluent resource, or leave it, as the policies say. Ready means done.

    Anything else is reported in status (Ready=False with the reason deletion waits) and retried.
    """
    status = _parse_status(kind.status_model, target.status)
    previous = list(status.conditions)
    outcome = await _delete(ctx, kind, target, status, attempt)
    if not isinstance(outcome, Ready):
        await _report(ctx, target, status, previous, outcome, [])
    return outcome


async def _delete(
    ctx: Context, kind: KindReconciler[SpecT, StatusT], target: Target, status: StatusT, attempt: int
) -> Outcome:
    try:
        spec = kind.spec_model.model_validate(target.spec)
    except ValidationError:
        return Ready("Orphaned", "The spec never validated, so nothing was created.")
    if spec.management_policy == "ObserveOnly":
        return Ready("Orphaned", "ObserveOnly: the Confluent resource is left as it is.")
    policy = spec.deletion_policy or ctx.settings.default_deletion_policy
    if policy == "Orphan":
        return Ready("Orphaned", "deletionPolicy Orphan: the Confluent resource is left as it is.")
    if status.id is None and status.pending_create is None:
        return Ready("Deleted", "Nothing was created in Confluent Cloud.")
    found = await _credentials(ctx, target, spec)
    if not isinstance(found, tuple):
        return found
    credentials, source = found
    session = Session(ctx=ctx, target=target, spec=spec, status=status, client=ctx.client(credentials))
    session.baseline = dict(target.status)
    try:
        return await kind.delete(session)
    except ConfluentError as exc:
        return classify(exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source)


async def _credentials(ctx: Context, target: Target, spec: CommonSpec) -> tuple[Credentials, str] | Waiting | Terminal:
    """The Cloud API key to use, and where it came from; or why there is none."""
    ns = target.ref.namespace
    if spec.credentials_secret_ref is not None:
        namespace, name, where = ns, spec.credentials_secret_ref.name, "spec.credentialsSecretRef"
    else:
        default = ctx.settings.default_credentials_secret
        if default is None:
            return Terminal(
                "NoCredentials",
                "spec.credentialsSecretRef is not set and the operator has no default credentials: "
                "create a Secret with keys apiKey and apiSecret and reference it.",
            )
        allowed = ctx.settings.default_credentials_namespaces
        if allowed and ns not in allowed:
            return Terminal(
                "CredentialsNotAllowed",
                f"The operator's default credentials are not available in namespace {ns}: "
                "set spec.credentialsSecretRef to a Secret in this namespace.",
            )
        namespace, name = default.split("/", 1)
        where = "the operator's default credentials"
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
    log.info("%s/%s %s: %s", ref.namespace, ref.name, after.reason, message)
    await ctx.kube.post_event(ref, kind, after.reason, message)


def _parse_status(model: type[StatusT], raw: Mapping[str, Any]) -> StatusT:
    try:
        return model.model_validate(dict(raw))
    except ValidationError:
        return model()  # a mangled status is rebuilt from Confluent, never trusted


async def _write_status(ctx: Context, ref: ObjectRef, baseline: dict[str, Any], status: BaseModel) -> None:
    """Write what differs from `baseline` (nothing, at steady state), then move the baseline along."""
    patch = _status_patch(baseline, status)
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
