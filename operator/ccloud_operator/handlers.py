"""The kopf glue, and nothing else: watch events go to the controller, kopf's indexes answer who
refers to what, and kopf's peering pauses the controller's workers when another replica leads.

For every kind the same three registrations, derived from the kind's declarations, never from
`if kind is …`: an index of the references its spec declares, an index of the Confluent IDs in its
status, and an event handler. kopf starts the event handlers only once every index is filled from
the initial listing, so a delete guard never runs on a half-known index.

The startup handler also serves the probes and the metrics (`ccloud_operator.metrics`): /readyz says
ready once the controller runs and kopf has delivered its first event, which it does only after
every watch has listed what it watches; or while peering makes this replica stand by.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf
import kubernetes
from urllib3.exceptions import HTTPError as UnreachableError

from ccloud_operator.kube import Kube
from ccloud_operator.metrics import Endpoints, Metrics, Site
from ccloud_operator.reconcile.controller import Controller
from ccloud_operator.reconcile.engine import KindReconciler, references_of
from ccloud_operator.reconcile.kinds import RECONCILERS
from ccloud_operator.reconcile.references import ObjectKey, Role
from ccloud_operator.reconcile.session import Context
from ccloud_operator.reconcile.shared import SharedReads
from ccloud_operator.resources import GROUP
from ccloud_operator.settings import Settings

__all__ = ["PEERING", "Peering", "Readiness", "configure"]

log = logging.getLogger(__name__)

KOPF_PREFIX = f"kopf.{GROUP}"
_REFS, _IDS = "{}_refs", "{}_ids"


@dataclass(frozen=True)
class Peering:
    """How this replica takes part in kopf's peering, set by `ccloud-operator run` before kopf starts."""

    name: str
    priority: int
    identity: str
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide


PEERING: Peering | None = None


class KopfIndexes:
    """`ReferenceIndex` and `IdIndex` over kopf's indexes, which the watch keeps current."""

    def __init__(self) -> None:
        self.indexes: Mapping[str, Any] = {}

    def referrers(self, target: ObjectKey, roles: Iterable[Role]) -> set[ObjectKey]:
        found: set[ObjectKey] = set()
        for plural in RECONCILERS:
            index = self.indexes.get(_REFS.format(plural), {})
            for role in roles:
                for value in index.get((role.value, target.plural, target.namespace, target.name), ()):
                    found.add(ObjectKey(*value))
        return found

    def holders(self, plural: str, confluent_id: str) -> set[ObjectKey]:
        index = self.indexes.get(_IDS.format(plural), {})
        return {ObjectKey(*value) for value in index.get(confluent_id, ())}


def configure(settings: kopf.OperatorSettings, operator: Settings) -> None:
    """kopf's own settings: a prefix of its own for anything it stores, quiet event posting, watch
    timeouts, and initial lists in pages (every Secret and ConfigMap where it serves, never at once).

    Peering (standalone or not, name, priority) is set by `ccloud-operator run` through kopf.run.
    """
    # Our finalizer is the controller's own: kopf removes its finalizer from objects it has no deletion
    # handler for, so it must never share our name.
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    # kopf ignores changes to annotations under its own prefix: ours (paused, resync-interval) must not be.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events report transitions; kopf's chatter stays in logs
    settings.posting.reporting_component = "ccloud-operator"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.chunk_size = operator.list_page_size


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    operator = Settings()
    configure(settings, operator)
    if getattr(memo, "controller", None) is None:
        kubernetes.config.load_config()  # type: ignore[no-untyped-call]
        indexes = KopfIndexes()
        metrics = Metrics()
        ctx = Context(
            kube=Kube(kubernetes.client.ApiClient()),
            settings=operator,
            references=indexes,
            ids=indexes,
            shared=SharedReads(ttl=operator.shared_read_seconds),
            observer=metrics,
        )
        memo.indexes = indexes
        memo.controller = Controller(ctx, RECONCILERS, metrics)
        memo.readiness = Readiness(memo.controller)
        if PEERING is not None:
            memo.peering = asyncio.create_task(_follow_peering(PEERING, memo.controller), name="peering")
    memo.controller.start()
    if getattr(memo, "endpoints", None) is None:
        memo.endpoints = await _serve(memo.controller, memo.readiness)


@dataclass
class Readiness:
    """What /readyz answers: why the operator is not ready, or None. One object, shared: kopf gives
    each resource object its own shallow copy of `memo`, so a flag set on `memo` itself would not be."""

    controller: Controller
    listed: bool = False  # kopf delivered an event, which it does once every watch has listed

    def __call__(self) -> str | None:
        if not self.controller.started:
            return "the controller is not running"
        if self.controller.paused:
            return None  # a standby replica is ready: ready to take over
        if not self.listed:
            return "kopf has not yet listed every resource it watches"
        return None


async def _serve(controller: Controller, readiness: Readiness) -> Endpoints:
    """The probe and metrics endpoints; a port already taken stops the operator."""
    settings = controller.ctx.settings
    endpoints = Endpoints(controller.metrics, readiness)
    probes = Site(settings.liveness_host, settings.liveness_port) if settings.liveness_port else None
    scrape = Site(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
    try:
        await endpoints.start(probes, scrape)
    except OSError as exc:
        raise kopf.PermanentError(f"cannot serve the probe or metrics endpoints: {exc}") from exc
    return endpoints


async def _follow_peering(peering: Peering, controller: Controller, interval: float = 5.0) -> None:
    """Pause the controller's workers while another live replica has our priority or a higher one.

    kopf pauses its own watches by the same rule; the controller's queue runs beside kopf, so it
    follows the peering object itself.
    """
    custom = kubernetes.client.CustomObjectsApi()
    while True:
        try:
            if peering.namespaces:
                bodies = [
                    await asyncio.to_thread(
                        custom.get_namespaced_custom_object, "kopf.dev", "v1", ns, "kopfpeerings", peering.name
                    )
                    for ns in peering.namespaces
                ]
            else:
                bodies = [
                    await asyncio.to_thread(
                        custom.get_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", peering.name
                    )
                ]
        except (kubernetes.client.exceptions.ApiException, UnreachableError, OSError) as exc:
            log.debug("cannot read the peering object %s: %s", peering.name, getattr(exc, "status", exc))
        else:
            rivals = [ident for body in bodies for ident in _rivals(cast(Mapping[str, Any], body), peering)]
            if rivals and not controller.paused:
                log.info("pausing: replica %s leads (peering %s)", rivals[0], peering.name)
                controller.pause()
            elif not rivals and controller.paused:
                log.info("resuming: no other replica leads (peering %s)", peering.name)
                controller.resume()
        await asyncio.sleep(interval)


def _rivals(body: Mapping[str, Any], peering: Peering) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    found = []
    for ident, info in (body.get("status") or {}).items():
        if ident == peering.identity or not isinstance(info, dict):
            continue
        try:
            seen = dt.datetime.fromisoformat(str(info.get("lastseen")).replace("Z", "+00:00"))
        except ValueError:
            continue
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=dt.UTC)
        alive = seen + dt.timedelta(seconds=int(info.get("lifetime") or 60)) > now
        if alive and int(info.get("priority") or 0) >= peering.priority:
            found.append(str(ident))
    return found


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    controller: Controller | None = getattr(memo, "controller", None)
    if (follower := getattr(memo, "peering", None)) is not None:
        follower.cancel()
    if controller is not None:
        await controller.stop()
    if (endpoints := getattr(memo, "endpoints", None)) is not None:
        await endpoints.stop()


def _register(plural: str, kind: KindReconciler[Any, Any]) -> None:
    resource = (kind.kind.group, kind.kind.version, plural)

    @kopf.index(*resource, id=_REFS.format(plural))
    def references(
        namespace: str | None, name: str, spec: kopf.Spec, memo: Any, **_: Any
    ) -> dict[tuple[str, str, str, str], tuple[str, str, str]]:
        refs = references_of(memo.controller.ctx, kind, str(namespace), name, dict(spec))
        return {ref.index_key: (plural, str(namespace), name) for ref in refs}

    @kopf.index(*resource, id=_IDS.format(plural))
    def confluent_ids(
        namespace: str | None, name: str, status: kopf.Status, **_: Any
    ) -> dict[str, tuple[str, str, str]]:
        held = status.get("id")
        return {str(held): (plural, str(namespace), name)} if held else {}

    @kopf.on.event(*resource, id="watch")
    async def watch(type: str | None, body: kopf.Body, memo: Any, **indexes: Any) -> None:
        memo.readiness.listed = True  # kopf calls event handlers only once every watch has listed
        memo.indexes.indexes = indexes
        memo.controller.object_event(plural, type, body)


for _plural, _kind in RECONCILERS.items():
    _register(_plural, _kind)


@kopf.on.event("", "v1", "secrets", id="secrets")
@kopf.on.event("", "v1", "configmaps", id="configmaps")
async def referenced_changed(
    type: str | None, body: kopf.Body, resource: kopf.Resource, memo: Any, **indexes: Any
) -> None:
    """Wake every object that references this Secret or ConfigMap, so a change reaches Confluent in seconds."""
    controller: Controller | None = getattr(memo, "controller", None)
    if controller is None:
        return
    memo.readiness.listed = True  # as in `watch`; even an empty namespace has a ConfigMap, kube-root-ca.crt
    memo.indexes.indexes = indexes
    controller.referenced_event(resource.plural, type, body)
