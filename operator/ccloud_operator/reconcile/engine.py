"""The reconcile every kind shares: validate, honour pause and policies, find credentials, let the
kind observe and act, classify errors once, then write status and Events in one place.

A kind supplies `sync` (observe, then create, update or nothing), `delete`, and the declarations the
controller needs: `references` (what its spec points at) and `may_exist` (whether anything may have
been created). Everything that is the same for all kinds lives here; the session a kind works with
is in `session`. Knows nothing of kopf.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol

from pydantic import ValidationError

from ccloud_operator.confluent import ApiError, ConfluentError, Credentials, Forbidden, NotFound, RateGovernor
from ccloud_operator.confluent.sts import WorkloadIdentity
from ccloud_operator.confluent.transport import Credential
from ccloud_operator.kube import KubeError, ObjectRef
from ccloud_operator.reconcile.conditions import READY, conditions_for, merge_conditions, ready_of
from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting, classify
from ccloud_operator.reconcile.references import Reference, Role, credentials_reference
from ccloud_operator.reconcile.session import (
    RESYNC_ANNOTATION,
    Context,
    Session,
    SpecT,
    StatusT,
    Target,
    write_status,
)
from ccloud_operator.resources import KINDS
from ccloud_operator.resources.base import GROUP, CommonSpec, CommonStatus, Condition
from ccloud_operator.resources.kinds import Kind

__all__ = [
    "PAUSED_ANNOTATION",
    "RESYNC_ANNOTATION",
    "BaseReconciler",
    "KindReconciler",
    "backoff",
    "delete",
    "delete_resource",
    "reconcile",
    "references_of",
]

log = logging.getLogger("ccloud_operator.reconcile")

PAUSED_ANNOTATION = f"{GROUP}/paused"
CREDENTIAL_KEYS = ("apiKey", "apiSecret")


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
    creds = None
    if parsed.credentials is None:  # workload identity: no Secret to watch or hold
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

    session = _session(ctx, target, spec, status, credentials, attempt)
    try:
        outcome = await _watching_the_governor(session, previous, kind.sync(session))
    except ConfluentError as exc:
        if isinstance(exc, ApiError) and exc.refused:
            session.refused()
        outcome = classify(
            exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source, workload_identity=_by_pool(credentials)
        )
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
        if not done and (held := _held(session.client.governor, session.client.credentials.key)):
            reason, message = held
            fresh = conditions_for(Retry(reason, message, 0.0), previous, session.target.generation)
            conditions = merge_conditions(previous, fresh, session.ctx.timestamp())
            snapshot = session.status.model_copy(update={"conditions": conditions})
            await write_status(session.ctx, session.ref, session.baseline, snapshot, only=("conditions",))
            session.log.info("%s: %s", reason, message)
        return await task
    finally:
        if not task.done():
            task.cancel()


def _held(governor: RateGovernor, key: str) -> tuple[str, str] | None:
    """Why calls wait on the governor (its reason and message), if they do."""
    state = governor.snapshot()
    if not state.waiting and not state.throttled:
        return None
    now = dt.datetime.now(dt.UTC)
    if state.unavailable_since is not None:
        down = max(1, round((now - state.unavailable_since).total_seconds()))
        return "ConfluentUnavailable", (
            f"Confluent Cloud has not answered for {down}s (server errors or no answer): calls with Cloud API key "
            f"{key} wait ({state.waiting} queued) while one at a time checks whether it is back."
        )
    until = state.throttled_until or (state.reset_at if state.remaining == 0 else None)
    expected = f"; the next slot opens in about {max(1, round((until - now).total_seconds()))}s" if until else ""
    return "Throttled", (
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
    return (
        f"Deleting waits: {message.rstrip('. ')}. To leave the resource in Confluent instead, "
        "set spec.deletionPolicy: Orphan."
    )


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
    dependents = await ctx.existing(ctx.references.referrers(target.key, (Role.DEPENDENCY,)) - {target.key})
    if dependents:
        # Confluent would delete or break them with it: never pull a resource from under live dependents.
        names = ", ".join(f"{_kind_name(d.plural)} {d.name}" for d in dependents[:5])
        return Waiting(
            "DependentsExist",
            f"{names} still use{'s' if len(dependents) == 1 else ''} this {target.ref.kind}; it is deleted "
            f"once {'it is' if len(dependents) == 1 else 'they are'} gone.",
            after=ctx.settings.wait_seconds * 5,
        )
    if not kind.may_exist(status):
        return Ready("Deleted", "Nothing was created in Confluent Cloud.")
    found = await _credentials(ctx, target, spec)
    if not isinstance(found, tuple):
        return found
    credentials, source = found
    session = _session(ctx, target, spec, status, credentials, attempt)
    try:
        return await kind.delete(session)
    except ConfluentError as exc:
        return classify(
            exc, attempt, ctx.retry, ctx.settings.retry_cap_seconds, source, workload_identity=_by_pool(credentials)
        )


def _session(
    ctx: Context, target: Target, spec: SpecT, status: StatusT, credentials: Credential, attempt: int
) -> Session[SpecT, StatusT]:
    """The session a kind works in, its writes patched against the status the object was read with."""
    return Session(
        ctx=ctx,
        target=target,
        spec=spec,
        status=status,
        client=ctx.client(credentials),
        baseline=dict(target.status),
        attempt=attempt,
    )


async def delete_resource(remove: Callable[[], Awaitable[None]], read: Callable[[], Awaitable[object]]) -> None:
    """Delete with `remove`: done when Confluent takes it (every delete of ours answers 2xx once done)
    or says it is gone already (404).

    A 403 is the credential's refusal, unless `read` says the resource is gone already: then it is
    raised (`Forbidden`), so the finalizer stays and the condition says which role is missing.
    """
    try:
        await remove()
    except NotFound:
        pass
    except Forbidden:
        try:
            await read()
        except NotFound:
            return
        raise


async def _credentials(ctx: Context, target: Target, spec: CommonSpec) -> tuple[Credential, str] | Waiting | Terminal:
    """The credential to use (a Cloud API key, or an identity pool's tokens), and where it came from;
    or why there is none."""
    ns = target.ref.namespace
    if (pool := _identity_pool(ctx, spec, ns)) is not None:
        if isinstance(pool, Terminal):
            return pool
        if ctx.workload_identity_source is None:
            return Terminal(
                "WorkloadIdentityUnavailable",
                f"Identity pool {pool} needs the operator's ServiceAccount token, and none is configured: set "
                "CCLOUD_WORKLOAD_IDENTITY_TOKEN_FILE (the chart's workloadIdentity.projectedToken does) or "
                "CCLOUD_WORKLOAD_IDENTITY_SERVICE_ACCOUNT.",
            )
        return ctx.identity(pool), f"identity pool {pool} (workload identity, {ctx.workload_identity_source})"
    ref = credentials_reference(
        ns,
        spec.credentials_secret_ref.name if spec.credentials_secret_ref else None,
        ctx.settings.default_credentials_secret,
        ctx.settings.default_credentials_namespaces,
    )
    if ref is None:
        if ctx.settings.default_credentials_secret is None and ctx.settings.default_identity_pool is None:
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


def _by_pool(credential: Credential) -> bool:
    return isinstance(credential, WorkloadIdentity)


def _identity_pool(ctx: Context, spec: CommonSpec, namespace: str) -> str | Terminal | None:
    """The identity pool whose tokens the object uses: its own, or the operator's default; None for a Secret."""
    default = ctx.settings.default_identity_pool
    if spec.credentials is not None:
        pool = spec.credentials.workload_identity.identity_pool_id or default
        if pool is None:
            return Terminal(
                "NoIdentityPool",
                "spec.credentials.workloadIdentity names no identityPoolId and the operator has no default pool "
                "(CCLOUD_DEFAULT_IDENTITY_POOL): name the pool (pool-…).",
            )
        return pool
    allowed = ctx.settings.default_credentials_namespaces
    if spec.credentials_secret_ref is None and default and (not allowed or namespace in allowed):
        return default
    return None


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
    await write_status(ctx, target.ref, dict(target.status) if baseline is None else baseline, status)
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


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = "spec." + ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
