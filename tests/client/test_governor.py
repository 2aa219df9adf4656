"""The rate governor on its own: it hands out permission to send from what answers said.

Tests about when a wait ends ask for `clock`: they run in virtual time, so they can say exactly
how long the governor held a request back, however busy the machine is.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

import pytest

from ccloud_operator.confluent import RateGovernor
from ccloud_operator.confluent.governor import OUTAGE_AFTER, OUTAGE_FIRST_WAIT, Ticket

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


# -- the outage brake ---------------------------------------------------------------------------

Answer = tuple[int | None, dict[str, str]]  # what the server said: a status (None: no answer), headers
Sent = list[tuple[float, int | None]]  # when each request left, and its status


async def keep_sending(governor: RateGovernor, clock: Clock, answer: Callable[[], Answer], sent: Sent) -> None:
    """One caller, sending as the transport does (a 0.05 s round trip, 0.1 s before a retry) until an
    answer that is not a 5xx; notes each request in `sent`."""
    while True:
        ticket = await governor.acquire()
        left, mine = clock(), len(sent)
        sent.append((left, None))
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            governor.release(ticket)
            raise
        status, headers = answer()
        sent[mine] = (left, status)
        if status is None:
            governor.release(ticket, unanswered=True)
        else:
            governor.release(ticket, status, headers)
            if status < 500:
                return
        await asyncio.sleep(0.1)


async def run_for(seconds: float, callers: list[Coroutine[None, None, None]]) -> None:
    tasks = [asyncio.create_task(c) for c in callers]
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def down() -> Answer:
    return 503, {}


def no_rand() -> float:
    return 0.0


async def test_a_dead_server_hears_one_probe_at_a_time_at_doubling_waits(clock: Clock) -> None:
    governor = RateGovernor(clock=clock, rand=no_rand)
    sent: Sent = []
    await run_for(60.0, [keep_sending(governor, clock, down, sent) for _ in range(40)])
    state = governor.snapshot()
    assert state.unavailable and state.failing == len(sent)
    times = [t for t, _ in sent]
    # Before the brake: the first request alone, then 8 at a time as answers come; the sixth 503
    # (at 0.1 s) engages it, and from then on each probe waits for the one before to be answered
    # (0.05 s) and then 0.5, 1, 2 ... up to 8 s.
    opening = [t for t in times if t <= 0.1]
    probes = times[len(opening) :]
    assert len(opening) < OUTAGE_AFTER + governor.max_concurrency
    gaps = [round(later - earlier, 2) for earlier, later in zip([0.1, *probes], probes, strict=False)]
    assert gaps == [0.5, 1.05, 2.05, 4.05, 8.05, 8.05, 8.05, 8.05, 8.05, 8.05]
    assert len(sent) == 23, "40 callers retrying every 0.1 s would have sent thousands"


async def test_everyone_waiting_goes_once_a_probe_is_answered(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    governor = RateGovernor(clock=clock, rand=no_rand, name="KEYOUTAGE0000001")

    def back_at_20s() -> Answer:
        return (200, {}) if clock() >= 20.0 else (503, {})

    sent: Sent = []
    with caplog.at_level("INFO", logger="ccloud_operator.confluent"):
        await run_for(60.0, [keep_sending(governor, clock, back_at_20s, sent) for _ in range(40)])
    successes = [t for t, status in sent if status == 200]
    assert len(successes) == 40
    # The probe at 15.8 s still failed; the one at 23.85 s found the server back, and everyone else
    # followed, max_concurrency at a time, one round trip after another.
    assert min(successes) == pytest.approx(23.85)
    assert max(successes) - min(successes) <= 0.05 * (40 / governor.max_concurrency + 1)
    state = governor.snapshot()
    assert not state.unavailable and state.failing == 0 and state.unavailable_since is None
    brake = [(r.levelname, r.getMessage()) for r in caplog.records if "Confluent" in r.getMessage()]
    assert [level for level, _ in brake] == ["WARNING", "INFO"]
    assert "looks down for credential KEYOUTAGE0000001" in brake[0][1]
    assert "answers credential KEYOUTAGE0000001 again after 24s" in brake[1][1]


async def test_thirty_percent_of_random_5xx_hardly_ever_brake(clock: Clock) -> None:
    rng = random.Random(12)
    governor = RateGovernor(clock=clock, rand=rng.random)

    def flaky() -> Answer:
        return (503, {}) if rng.random() < 0.3 else (200, {})

    async def caller(sent: Sent) -> None:
        for _ in range(50):
            await keep_sending(governor, clock, flaky, sent)

    sent: Sent = []
    started = clock()
    await run_for(600.0, [caller(sent) for _ in range(16)])
    elapsed = clock() - started
    successes = sum(status == 200 for _, status in sent)
    assert successes == 16 * 50
    assert len(sent) / successes < 1.5  # 1 / 0.7 = 1.43: the failures themselves, nothing more
    # 800 successes, 8 at a time, 0.05 s a round trip and 0.1 s after a failure: about 7 s unbraked.
    assert elapsed < 9.0


@pytest.mark.parametrize(
    ("answers", "engaged"),
    [
        ([(503, {})] * 6, True),
        ([(500, {}), (502, {}), (503, {}), (504, {}), (500, {}), (502, {})], True),
        ([(None, {})] * 6, True),
        ([(503, {})] * 5, False),
        ([(503, {})] * 5 + [(404, {})] + [(503, {})] * 5, False),
        ([(501, {})] * 10, False),
        ([(503, {})] * 6 + [(429, {"Retry-After": "1"})], False),
    ],
    ids=[
        "six 503s in a row are an outage",
        "any mix of 500, 502, 503, 504 is",
        "six requests without an answer are",
        "five are not",
        "an answer in between starts the count again, a 404 too",
        "501 is about the request, not the server",
        "a 429 is an answer: the server is there",
    ],
)
async def test_what_counts_as_an_outage(answers: list[Answer], engaged: bool) -> None:
    governor = RateGovernor()
    for status, headers in answers:
        ticket = await governor.acquire()
        if status is None:
            governor.release(ticket, unanswered=True)
        else:
            governor.release(ticket, status, headers)
    assert governor.snapshot().unavailable is engaged


async def test_a_request_given_up_on_says_nothing_of_the_server() -> None:
    governor = RateGovernor()
    for _ in range(10):
        governor.release(await governor.acquire())  # cancelled, say: no answer was waited for
    assert governor.snapshot().failing == 0


async def test_a_probe_waits_at_least_as_long_as_a_503s_retry_after(clock: Clock) -> None:
    governor = RateGovernor(clock=clock, rand=no_rand)
    for _ in range(OUTAGE_AFTER):
        governor.release(await governor.acquire(), 503)
    started = clock()
    probe = await governor.acquire()
    assert clock() - started == pytest.approx(OUTAGE_FIRST_WAIT)
    governor.release(probe, 503, {"Retry-After": "5"})
    started = clock()
    governor.release(await governor.acquire(), 200)
    assert clock() - started == pytest.approx(5.0)  # not the 1 s the doubling alone would wait


async def test_while_a_probe_is_out_nobody_else_goes(clock: Clock) -> None:
    governor = RateGovernor(clock=clock, rand=no_rand)
    first = await governor.acquire()
    governor.release(first, 200, budget(remaining=100, reset=60, limit=100))
    for _ in range(OUTAGE_AFTER):
        governor.release(await governor.acquire(), 503, budget(remaining=90, reset=60, limit=100))
    assert governor.snapshot().unavailable_since is not None
    tasks = start(governor, 5)
    await asyncio.sleep(OUTAGE_FIRST_WAIT)
    await settle()
    assert granted(tasks) == 1  # budget to spare, yet one probe only
    await asyncio.sleep(30)
    assert granted(tasks) == 1  # however long it takes to answer
    governor.release(tasks[0].result(), 200, budget(remaining=80, reset=60, limit=100))
    await settle()
    assert granted(tasks) == 5
