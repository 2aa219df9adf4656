"""The metrics: what each report adds to the registry, the operations with their IDs templated away,
the Confluent client reporting through its observer, and the endpoints that serve metrics and probes."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccloud_emulator import Emulator
from ccloud_operator.confluent import ConfluentClient, Credentials, RateGovernor, RetryPolicy
from ccloud_operator.confluent.transport import FOREIGN, operation
from ccloud_operator.metrics import Endpoints, Metrics, QueueState, Site


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed back from the text format: (name, sorted labels) -> value."""
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_reconcile_is_counted_by_kind_and_outcome_and_timed() -> None:
    metrics = Metrics()
    metrics.reconciled("ServiceAccount", "Ready", 0.2)
    metrics.reconciled("ServiceAccount", "Ready", 0.3)
    metrics.reconciled("ApiKey", "Retry", 4.0)
    get = metrics.registry.get_sample_value
    assert get("ccloud_reconciles_total", {"kind": "ServiceAccount", "outcome": "Ready"}) == 2
    assert get("ccloud_reconciles_total", {"kind": "ApiKey", "outcome": "Retry"}) == 1
    assert get("ccloud_reconcile_duration_seconds_count", {"kind": "ServiceAccount"}) == 2
    assert get("ccloud_reconcile_duration_seconds_sum", {"kind": "ServiceAccount"}) == pytest.approx(0.5)
    assert get("ccloud_reconcile_duration_seconds_bucket", {"kind": "ApiKey", "le": "2.5"}) == 0


def test_each_metrics_object_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()
    first.requested("GET /iam/v2/service-accounts", "200", 0.01)
    assert first.registry.get_sample_value(
        "ccloud_api_requests_total", {"operation": "GET /iam/v2/service-accounts", "status": "200"}
    )
    assert (
        second.registry.get_sample_value(
            "ccloud_api_requests_total", {"operation": "GET /iam/v2/service-accounts", "status": "200"}
        )
        is None
    )


def test_only_429s_count_as_throttled_and_every_governor_wait_is_timed() -> None:
    metrics = Metrics()
    for status in ("429", "429", "500", "error", "200"):
        metrics.requested("POST /iam/v2/api-keys", status, 0.05)
    metrics.waited(0.0)
    metrics.waited(7.0)
    get = metrics.registry.get_sample_value
    assert get("ccloud_api_throttled_total") == 2
    assert get("ccloud_api_requests_total", {"operation": "POST /iam/v2/api-keys", "status": "error"}) == 1
    assert get("ccloud_api_request_duration_seconds_count", {"operation": "POST /iam/v2/api-keys"}) == 5
    assert get("ccloud_governor_wait_seconds_count") == 2
    assert get("ccloud_governor_wait_seconds_bucket", {"le": "5.0"}) == 1


def test_gauges_are_read_from_the_controller_at_each_scrape() -> None:
    metrics = Metrics()
    objects = {("ServiceAccount", "True"): 3, ("ServiceAccount", "False"): 0}
    metrics.count_objects(lambda: objects)
    metrics.count_queue(lambda: QueueState(due=4, scheduled=10, busy=2))
    assert samples(metrics)[("ccloud_objects", (("kind", "ServiceAccount"), ("ready", "True")))] == 3
    objects[("ServiceAccount", "True")] = 1  # read afresh, never cached
    found = samples(metrics)
    assert found[("ccloud_objects", (("kind", "ServiceAccount"), ("ready", "True")))] == 1
    assert found[("ccloud_objects", (("kind", "ServiceAccount"), ("ready", "False")))] == 0
    assert found[("ccloud_queue_depth", ())] == 4
    assert found[("ccloud_queue_scheduled", ())] == 10
    assert found[("ccloud_reconciles_in_flight", ())] == 2


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/iam/v2/service-accounts", "POST /iam/v2/service-accounts"),
        ("GET", "/iam/v2/service-accounts/sa-1x2y3z", "GET /iam/v2/service-accounts/{id}"),
        ("DELETE", "/iam/v2/api-keys/EMUKEY0000000001", "DELETE /iam/v2/api-keys/{id}"),
        (
            "PUT",
            "/connect/v1/environments/env-12/clusters/lkc-ab/connectors/orders%2Fsink/config",
            "PUT /connect/v1/environments/{id}/clusters/{id}/connectors/{id}/config",
        ),
        ("GET", "/ccpm/v1/plugins/ccp-9/versions/ver-3?environment=env-1", "GET /ccpm/v1/plugins/{id}/versions/{id}"),
        ("GET", "/iam/v2/service-accounts/sa-1/Secret4U", "GET /iam/v2/service-accounts/{id}/{id}"),
        ("PUT", "", f"PUT {FOREIGN}"),
    ],
    ids=[
        "a collection stays as it is",
        "an ID is templated away",
        "an API key ID is templated away",
        "a connector name, escaped slash and all, is one ID",
        "the query is dropped",
        "a collection-place segment that is not a plain word is an ID too",
        "a URL outside Confluent's API (an upload) names no host or path",
    ],
)
def test_operations_name_the_call_never_an_id(method: str, path: str, expected: str) -> None:
    assert operation(method, path) == expected


async def test_the_client_reports_each_attempt_through_its_observer_and_no_secret() -> None:
    emulator = Emulator()
    metrics = Metrics()
    client = ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=emulator.app),
        retry=RetryPolicy(max_attempts=3, base=0.01, cap=2.0),
        governor=RateGovernor(),
        observer=metrics,
    )
    # A fresh governor sends one request alone until it hears the budget: the other one waits for it.
    emulator.fail_next("POST", "/iam/v2/service-accounts", status=None, latency=0.2)
    async with client:
        created, _ = await asyncio.gather(
            client.service_accounts.create("orders"), client.service_accounts.create("payments")
        )
        emulator.fail_next("GET", f"/iam/v2/service-accounts/{created.id}", status=429, retry_after=0.01)
        await client.service_accounts.get(created.id)
    get = metrics.registry.get_sample_value
    assert get("ccloud_api_requests_total", {"operation": "POST /iam/v2/service-accounts", "status": "201"}) == 2
    by_id = "GET /iam/v2/service-accounts/{id}"
    assert get("ccloud_api_requests_total", {"operation": by_id, "status": "429"}) == 1
    assert get("ccloud_api_requests_total", {"operation": by_id, "status": "200"}) == 1
    assert get("ccloud_api_throttled_total") == 1
    assert get("ccloud_governor_wait_seconds_count") == 4
    assert (get("ccloud_governor_wait_seconds_sum") or 0) >= 0.15
    scrape = metrics.exposition().decode()
    assert created.id not in scrape
    assert emulator.api_secret not in scrape
    assert emulator.api_key not in scrape


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_endpoints_serve_the_probes_and_the_metrics_on_their_ports() -> None:
    metrics = Metrics()
    metrics.reconciled("IpGroup", "Ready", 0.1)
    why: list[str | None] = ["kopf has not yet listed every resource it watches"]
    endpoints = Endpoints(metrics, lambda: why[0])
    probes, scrape = Site("127.0.0.1", _free_port()), Site("127.0.0.1", _free_port())
    await endpoints.start(probes, scrape)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            probe = f"http://127.0.0.1:{probes.port}"
            assert (await http.get(f"{probe}/healthz")).status_code == 200
            not_ready = await http.get(f"{probe}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {"ready": False, "reason": why[0]}
            why[0] = None
            assert (await http.get(f"{probe}/readyz")).status_code == 200
            assert (await http.get(f"{probe}/metrics")).status_code == 404  # metrics have a port of their own
            served = await http.get(f"http://127.0.0.1:{scrape.port}/metrics")
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("text/plain; version=")
            assert 'ccloud_reconciles_total{kind="IpGroup",outcome="Ready"} 1.0' in served.text
    finally:
        await endpoints.stop()


async def test_probes_and_metrics_may_share_one_port_and_a_taken_port_is_an_error() -> None:
    shared = Site("127.0.0.1", _free_port())
    endpoints = Endpoints(Metrics(), lambda: None)
    await endpoints.start(shared, shared)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for path in ("/healthz", "/readyz", "/metrics"):
                assert (await http.get(f"http://127.0.0.1:{shared.port}{path}")).status_code == 200, path
        with pytest.raises(OSError, match="address already in use"):
            await Endpoints(Metrics(), lambda: None).start(shared, None)
    finally:
        await endpoints.stop()
