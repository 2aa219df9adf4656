"""The rate governor on its own: it hands out permission to send from what answers said.

Tests about when a wait ends ask for `clock`: they run in virtual time, so they can say exactly
how long the governor held a request back, however busy the machine is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from ccloud_operator.confluent import RateGovernor
from ccloud_operator.confluent.governor import Ticket

if TYPE_CHECKING:
    from tests.client.conftest import Clock


def budget(remaining: int, reset: float, limit: int = 5) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def start(governor: RateGovernor, n: int) -> list[asyncio.Task[Ticket]]:
    return [asyncio.create_task(governor.acquire()) for _ in range(n)]


def granted(tasks: list[asyncio.Task[Ticket]]) -> int:
    return sum(t.done() for t in tasks)


async def test_the_first_request_goes_alone_until_its_answer_says_the_budget() -> None:
    governor = RateGovernor()
    tasks = start(governor, 4)
    await settle()
    assert granted(tasks) == 1
    governor.release(tasks[0].result(), 200, budget(remaining=2, reset=10))
    await settle()
    assert granted(tasks) == 3
    assert governor.snapshot().remaining == 0
    for t in tasks:
        t.cancel()


async def test_requests_in_flight_are_counted_against_the_budget() -> None:
    governor = RateGovernor()
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=3, reset=10))
    held = [await governor.acquire() for _ in range(3)]
    # An answer saying 2 left arrives while two others are still out: nothing is left to give.
    governor.release(held[0], 200, budget(remaining=2, reset=10))
    waiting = start(governor, 1)
    await settle()
    assert granted(waiting) == 0
    waiting[0].cancel()


async def test_after_the_reset_one_request_learns_the_new_budget_for_the_rest(clock: Clock) -> None:
    governor = RateGovernor(clock=clock)
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=0, reset=5))
    tasks = start(governor, 3)
    await settle()
    assert granted(tasks) == 0
    await asyncio.sleep(5)
    await settle()
    assert granted(tasks) == 1
    assert tasks[0].result().probe
    governor.release(tasks[0].result(), 200, budget(remaining=4, reset=1))
    await settle()
    assert granted(tasks) == 3


async def test_a_spent_budget_is_looked_at_again_when_half_of_it_should_be_back(clock: Clock) -> None:
    governor = RateGovernor(clock=clock)
    first = await governor.acquire()
    # 5 per window, 0 left, full again in 0.5 s: a steady refill brings 3 of 5 back in 0.3 s.
    governor.release(first, 200, budget(remaining=0, reset=0.5, limit=5))
    started = clock()
    probe = await governor.acquire()
    assert probe.probe
    assert clock() - started == pytest.approx(0.3)
    governor.release(probe, 200, budget(remaining=2, reset=0.5, limit=5))
    assert governor.snapshot().remaining == 2


async def test_when_an_early_look_is_refused_the_governor_waits_for_whole_windows(clock: Clock) -> None:
    governor = RateGovernor(clock=clock)
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=0, reset=0.05, limit=5))
    probe = await governor.acquire()
    # A fixed window: nothing comes back before the window ends.
    governor.release(probe, 429, {**budget(remaining=0, reset=0.2, limit=5), "Retry-After": "0.01"})
    started = clock()
    after_throttle = await governor.acquire()
    assert clock() - started == pytest.approx(0.01)
    governor.release(after_throttle, 200, budget(remaining=0, reset=0.2, limit=5))
    started = clock()
    governor.release(await governor.acquire(), 200, budget(remaining=4, reset=0.2, limit=5))
    # The whole window, where a steady refill would have looked after 3 of its 5 (0.12 s).
    assert clock() - started == pytest.approx(0.2)


async def test_an_overtaken_answer_cannot_raise_the_budget() -> None:
    governor = RateGovernor()
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=10, reset=10, limit=10))
    older, newer = await governor.acquire(), await governor.acquire()
    governor.release(newer, 200, budget(remaining=2, reset=10, limit=10))
    # The older request was counted before the newer one, so its answer says more was left.
    governor.release(older, 200, budget(remaining=3, reset=10, limit=10))
    assert governor.snapshot().remaining == 1


async def test_a_429_stops_everyone_until_retry_after(clock: Clock) -> None:
    governor = RateGovernor(clock=clock)
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=5, reset=1))
    second = await governor.acquire()
    governor.release(second, 429, {**budget(remaining=0, reset=1), "Retry-After": "0.1"})
    state = governor.snapshot()
    assert state.throttled
    assert state.rate_limited == 1
    assert governor.throttled_for() == pytest.approx(0.1)
    started = clock()
    ticket = await governor.acquire()
    assert clock() - started == pytest.approx(0.1)
    assert not governor.snapshot().throttled
    governor.release(ticket, 200, budget(remaining=4, reset=1))


async def test_concurrency_is_bounded_even_with_budget_to_spare() -> None:
    governor = RateGovernor(max_concurrency=2)
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=100, reset=60, limit=100))
    tasks = start(governor, 5)
    await settle()
    assert granted(tasks) == 2
    governor.release(tasks[0].result(), 200, budget(remaining=97, reset=60, limit=100))
    await settle()
    assert granted(tasks) == 3
    assert governor.snapshot().waiting == 2
    for t in tasks:
        t.cancel()


async def test_without_rate_headers_only_concurrency_is_bounded() -> None:
    governor = RateGovernor(max_concurrency=3)
    first = await governor.acquire()
    governor.release(first, 200, {})
    tasks = start(governor, 4)
    await settle()
    assert granted(tasks) == 3
    assert governor.snapshot().remaining is None
    for t in tasks:
        t.cancel()


async def test_callers_are_served_first_come_first_served() -> None:
    governor = RateGovernor()
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=0, reset=0.01))
    order: list[int] = []

    async def caller(n: int) -> None:
        ticket = await governor.acquire()
        order.append(n)
        # Each answer leaves room for exactly one more, so the queue moves one caller at a time.
        governor.release(ticket, 200, budget(remaining=1, reset=0.01))

    await asyncio.gather(*(caller(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    governor = RateGovernor(max_concurrency=1)
    held = await governor.acquire()
    tasks = start(governor, 2)
    await settle()
    tasks[0].cancel()
    await settle()
    governor.release(held, 200, {})
    await settle()
    assert tasks[1].done()
    assert governor.snapshot().inflight == 1


def test_one_governor_per_credential_for_the_whole_process() -> None:
    a = RateGovernor.for_key("KEY-A-GOVERNOR-TEST")
    assert RateGovernor.for_key("KEY-A-GOVERNOR-TEST") is a
    assert RateGovernor.for_key("KEY-B-GOVERNOR-TEST") is not a


@pytest.mark.parametrize("concurrency", [0, -1], ids=["zero", "negative"])
def test_a_governor_lets_at_least_one_request_out(concurrency: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateGovernor(max_concurrency=concurrency)
