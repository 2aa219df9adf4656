"""Retries and pacing against the emulator's injected faults and rate limits.

Tests that say how long something took ask for `clock`: the emulator, the governor and the retry
sleeps then share one virtual time, in which only waiting takes time (never the CPU).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    ConfluentClient,
    ConfluentError,
    ConnectFailed,
    Credentials,
    RateGovernor,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
    Unauthorized,
)

if TYPE_CHECKING:
    from tests.client.conftest import Clock

Call = Callable[[ConfluentClient, Emulator], Awaitable[object]]
ClientFactory = Callable[..., ConfluentClient]


class Stamped(httpx.AsyncBaseTransport):
    """The emulator in process, noting the time on `clock` at which each request left."""

    def __init__(self, emulator: Emulator, clock: Clock) -> None:
        self.inner = httpx.ASGITransport(app=emulator.app)
        self.clock = clock
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(self.clock())
        return await self.inner.handle_async_request(request)


def read_env(c: ConfluentClient, e: Emulator) -> Awaitable[object]:
    return c.environments.get(e.environment_id)


def create_sa(c: ConfluentClient, e: Emulator) -> Awaitable[object]:
    return c.service_accounts.create("retried")


async def rename_sa(c: ConfluentClient, e: Emulator) -> object:
    sa = await c.service_accounts.create("to-rename")
    e.fail_next("PATCH", "/iam/v2/service-accounts/*", status=502)
    return await c.service_accounts.update(sa.id, description="renamed")


async def delete_sa(c: ConfluentClient, e: Emulator) -> object:
    sa = await c.service_accounts.create("to-delete")
    e.fail_next("DELETE", "/iam/v2/service-accounts/*", status=500)
    await c.service_accounts.delete(sa.id)
    return None


ENV = "/org/v2/environments/*"
SAS = "/iam/v2/service-accounts"


@pytest.mark.parametrize(
    ("fault", "call", "method", "path", "statuses", "error"),
    [
        ({"method": "GET", "path": ENV, "status": 503, "count": 1}, read_env, "GET", ENV, [503, 200], None),
        ({"method": "GET", "path": ENV, "status": 503, "count": 2}, read_env, "GET", ENV, [503, 503, 200], None),
        ({"method": "GET", "path": ENV, "status": 503}, read_env, "GET", ENV, [503] * 4, ServerError),
        ({"method": "GET", "path": ENV, "status": 501, "count": 1}, read_env, "GET", ENV, [501], ServerError),
        ({"method": "GET", "path": ENV, "drop": True, "count": 1}, read_env, "GET", ENV, [0, 200], None),
        ({"method": "POST", "path": SAS, "status": 503, "count": 1}, create_sa, "POST", SAS, [503], ServerError),
        ({"method": "POST", "path": SAS, "drop": True, "count": 1}, create_sa, "POST", SAS, [0], TransportError),
        (
            {"method": "POST", "path": SAS, "status": 429, "retry_after": 0.05, "count": 1},
            create_sa,
            "POST",
            SAS,
            [429, 201],
            None,
        ),
        (None, rename_sa, "PATCH", SAS + "/*", [502, 200], None),
        (None, delete_sa, "DELETE", SAS + "/*", [500, 204], None),
    ],
    ids=[
        "a 503 on a read is retried",
        "two 503s on a read are retried",
        "a read that keeps failing gives up after max_attempts",
        "a 501 is never retried",
        "a dropped read is retried",
        "a 503 on a create is not retried: it may have created",
        "a dropped create is not retried: it may have arrived",
        "a 429 on a create is retried: the server did nothing",
        "a 502 on a PATCH is retried",
        "a 500 on a DELETE is retried",
    ],
)
async def test_retry_rules(
    client: ConfluentClient,
    emulator: Emulator,
    fault: dict[str, object] | None,
    call: Call,
    method: str,
    path: str,
    statuses: list[int],
    error: type[ConfluentError] | None,
) -> None:
    if fault is not None:
        emulator.fail(**fault)  # type: ignore[arg-type]
    if error is None:
        await call(client, emulator)
    else:
        with pytest.raises(error):
            await call(client, emulator)
    assert [r.status for r in emulator.calls(method, path)] == statuses


async def test_each_retry_is_logged_with_its_attempt_number(
    client: ConfluentClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail("GET", ENV, status=503, count=2)
    await client.environments.get(emulator.environment_id)
    retries = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].startswith(f"GET /org/v2/environments/{emulator.environment_id} attempt 2/4 in ")
    assert "attempt 3/4" in retries[1]
    assert "HTTP 503" in retries[0]


async def test_a_retry_is_never_sooner_than_retry_after(
    clock: Clock, emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.fail_next("GET", ENV, status=429, retry_after=0.3)
    stamped = Stamped(emulator, clock)
    async with make_client(emulator, transport=stamped) as client:
        await client.environments.get(emulator.environment_id)
    first, second = emulator.calls("GET", ENV)
    assert (first.status, second.status) == (429, 200)
    # The test policy's own backoff is at most 0.01 s here, so the wait is Retry-After's, exactly.
    assert stamped.sent[1] - stamped.sent[0] == pytest.approx(0.3)


async def test_a_wait_beyond_the_cap_is_left_to_the_caller(
    clock: Clock, client: ConfluentClient, emulator: Emulator
) -> None:
    emulator.fail_next("POST", SAS, status=429, retry_after=60)
    with pytest.raises(RateLimited) as caught:
        await client.service_accounts.create("patient")
    assert caught.value.retry_after == 60
    assert client.governor.snapshot().throttled
    # Everyone on this credential now waits; nobody knocks on the server before the minute is up.
    with pytest.raises(RateLimited) as again:
        await client.environments.get(emulator.environment_id)
    assert again.value.retry_after == pytest.approx(60)  # no time has passed on the test's clock
    assert len(emulator.requests) == 1


async def test_a_create_whose_connection_failed_is_retried(emulator: Emulator, make_client: ClientFactory) -> None:
    class RefuseFirst(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=emulator.app)
            self.refused = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self.refused == 0:
                self.refused += 1
                raise httpx.ConnectError("connection refused", request=request)
            return await self.inner.handle_async_request(request)

    async with make_client(emulator, transport=RefuseFirst()) as client:
        created = await client.service_accounts.create("after-refusal")
    assert [r.status for r in emulator.calls("POST", SAS)] == [201]
    assert created.display_name == "after-refusal"


async def test_a_wrong_secret_is_unauthorized_and_not_retried(
    emulator: Emulator, remember: Callable[[str], str]
) -> None:
    wrong = remember("WrongSecret-" + "x" * 52)
    async with ConfluentClient(
        Credentials(key=emulator.api_key, secret=wrong),
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=emulator.app),
        governor=RateGovernor(),
    ) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.environments.list()
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and wrong not in repr(client)
    assert len(emulator.requests) == 1


async def test_a_burst_flows_under_the_rate_limit(clock: Clock, emulator: Emulator, make_client: ClientFactory) -> None:
    rate, burst, calls = 25.0, 5, 40
    emulator.set_rate_limit(rate=rate, burst=burst)
    async with make_client(emulator) as client:
        started = clock()
        await asyncio.gather(*(client.environments.get(emulator.environment_id) for _ in range(calls)))
        elapsed = clock() - started
        state = client.governor.snapshot()
    assert [r.status for r in emulator.requests if r.status != 200] == []
    ideal = (calls - burst) / rate
    # The emulator rounds Reset up to whole seconds, so the first look comes late; later ones are measured.
    assert ideal <= elapsed <= 1.3 * ideal + 0.6
    assert (state.limit, state.requests, state.rate_limited) == (burst, calls, 0)


async def test_hundreds_of_calls_at_once_get_no_429(
    clock: Clock, emulator: Emulator, make_client: ClientFactory
) -> None:
    rate, burst, calls = 200.0, 20, 600
    emulator.set_rate_limit(rate=rate, burst=burst)
    async with make_client(emulator) as client:
        started = clock()
        await asyncio.gather(*(client.environments.get(emulator.environment_id) for _ in range(calls)))
        elapsed = clock() - started
    assert len(emulator.requests) == calls
    assert {r.status for r in emulator.requests} == {200}
    ideal = (calls - burst) / rate
    # Virtual time counts the waits only, not the emulator's CPU: held to the small burst's bound.
    assert ideal <= elapsed <= 1.3 * ideal + 0.6


async def test_concurrency_stays_within_the_servers_cap(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.set_rate_limit(rate=None, concurrency=2)
    emulator.fail("GET", ENV, latency=0.02)
    async with make_client(emulator, governor=RateGovernor(max_concurrency=2)) as client:
        await asyncio.gather(*(client.environments.get(emulator.environment_id) for _ in range(12)))
    assert {r.status for r in emulator.calls("GET", ENV)} == {200}


async def test_every_client_of_a_credential_shares_one_governor(emulator: Emulator) -> None:
    credentials = Credentials(key=emulator.api_key, secret=emulator.api_secret)
    a = ConfluentClient(credentials, transport=httpx.ASGITransport(app=emulator.app))
    b = ConfluentClient(credentials, transport=httpx.ASGITransport(app=emulator.app), retry=RetryPolicy())
    try:
        assert a.governor is b.governor is RateGovernor.for_key(emulator.api_key)
    finally:
        await a.aclose()
        await b.aclose()


async def test_connect_failures_surface_as_connect_failed(emulator: Emulator, make_client: ClientFactory) -> None:
    class Refuse(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

    async with make_client(emulator, transport=Refuse(), retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.01)) as c:
        with pytest.raises(ConnectFailed) as caught:
            await c.service_accounts.create("nowhere")
    assert "ConnectError" in str(caught.value)
    assert caught.value.method == "POST"
