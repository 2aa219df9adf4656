"""Retries and pacing against the emulator's injected faults and rate limits.

Tests that say how long something took ask for `clock`: the emulator, the governor and the retry
sleeps then share one virtual time, in which only waiting takes time (never the CPU).
"""

from __future__ import annotations

import asyncio
import random
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
from ccloud_operator.confluent.governor import OUTAGE_AFTER, OUTAGE_FIRST_WAIT, OUTAGE_MAX_WAIT

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


class RefusedUntil(httpx.AsyncBaseTransport):
    """Every connection refused until `until` on `clock`, then the emulator in process."""

    def __init__(self, emulator: Emulator, clock: Clock, until: float) -> None:
        self.inner = httpx.ASGITransport(app=emulator.app)
        self.clock = clock
        self.until = until
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.clock() < self.until:
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


def operators_own(seed: int) -> tuple[RetryPolicy, Callable[[Clock], RateGovernor]]:
    """The operator's retry policy (5 attempts, 0.5 s doubling) and governor, with seeded jitter."""
    rng = random.Random(seed)
    return RetryPolicy(rand=rng.random), lambda clock: RateGovernor(clock=clock, rand=rng.random)


async def test_a_dead_confluent_hears_a_probe_at_a_time_not_every_retry(
    clock: Clock, emulator: Emulator, make_client: ClientFactory
) -> None:
    outage = emulator.fail("*", "*", status=503)
    retry, governor_on = operators_own(seed=1)
    governor = governor_on(clock)

    async def back_after_30s() -> None:
        await asyncio.sleep(30)
        emulator.remove_fault(outage.id)

    stamped = Stamped(emulator, clock)
    async with make_client(emulator, transport=stamped, retry=retry, governor=governor) as client:
        recovery = asyncio.create_task(back_after_30s())
        results = await asyncio.gather(
            *(client.environments.get(emulator.environment_id) for _ in range(40)), return_exceptions=True
        )
        await recovery
    # Without the brake each caller would spend its 5 attempts in 7.5 s: 200 requests, 40 failures.
    assert [r for r in results if isinstance(r, BaseException)] == []
    statuses = [r.status for r in emulator.requests]
    assert statuses.count(200) == 40
    # What it took to notice (the first alone, 8 at a time after), then 30 s of probes spaced 0.25
    # to 0.5 s at first, doubling up to 4 to 8 s apart: 11 at the most.
    assert statuses.count(503) <= OUTAGE_AFTER + governor.max_concurrency + 11
    # The first probe after the outage found Confluent back, and everyone went then.
    assert max(stamped.sent) <= 30 + OUTAGE_MAX_WAIT + 1
    assert not governor.snapshot().unavailable


async def test_refused_connections_count_as_an_outage(
    clock: Clock, emulator: Emulator, make_client: ClientFactory
) -> None:
    retry, governor_on = operators_own(seed=2)
    governor = governor_on(clock)
    refusing = RefusedUntil(emulator, clock, until=20)
    async with make_client(emulator, transport=refusing, retry=retry, governor=governor) as client:
        results = await asyncio.gather(
            *(client.service_accounts.create(f"sa-{n}") for n in range(40)), return_exceptions=True
        )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(emulator.calls("POST", SAS)) == 40
    # 20 s of probes after the first few: 9 at the most (0.25-0.5, 0.5-1, 1-2, 2-4, then 4-8 s apart).
    assert refusing.refused <= OUTAGE_AFTER + governor.max_concurrency + 9


async def test_a_caller_held_by_the_brake_spends_no_attempt_waiting(
    clock: Clock, emulator: Emulator, make_client: ClientFactory
) -> None:
    governor = RateGovernor(clock=clock, rand=lambda: 0.0)
    for _ in range(OUTAGE_AFTER):
        governor.release(await governor.acquire(), 503)
    stamped = Stamped(emulator, clock)
    async with make_client(emulator, transport=stamped, retry=RetryPolicy(max_attempts=1), governor=governor) as c:
        # One attempt only, and the brake holds it back: it waits for its turn to probe, then succeeds.
        await c.environments.get(emulator.environment_id)
    assert stamped.sent == [pytest.approx(OUTAGE_FIRST_WAIT)]
    assert not governor.snapshot().unavailable
