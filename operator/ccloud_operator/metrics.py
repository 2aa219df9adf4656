"""What the operator tells the outside: Prometheus metrics, and the HTTP endpoints that serve them
and the probes.

Every metric lives in its `Metrics` object's own registry, so tests can make as many as they like in
one process. Labels are bounded: kinds, outcomes, Ready states, HTTP statuses, and operations with
their IDs templated away (`GET /iam/v2/service-accounts/{id}`); never an object's name, an ID or
anything secret.

    ccloud_reconciles_total{kind,outcome}            Ready, Waiting, Retry, Terminal, Paused, Deleted
    ccloud_reconcile_duration_seconds{kind}          histogram, deletes included
    ccloud_api_requests_total{operation,status}      every attempt; status "error" when no answer came
    ccloud_api_request_duration_seconds{operation}   histogram
    ccloud_api_throttled_total                       429 answers
    ccloud_governor_wait_seconds                     histogram: waits for a credential's rate governor
    ccloud_objects{kind,ready}                       gauge: True, False or Unknown
    ccloud_queue_depth                               gauge: objects due now, waiting for a worker
    ccloud_queue_scheduled                           gauge: objects with a reconcile due at some time
    ccloud_reconciles_in_flight                      gauge

The controller reports through `Metrics` and gives it the functions that count objects and the
queue; the Confluent client reports through the `ApiObserver` protocol, which `Metrics` satisfies,
so it never imports this module. Knows nothing of kopf, Kubernetes or Confluent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Endpoints", "Metrics", "QueueState", "Readiness", "Site"]

log = logging.getLogger("ccloud_operator.metrics")

# Reconciles take milliseconds against a quiet API and up to minutes behind a rate limit.
_RECONCILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class QueueState:
    due: int  # due now, waiting for a worker
    scheduled: int  # due at some time, now or later
    busy: int  # being reconciled


class Metrics:
    """The operator's metrics, in a registry of their own (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reconciles = Counter(
            "ccloud_reconciles",
            "Reconciles and deletes, by kind and what they ended with.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "ccloud_reconcile_duration_seconds",
            "How long one reconcile or delete took, by kind.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.api_requests = Counter(
            "ccloud_api_requests",
            "Confluent Cloud API calls (every attempt), by operation and HTTP status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "ccloud_api_request_duration_seconds",
            "How long Confluent Cloud took to answer, by operation.",
            ["operation"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.api_throttled = Counter(
            "ccloud_api_throttled", "Confluent Cloud answers 429 Too Many Requests.", registry=self.registry
        )
        self.governor_wait = Histogram(
            "ccloud_governor_wait_seconds",
            "How long requests waited for their credential's rate governor before they were sent.",
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self._live = _Live()
        self.registry.register(self._live)

    # -- what the controller reports --------------------------------------------------------------

    def reconciled(self, kind: str, outcome: str, seconds: float) -> None:
        self.reconciles.labels(kind=kind, outcome=outcome).inc()
        self.reconcile_duration.labels(kind=kind).observe(seconds)

    def count_objects(self, count: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        """Read object counts by (kind, status of Ready: True, False or Unknown) from `count` at every scrape."""
        self._live.objects = count

    def count_queue(self, state: Callable[[], QueueState]) -> None:
        """Read the queue's state from `state` at every scrape."""
        self._live.queue = state

    # -- what the Confluent client reports (ApiObserver) -------------------------------------------

    def requested(self, operation: str, status: str, seconds: float) -> None:
        self.api_requests.labels(operation=operation, status=status).inc()
        self.api_duration.labels(operation=operation).observe(seconds)
        if status == "429":
            self.api_throttled.inc()

    def waited(self, seconds: float) -> None:
        self.governor_wait.observe(seconds)

    # -- the scrape --------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return generate_latest(self.registry)


class _Live(Collector):
    """The gauges read at scrape time, so they can never drift from what the controller holds."""

    def __init__(self) -> None:
        self.objects: Callable[[], Mapping[tuple[str, str], int]] = dict
        self.queue: Callable[[], QueueState] = lambda: QueueState(0, 0, 0)

    def collect(self) -> Iterable[Metric]:
        objects = GaugeMetricFamily(
            "ccloud_objects", "Objects the operator manages, by kind and Ready condition.", labels=["kind", "ready"]
        )
        for (kind, ready), count in sorted(self.objects().items()):
            objects.add_metric([kind, ready], count)
        queue = self.queue()
        yield objects
        yield GaugeMetricFamily(
            "ccloud_queue_depth", "Objects due for a reconcile now, waiting for a worker.", queue.due
        )
        yield GaugeMetricFamily(
            "ccloud_queue_scheduled", "Objects with a reconcile due, now or later.", queue.scheduled
        )
        yield GaugeMetricFamily("ccloud_reconciles_in_flight", "Reconciles running now.", queue.busy)


# -- the endpoints ------------------------------------------------------------------------------------

# Why the operator is not ready, or None when it is.
Readiness = Callable[[], str | None]


@dataclass(frozen=True)
class Site:
    host: str
    port: int


class Endpoints:
    """/healthz and /readyz on the probe site, /metrics on the metrics site, served on the event loop.

    /healthz answers while the event loop turns (a wedged operator is restarted); /readyz answers 200
    once `ready` says so, 503 with the reason before; the same site may serve all three.
    """

    def __init__(self, metrics: Metrics, ready: Readiness) -> None:
        self.metrics = metrics
        self.ready = ready
        self._runners: list[web.AppRunner] = []

    async def start(self, probes: Site | None, metrics: Site | None) -> None:
        """Bind the sites (None: not served); raises OSError when a port is taken."""
        routes: dict[Site, dict[str, Callable[[web.Request], Awaitable[web.Response]]]] = {}
        if probes is not None:
            routes.setdefault(probes, {}).update({"/healthz": self._healthz, "/readyz": self._readyz})
        if metrics is not None:
            routes.setdefault(metrics, {})["/metrics"] = self._metrics
        try:
            for site, handlers in routes.items():
                app = web.Application()
                app.add_routes([web.get(path, handler) for path, handler in handlers.items()])
                runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                self._runners.append(runner)
                await web.TCPSite(runner, site.host, site.port).start()
                log.debug("serving %s on %s:%d", ", ".join(handlers), site.host, site.port)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        reason = self.ready()
        if reason is None:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": reason}, status=503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
