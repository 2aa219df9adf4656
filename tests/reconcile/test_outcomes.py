"""How Confluent's answers become outcomes, status and calls: the reconcile tier with injected faults."""

from __future__ import annotations

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.reconcile.kinds.api_key import ApiKeyReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.outcome import Ready, Retry, Terminal, Waiting
from ccloud_operator.resources import API_KEY, SERVICE_ACCOUNT

from .conftest import Harness

pytestmark = pytest.mark.e2e
SA = ServiceAccountReconciler()


async def test_rate_limit_becomes_retry_after(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "orders", {})
    emulator.fail_next("POST", "/iam/v2/service-accounts", status=429, retry_after=7)
    outcome = await harness.reconcile(SA, "orders")
    assert isinstance(outcome, Retry)
    assert outcome.reason == "RateLimited"
    assert outcome.after >= 7
    synced = [
        c for c in (await harness.object(SERVICE_ACCOUNT, "orders"))["status"]["conditions"] if c["type"] == "Synced"
    ]
    assert synced[0]["reason"] == "RateLimited"
    assert "429" in synced[0]["message"]


async def test_rejection_is_terminal_and_says_what_confluent_said(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "orders", {})
    emulator.fail_next("POST", "/iam/v2/service-accounts", status=422)
    outcome = await harness.reconcile(SA, "orders")
    assert isinstance(outcome, Terminal)
    ready = (await harness.object(SERVICE_ACCOUNT, "orders"))["status"]["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "Rejected")
    assert "422" in ready["message"]
    assert "request" in ready["message"]  # the request ID, for Confluent support


class LosesAnswer(httpx.AsyncBaseTransport):
    """Delivers the request, then loses Confluent's answer on the way back: the create happened, unseen."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str, path: str) -> None:
        self.inner, self.method, self.path, self.armed = inner, method, path, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and (request.method, request.url.path) == (self.method, self.path):
            self.armed = False
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def test_create_whose_answer_was_lost_is_adopted_not_repeated(harness: Harness, emulator: Emulator) -> None:
    harness.ctx.transport = LosesAnswer(httpx.ASGITransport(app=emulator.app), "POST", "/iam/v2/service-accounts")
    harness.create(SERVICE_ACCOUNT, "orders", {"displayName": "orders-lost"})
    first = await harness.reconcile(SA, "orders")
    assert isinstance(first, Retry)
    assert (await harness.object(SERVICE_ACCOUNT, "orders"))["status"].get("pendingCreate")
    second = await harness.reconcile(SA, "orders", attempt=2)
    assert isinstance(second, Ready)
    assert len(emulator.calls("POST", "/iam/v2/service-accounts")) == 1  # never sent twice
    status = (await harness.object(SERVICE_ACCOUNT, "orders"))["status"]
    assert status["id"].startswith("sa-")
    assert "pendingCreate" not in status


async def test_steady_state_is_one_read_and_no_write(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "orders", {"description": "d"})
    assert isinstance(await harness.reconcile(SA, "orders"), Ready)
    version = (await harness.object(SERVICE_ACCOUNT, "orders"))["metadata"]["resourceVersion"]
    emulator.clear_requests()
    assert isinstance(await harness.reconcile(SA, "orders"), Ready)
    assert [(r.method, r.path) for r in emulator.requests] == [
        ("GET", f"/iam/v2/service-accounts/{(await harness.object(SERVICE_ACCOUNT, 'orders'))['status']['id']}")
    ]
    assert (await harness.object(SERVICE_ACCOUNT, "orders"))["metadata"]["resourceVersion"] == version


async def test_api_key_lifecycle_calls_are_the_minimum(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "owner", {})
    assert isinstance(await harness.reconcile(SA, "owner"), Ready)
    harness.create(API_KEY, "key", {"serviceAccount": {"name": "owner"}, "resource": {"kind": "Cloud"}})
    emulator.clear_requests()
    keys = ApiKeyReconciler()
    assert isinstance(await harness.reconcile(keys, "key"), Ready)
    # create, then one probe that the key works: nothing else
    assert [(r.method, r.path) for r in emulator.requests] == [
        ("POST", "/iam/v2/api-keys"),
        ("GET", "/org/v2/environments"),
    ]
    emulator.clear_requests()
    assert isinstance(await harness.reconcile(keys, "key"), Ready)
    assert [r.method for r in emulator.requests] == ["GET"]


async def test_api_key_waits_for_its_owner_without_calling_confluent(harness: Harness, emulator: Emulator) -> None:
    harness.create(API_KEY, "key", {"serviceAccount": {"name": "nobody"}, "resource": {"kind": "Cloud"}})
    emulator.clear_requests()
    outcome = await harness.reconcile(ApiKeyReconciler(), "key")
    assert isinstance(outcome, Waiting)
    assert outcome.reason == "WaitingForServiceAccount"
    assert emulator.requests == []
