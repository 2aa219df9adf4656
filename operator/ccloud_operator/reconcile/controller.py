"""The controller: watch events in, reconciles out, through one delay queue with bounded workers.

The kopf glue calls `object_event` and `referenced_event` for what the watches see; nothing else comes in.
From there:

- an object is reconciled when it is first seen, when its spec, our annotations or its deletion
  change, when its resync is due (jittered), when an outcome asked to look again, or when something
  it refers to changed: a referenced Secret, or a dependency whose Ready changed;
- at rest an object is read only when its own resync is due: our status writes wake nothing;
- deletion goes through our finalizer, and the credentials Secret an object uses carries a finalizer
  of ours while any object uses it, so deleting a whole namespace can still clean Confluent up;
- at most `settings.workers` reconciles run at once, paced further by each credential's governor;
- every reconcile and delete is counted and timed in `Metrics`, which also reads, at each scrape,
  how many objects of each kind are Ready and how deep the queue is.

Knows nothing of kopf: who refers to what comes from `Context.references`, kept by the watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccloud_operator.kube import KubeError
from ccloud_operator.logs import about
from ccloud_operator.metrics import Metrics, QueueState
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.conditions import READY, conditions_for, ready_of
from ccloud_operator.reconcile.engine import KindReconciler
from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting
from ccloud_operator.reconcile.queue import WorkQueue
from ccloud_operator.reconcile.references import SECRET, ObjectKey, Role, owner_of
from ccloud_operator.reconcile.session import Context, Target, ref_for, resync_interval
from ccloud_operator.resources.base import GROUP, Condition, ConditionStatus

__all__ = ["CREDENTIALS_FINALIZER", "FINALIZER", "Controller", "object_log"]

log = logging.getLogger("ccloud_operator.controller")

FINALIZER = f"{GROUP}/finalizer"
CREDENTIALS_FINALIZER = f"{GROUP}/credentials-in-use"
_OURS = f"{GROUP}/"


def object_log(kind: str, key: ObjectKey) -> logging.LoggerAdapter[logging.Logger]:
    return logging.LoggerAdapter(log, {"object": f"{kind} {key.namespace}/{key.name}"})


@dataclass
class _Seen:
    """What the last watch event said about an object, to tell a real change from our own status write."""

    signature: tuple[Any, ...]
    failures: int = 0
    ready: ConditionStatus = ConditionStatus.UNKNOWN  # its Ready condition, as last read or written
    uses: frozenset[ObjectKey] = frozenset()  # the parts (plugin versions) its spec uses


class Controller:
    def __init__(
        self, ctx: Context, kinds: Mapping[str, KindReconciler[Any, Any]], metrics: Metrics | None = None
    ) -> None:
        self.ctx = ctx
        self.kinds = dict(kinds)
        self.metrics = metrics or Metrics()
        self.metrics.count_objects(self._count_objects)
        self.metrics.count_queue(self._queue_state)
        self.queue: WorkQueue[ObjectKey] = WorkQueue(self._process, workers=ctx.settings.workers)
        self._seen: dict[ObjectKey, _Seen] = {}
        self._held: set[ObjectKey] = set()  # Secrets known to carry our credentials finalizer
        self._housekeeping: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.queue.start()
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self.queue.stop()
        await self.ctx.aclose()

    def pause(self) -> None:
        self.queue.pause()

    def resume(self) -> None:
        self.queue.resume()

    @property
    def paused(self) -> bool:
        return self.queue.paused

    @property
    def started(self) -> bool:
        return self._housekeeping is not None

    @property
    def tracked(self) -> int:
        """Objects this controller keeps anything for (bounded by the objects that exist)."""
        return len(self._seen)

    # -- what the watches see --------------------------------------------------------------------

    def object_event(self, plural: str, event: str | None, body: Mapping[str, Any]) -> None:
        """An event for one of our objects: wake it if something a reconcile must see has changed."""
        meta = body.get("metadata") or {}
        key = ObjectKey(plural, str(meta.get("namespace")), str(meta.get("name")))
        if event == "DELETED":
            self._gone(key, body)
            return
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(_OURS)}
        signature = (meta.get("generation"), tuple(sorted(annotations.items())), bool(meta.get("deletionTimestamp")))
        seen = self._seen.get(key)
        if seen is not None and seen.signature == signature:
            return  # a status write (ours, most likely): nothing to act on
        uses = self._uses(key, body)
        if seen is None:
            self._seen[key] = _Seen(signature, ready=_ready_in(body), uses=uses)
        else:
            seen.signature = signature
            seen.failures = 0
            self._wake_owners(seen.uses - uses)  # a version it no longer uses may be deleted now
            seen.uses = uses
        self.queue.wake(key)

    def _uses(self, key: ObjectKey, body: Mapping[str, Any]) -> frozenset[ObjectKey]:
        """The parts of other objects (plugin versions) this object's spec uses."""
        kind = self.kinds.get(key.plural)
        if kind is None:
            return frozenset()
        refs = engine.references_of(self.ctx, kind, key.namespace, key.name, body.get("spec") or {})
        return frozenset(ref.target for ref in refs if ref.role is Role.USES)

    def _wake_owners(self, parts: Iterable[ObjectKey]) -> None:
        """Wake the owners of `parts` (plugin versions): an owner waits on its users to remove one."""
        for part in parts:
            if (owner := owner_of(part)) is None:
                continue
            owners = {owner} if owner.namespace else self.ctx.ids.holders(owner.plural, owner.name)
            for found in owners:
                self.queue.wake(found)

    def referenced_event(self, plural: str, event: str | None, body: Mapping[str, Any]) -> None:
        """A Secret or ConfigMap changed: wake whoever refers to it.

        For a Secret, also: forget what we remember of a deleted one, and release our credentials
        finalizer from one nobody uses any more.
        """
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        key = ObjectKey(plural, namespace, name)
        if plural == SECRET:
            self._track_finalizer(key, event, meta)
        if event is None:
            return  # the initial listing: every object is reconciled on first sight anyway
        version = meta.get("resourceVersion")
        if event != "DELETED" and self.ctx.kube.writing(namespace, name):
            # Our own write may be what this is, but it has not returned yet to say so: ask when it has.
            self._spawn(self._after_our_write(key, version))
            return
        self._wake_referrers(key, version if event != "DELETED" else None)

    async def _after_our_write(self, key: ObjectKey, version: str | None) -> None:
        await self.ctx.kube.settled(key.namespace, key.name)
        self._wake_referrers(key, version)

    def _wake_referrers(self, key: ObjectKey, version: str | None) -> None:
        """Wake who refers to the Secret or ConfigMap at `version`, unless the change was ours alone.

        Our finalizer on it is news to nobody; data we wrote (an API key's Secret) is news to its
        readers, though not to its writer, whose reconcile made it.
        """
        kube = self.ctx.kube
        if kube.wrote(key.namespace, key.name, version):
            if not kube.wrote_data(key.namespace, key.name, version):
                return
            roles: tuple[Role, ...] = (Role.INPUT, Role.CREDENTIALS)
        else:
            roles = tuple(Role)
        for referrer in self.ctx.references.referrers(key, roles):
            self.queue.wake(referrer)

    def _track_finalizer(self, key: ObjectKey, event: str | None, meta: Mapping[str, Any]) -> None:
        if event == "DELETED":
            self._held.discard(key)
            self.ctx.kube.forget_secret(key.namespace, key.name)
        elif CREDENTIALS_FINALIZER in (meta.get("finalizers") or []):
            self._held.add(key)
            users = self.ctx.references.referrers(key, (Role.CREDENTIALS,))
            if not users:
                self._spawn(self._release_credentials(key))
            elif event is None:
                # Listed again after the watch was away: who used it may have gone meanwhile, unheard.
                self._spawn(self._release_unless_used(key, users))
        else:
            self._held.discard(key)

    async def _release_unless_used(self, secret: ObjectKey, users: set[ObjectKey]) -> None:
        try:
            if await self.ctx.existing(users, enough=1):
                return
        except KubeError as exc:
            log.warning("cannot tell who uses Secret %s/%s: %s", secret.namespace, secret.name, exc)
            return
        await self._release_credentials(secret)

    def _gone(self, key: ObjectKey, body: Mapping[str, Any]) -> None:
        self._seen.pop(key, None)
        self.queue.forget(key)
        # Whoever waited on it (to be Ready, or to be gone before deleting) looks again.
        for referrer in self.ctx.references.referrers(key, (Role.DEPENDENCY,)):
            self.queue.wake(referrer)
        self._wake_owners(self._uses(key, body))
        kind = self.kinds.get(key.plural)
        if kind is None:
            return
        for ref in engine.references_of(self.ctx, kind, key.namespace, key.name, body.get("spec") or {}):
            held = ref.target in self._held
            if (
                ref.role is Role.CREDENTIALS
                and held
                and not self.ctx.references.referrers(ref.target, (Role.CREDENTIALS,))
            ):
                self._spawn(self._release_credentials(ref.target))
            if ref.role is Role.DEPENDENCY:
                self.queue.wake(ref.target)  # a deletion waiting on this dependent goes on

    # -- one object ------------------------------------------------------------------------------

    async def _process(self, key: ObjectKey) -> None:
        kind = self.kinds[key.plural]
        with about(f"{kind.kind.kind} {key.namespace}/{key.name}"):
            await self._process_one(kind, key)

    async def _process_one(self, kind: KindReconciler[Any, Any], key: ObjectKey) -> None:
        ref = ref_for(kind.kind, key.namespace, key.name)
        try:
            obj = await self.ctx.kube.read_object(ref)
        except KubeError as exc:
            object_log(kind.kind.kind, key).warning("cannot read it: %s", exc)
            self.queue.schedule(key, self._backoff(key))
            return
        if obj is None:
            self._seen.pop(key, None)
            return  # gone: the DELETED event does the rest
        meta = obj["metadata"]
        target = Target(
            ref=ref_for(kind.kind, key.namespace, key.name, meta.get("uid", "")),
            generation=int(meta.get("generation") or 0),
            annotations=dict(meta.get("annotations") or {}),
            spec=dict(obj.get("spec") or {}),
            status=dict(obj.get("status") or {}),
            deleting=bool(meta.get("deletionTimestamp")),
        )
        try:
            if target.deleting:
                await self._finalize(kind, key, target, obj)
            else:
                await self._reconcile(kind, key, target, obj)
        except KubeError as exc:
            object_log(kind.kind.kind, key).warning("%s", exc)
            self.queue.schedule(key, self._backoff(key))

    async def _reconcile(
        self, kind: KindReconciler[Any, Any], key: ObjectKey, target: Target, obj: Mapping[str, Any]
    ) -> None:
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            await self.ctx.kube.add_finalizer(target.ref, obj, FINALIZER)
            self.queue.wake(key)  # the patch changed resourceVersion: read it again, then reconcile
            return
        await self._hold_credentials(kind, key, target)
        seen = self._seen.setdefault(key, _Seen(()))
        previous = _conditions(target.status)
        started = time.monotonic()
        outcome = await engine.reconcile(self.ctx, kind, target, seen.failures + 1)
        self.metrics.reconciled(kind.kind.kind, type(outcome).__name__, time.monotonic() - started)
        self._schedule(key, seen, outcome, target)
        before = ready_of(previous)
        after = ready_of(conditions_for(outcome, previous, target.generation))
        seen.ready = after.status if after else ConditionStatus.UNKNOWN
        if (before.status if before else None) != (after.status if after else None):
            for dependent in self.ctx.references.referrers(key, (Role.DEPENDENCY,)):
                self.queue.wake(dependent)

    async def _finalize(
        self, kind: KindReconciler[Any, Any], key: ObjectKey, target: Target, obj: Mapping[str, Any]
    ) -> None:
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            return
        seen = self._seen.setdefault(key, _Seen(()))
        started = time.monotonic()
        outcome = await engine.delete(self.ctx, kind, target, seen.failures + 1)
        label = "Deleted" if isinstance(outcome, Ready) else type(outcome).__name__
        self.metrics.reconciled(kind.kind.kind, label, time.monotonic() - started)
        if not isinstance(outcome, Ready):
            after = ready_of(conditions_for(outcome, _conditions(target.status), target.generation))
            seen.ready = after.status if after else ConditionStatus.UNKNOWN
            seen.failures += 1
            self.queue.schedule(key, outcome.after if isinstance(outcome, Retry | Waiting) else self._backoff(key))
            return
        object_log(kind.kind.kind, key).info("%s: %s", outcome.reason, outcome.message)
        await self.ctx.kube.remove_finalizer(target.ref, obj, FINALIZER)
        for ref in engine.references_of(self.ctx, kind, key.namespace, key.name, target.spec):
            if ref.role is Role.CREDENTIALS:
                others = self.ctx.references.referrers(ref.target, (Role.CREDENTIALS,)) - {key}
                await (
                    self._release_unless_used(ref.target, others) if others else self._release_credentials(ref.target)
                )

    async def _hold_credentials(self, kind: KindReconciler[Any, Any], key: ObjectKey, target: Target) -> None:
        for ref in engine.references_of(self.ctx, kind, key.namespace, key.name, target.spec):
            if ref.role is Role.CREDENTIALS and ref.target not in self._held:
                held = await self.ctx.kube.add_secret_finalizer(
                    ref.target.namespace, ref.target.name, CREDENTIALS_FINALIZER
                )
                if held:
                    self._held.add(ref.target)

    async def _release_credentials(self, secret: ObjectKey) -> None:
        try:
            await self.ctx.kube.remove_secret_finalizer(secret.namespace, secret.name, CREDENTIALS_FINALIZER)
        except KubeError as exc:
            log.warning("cannot release Secret %s/%s: %s", secret.namespace, secret.name, exc)
            return
        self._held.discard(secret)
        log.info(
            "Secret %s/%s: no object uses it as credentials any more; finalizer removed", secret.namespace, secret.name
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _schedule(self, key: ObjectKey, seen: _Seen, outcome: Outcome, target: Target) -> None:
        match outcome:
            case Retry(after=after):
                seen.failures += 1
                self.queue.schedule(key, after)
            case Waiting(after=after):
                seen.failures = 0
                # A wait as long as a resync is one: the resync-interval annotation shortens it too.
                self.queue.schedule(key, min(after, self._resync(target.annotations)))
            case Paused():
                self.queue.forget(key)  # until the annotation changes, which is a new event
            case Ready(recheck=recheck) if recheck is not None:
                seen.failures = 0
                self.queue.schedule(key, min(recheck, self._resync(target.annotations)))
            case Ready() | Terminal():
                seen.failures = 0
                self.queue.schedule(key, self._resync(target.annotations))

    def _count_objects(self) -> dict[tuple[str, str], int]:
        """Objects by kind and Ready status, every pair present (zero or not) so series never vanish."""
        counts = {(k.kind.kind, str(status)): 0 for k in self.kinds.values() for status in ConditionStatus}
        for key, seen in self._seen.items():
            if (kind := self.kinds.get(key.plural)) is not None:
                counts[(kind.kind.kind, str(seen.ready))] += 1
        return counts

    def _queue_state(self) -> QueueState:
        return QueueState(due=self.queue.waiting, scheduled=len(self.queue), busy=self.queue.busy)

    def _resync(self, annotations: Mapping[str, str]) -> float:
        base = resync_interval(self.ctx.settings, annotations)
        return base * (1 + random.uniform(0, self.ctx.settings.resync_jitter))  # noqa: S311

    def _backoff(self, key: ObjectKey) -> float:
        seen = self._seen.get(key)
        attempt = (seen.failures if seen else 0) + 1
        if seen is not None:
            seen.failures += 1
        return engine.backoff(self.ctx, attempt)

    async def _keep_house(self) -> None:
        idle = 2 * self.ctx.settings.resync_seconds + 60
        while True:
            await asyncio.sleep(min(60.0, idle))
            released = await self.ctx.release_idle_clients(idle)
            if released:
                log.info("released %d Confluent client(s) no object used for %.0fs", released, idle)


def _conditions(status: Mapping[str, Any]) -> list[Condition]:
    return [Condition.model_validate(c) for c in status.get("conditions", []) if isinstance(c, dict)]


def _ready_in(body: Mapping[str, Any]) -> ConditionStatus:
    """The status of the Ready condition an object carries (Unknown when it has none)."""
    for cond in (body.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == READY:
            try:
                return ConditionStatus(str(cond.get("status")))
            except ValueError:
                break
    return ConditionStatus.UNKNOWN
