"""Metrics and readiness end to end: /metrics and /readyz scraped over HTTP from the operator process
while a ServiceAccount is created, becomes Ready and is deleted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccloud_emulator import Emulator
from ccloud_emulator.emulator import DEFAULT_API_SECRET
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, Kube

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(operator: OperatorProcess) -> tuple[str, Samples]:
    """The text of /metrics, and its samples by (name, labels)."""
    url = f"http://127.0.0.1:{operator.settings['CCLOUD_METRICS_PORT']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def readyz(operator: OperatorProcess) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_readyz_is_ready_once_the_watches_have_listed(operator: OperatorProcess, kube: Kube) -> None:
    # Every namespace holds a ConfigMap (kube-root-ca.crt) or our credentials Secret: kopf delivers one.
    status, body = kube.wait_for("/readyz to say ready", lambda: (r := readyz(operator))[0] == 200 and r)
    assert (status, body) == (200, {"ready": True})


def test_a_service_account_lifecycle_is_counted_and_no_secret_is_exposed(
    operator: OperatorProcess, kube: Kube, emulator: Emulator
) -> None:
    kube.apply("ServiceAccount", "metered", {"displayName": f"{kube.namespace}-metered", **CREDS})
    kube.wait_condition("ServiceAccount", "metered")
    sa_id = str(kube.get("ServiceAccount", "metered")["status"]["id"])  # type: ignore[index]

    def counted() -> tuple[str, Samples] | None:
        text, samples = scrape(operator)
        done = value(samples, "ccloud_reconciles_total", kind="ServiceAccount", outcome="Ready") >= 1
        ready = value(samples, "ccloud_objects", kind="ServiceAccount", ready="True") >= 1
        return (text, samples) if done and ready else None

    text, samples = kube.wait_for("the Ready reconcile in /metrics", counted, timeout=10)
    created = value(samples, "ccloud_api_requests_total", operation="POST /iam/v2/service-accounts", status="201")
    assert created >= 1
    assert value(samples, "ccloud_reconcile_duration_seconds_count", kind="ServiceAccount") >= 1
    assert value(samples, "ccloud_governor_wait_seconds_count") >= created
    assert ("ccloud_queue_depth", frozenset()) in samples
    for secret in (DEFAULT_API_SECRET, emulator.api_secret):
        assert secret not in text
    assert sa_id not in text  # IDs are templated out of every operation
    assert kube.namespace not in text  # no object's name or namespace becomes a label

    kube.delete("ServiceAccount", "metered")
    kube.wait_gone("ServiceAccount", "metered")

    before = value(samples, "ccloud_objects", kind="ServiceAccount", ready="True")

    def deleted() -> Samples | None:
        _, now = scrape(operator)
        done = value(now, "ccloud_reconciles_total", kind="ServiceAccount", outcome="Deleted") >= 1
        gone = value(now, "ccloud_objects", kind="ServiceAccount", ready="True") == before - 1
        return now if done and gone else None

    after = kube.wait_for("the delete in /metrics", deleted, timeout=10)
    deletes = [
        labels
        for (name, labels), count in after.items()
        if name == "ccloud_api_requests_total" and ("operation", "DELETE /iam/v2/service-accounts/{id}") in labels
    ]
    assert any(dict(labels)["status"].startswith("2") for labels in deletes), deletes
    assert readyz(operator)[0] == 200
