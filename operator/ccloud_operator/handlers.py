"""The kopf glue, and nothing else: every kind's edges (create, update, resume, a jittered resync,
delete, and changes to the Secrets it references) funnel into one reconcile per kind, one object at
a time.

Each object has a small worker state: a lock (kopf runs daemons beside handlers), the time of its
next reconcile, and an event that wakes its resync daemon early. The daemon is the resync timer: it
sleeps until the next reconcile is due (the resync interval with jitter, or the delay an outcome
asked for) and is woken by a spec change, a referenced Secret's change, or a dependency turning Ready.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kopf
import kubernetes

from ccloud_operator.kube import Kube
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.api_key import ApiKeyReconciler
from ccloud_operator.reconcile.engine import RESYNC_ANNOTATION, Context, KindReconciler, Target, ref_for
from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting
from ccloud_operator.reconcile.service_account import ServiceAccountReconciler
from ccloud_operator.resources import API_KEY, GROUP, KINDS, SERVICE_ACCOUNT, Kind
from ccloud_operator.settings import Settings

__all__ = ["RECONCILERS", "configure"]

log = logging.getLogger(__name__)

RECONCILERS: dict[str, KindReconciler[Any, Any]] = {
    SERVICE_ACCOUNT.plural: ServiceAccountReconciler(),
    API_KEY.plural: ApiKeyReconciler(),
}
# Which kinds wait on which: when a ServiceAccount turns Ready, the ApiKeys that name it are woken.
DEPENDENTS: dict[str, tuple[str, str]] = {SERVICE_ACCOUNT.plural: (API_KEY.plural, "serviceAccount")}

Key = tuple[str, str, str]  # plural, namespace, name
KOPF_PREFIX = f"kopf.{GROUP}"


@dataclass
class ObjectState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due: float = float("inf")
    failures: int = 0


@dataclass
class Runtime:
    """What the handlers share, kept in kopf's memo."""

    context: Context
    objects: dict[Key, ObjectState] = field(default_factory=dict)

    def state(self, key: Key) -> ObjectState:
        return self.objects.setdefault(key, ObjectState())

    def wake(self, keys: Iterable[Key]) -> None:
        for key in keys:
            if (state := self.objects.get(key)) is not None:
                state.due = 0.0
                state.wake.set()


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's own settings: our group's prefix for its storage, quiet event posting, watch timeouts.

    Peering (standalone or not, name, priority) is set by `ccloud-operator run` through kopf.run.
    """
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # kopf ignores changes to annotations under its own prefix: ours (paused, resync-interval) must not be.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events report transitions; kopf's chatter stays in logs
    settings.posting.reporting_component = "ccloud-operator"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    operator = Settings()
    configure(settings)
    if getattr(memo, "runtime", None) is None:
        kubernetes.config.load_config()  # type: ignore[no-untyped-call]
        memo.runtime = Runtime(Context(kube=Kube(kubernetes.client.ApiClient()), settings=operator))


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.context.aclose()


def _target(kind: Kind, obj: dict[str, Any]) -> Target:
    meta = obj["metadata"]
    return Target(
        ref=ref_for(kind, meta["namespace"], meta["name"], meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        spec=dict(obj.get("spec") or {}),
        status=dict(obj.get("status") or {}),
    )


def _resync_seconds(runtime: Runtime, annotations: dict[str, str]) -> float:
    base = runtime.context.settings.resync_seconds
    raw = annotations.get(RESYNC_ANNOTATION)
    if raw:
        try:
            base = max(float(raw), 1.0)
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", RESYNC_ANNOTATION, raw)
    return base * (1 + random.uniform(0, runtime.context.settings.resync_jitter))  # noqa: S311


async def _reconcile(kind: Kind, runtime: Runtime, namespace: str, name: str) -> None:
    key = (kind.plural, namespace, name)
    state = runtime.state(key)
    async with state.lock:
        # Read afresh: the status this operator wrote a moment ago (an ID) must never be missed.
        obj = await runtime.context.kube.read_object(ref_for(kind, namespace, name))
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        target = _target(kind, obj)
        outcome = await engine.reconcile(runtime.context, RECONCILERS[kind.plural], target, state.failures + 1)
        _schedule(runtime, state, outcome, target)
    if isinstance(outcome, Ready) and kind.plural in DEPENDENTS:
        await _wake_dependents(kind, runtime, namespace, name)


def _schedule(runtime: Runtime, state: ObjectState, outcome: Outcome, target: Target) -> None:
    now = time.monotonic()
    match outcome:
        case Retry(after=after):
            state.failures += 1
            state.due = now + after
        case Waiting(after=after):
            state.failures = 0
            state.due = now + after
        case Paused():
            state.due = float("inf")  # until the annotation changes, which is an update
        case Ready() | Terminal():
            state.failures = 0
            state.due = now + _resync_seconds(runtime, dict(target.annotations))
    state.wake.set()


async def _wake_dependents(kind: Kind, runtime: Runtime, namespace: str, name: str) -> None:
    plural, ref_field = DEPENDENTS[kind.plural]
    waiting = [
        (p, ns, n)
        for (p, ns, n), state in runtime.objects.items()
        if p == plural and ns == namespace and state.due > time.monotonic()
    ]
    if not waiting:
        return
    dependent = next(k for k in KINDS if k.plural == plural)
    for obj in await runtime.context.kube.list_objects(dependent.group, dependent.version, plural, namespace):
        if (obj.get("spec") or {}).get(ref_field, {}).get("name") == name:
            runtime.wake([(plural, namespace, obj["metadata"]["name"])])


def _register(kind: Kind) -> None:
    resource = (kind.group, kind.version, kind.plural)

    @kopf.on.create(*resource, id="reconcile-on-create")
    @kopf.on.update(*resource, id="reconcile-on-update")
    @kopf.on.resume(*resource, id="reconcile-on-resume")
    async def on_change(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
        await _reconcile(kind, memo.runtime, str(namespace), name)

    @kopf.daemon(*resource, id="resync", cancellation_timeout=5.0)
    async def resync(namespace: str | None, name: str, memo: Any, stopped: kopf.DaemonStopped, **_: Any) -> None:
        runtime: Runtime = memo.runtime
        state = runtime.state((kind.plural, str(namespace), name))
        while not stopped:
            state.wake.clear()
            delay = state.due - time.monotonic()
            if delay > 0:
                woken = asyncio.ensure_future(state.wake.wait())
                halted = asyncio.ensure_future(stopped.wait())
                await asyncio.wait({woken, halted}, timeout=min(delay, 3600.0), return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                halted.cancel()
                continue
            await _reconcile(kind, runtime, str(namespace), name)

    @kopf.on.delete(*resource, id="delete")
    async def on_delete(body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
        runtime: Runtime = memo.runtime
        key = (kind.plural, str(namespace), name)
        state = runtime.state(key)
        async with state.lock:
            obj = await runtime.context.kube.read_object(ref_for(kind, str(namespace), name)) or dict(body)
            outcome = await engine.delete(
                runtime.context, RECONCILERS[kind.plural], _target(kind, obj), state.failures + 1
            )
            if isinstance(outcome, Ready):
                runtime.objects.pop(key, None)
                log.info("%s %s/%s: %s", kind.kind, namespace, name, outcome.message)
                return
            state.failures += 1
        after = outcome.after if isinstance(outcome, Retry | Waiting) else runtime.context.settings.retry_cap_seconds
        # Deleting is never given up: a finalizer dropped too early would orphan the Confluent resource.
        raise kopf.TemporaryError(f"{outcome.reason}: {outcome.message}", delay=after)

    @kopf.index(*resource, id=f"{kind.plural}_by_secret")
    def by_secret(namespace: str | None, name: str, spec: kopf.Spec, memo: Any, **_: Any) -> dict[tuple[str, str], str]:
        runtime: Runtime = memo.runtime
        ns_ = str(namespace)
        refs = []
        creds = (spec.get("credentialsSecretRef") or {}).get("name")
        if creds:
            refs.append((ns_, creds))
        elif runtime.context.settings.default_credentials_secret:
            ns, secret = runtime.context.settings.default_credentials_secret.split("/", 1)
            refs.append((ns, secret))
        if kind is API_KEY:
            refs.append((ns_, (spec.get("secret") or {}).get("name") or name))
        return {ref: name for ref in refs}


for _kind in KINDS:
    _register(_kind)


@kopf.on.event("", "v1", "secrets")
async def secret_changed(
    type: str, namespace: str | None, name: str, body: kopf.Body, memo: Any, **indexes: Any
) -> None:
    """Wake every object that references this Secret, so a change reaches Confluent within seconds."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None or type is None:  # the initial listing: every object reconciles on resume anyway
        return
    version = body.get("metadata", {}).get("resourceVersion")
    if type != "DELETED" and runtime.context.kube.wrote(str(namespace), name, version):
        return  # our own write, already accounted for by the reconcile that made it
    for kind in KINDS:
        index: kopf.Index[tuple[str, str], str] = indexes[f"{kind.plural}_by_secret"]
        runtime.wake((kind.plural, str(namespace), n) for n in index.get((str(namespace), name), []))
