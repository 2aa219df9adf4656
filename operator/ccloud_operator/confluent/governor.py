"""Pacing for one Confluent credential, shared by every caller in the process.

Confluent limits requests per API key and says how it stands on every answer:
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (relative seconds), and
`Retry-After` on a 429. A `RateGovernor` turns those into permission to send:

- it hands out the `Remaining` of the freshest answer, minus the requests still in flight;
- when that budget is spent it lets one request out to learn the new budget before releasing more,
  at the moment about half of `Limit` should be back if the server refills steadily (a token bucket;
  the refill rate is first guessed as `Limit / Reset`, then measured from what each such look
  finds), or after the whole `Reset` once a look came too early (a fixed window); so a burst of
  thousands of calls flows under the limit instead of bouncing off it;
- after a 429 nobody sends until `Retry-After` has passed;
- when Confluent looks down (`OUTAGE_AFTER` attempts in a row answered 500, 502, 503 or 504, or
  not answered at all) it brakes: one request at a time goes out to probe, the probes spaced by
  doubling, jittered waits from `OUTAGE_FIRST_WAIT` up to `OUTAGE_MAX_WAIT` seconds (never sooner
  than a 503's `Retry-After`), and every other caller waits in the queue until some answer is not
  such a failure; so a dead Confluent hears a few requests a minute, not every retry of every caller;
- at most `max_concurrency` requests are in flight at once;
- callers are served first come, first served.

Before the first answer only one request goes out; if answers carry no rate headers the governor
only bounds concurrency. `RateGovernor.for_key(key)` is the process-wide registry: one governor per
credential key. `snapshot()` gives the state for metrics and for a RateLimited condition; the brake
logs one line when it engages and one when it lets go.

Knows nothing of HTTP clients, retries or Kubernetes: it reads headers and status codes only, and
hears from the transport when a request got no answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ccloud_operator.confluent.errors import parse_retry_after

__all__ = ["OUTAGE_AFTER", "OUTAGE_FIRST_WAIT", "OUTAGE_MAX_WAIT", "GovernorState", "RateGovernor", "Ticket"]

_DEFAULT_THROTTLE = 1.0
# Six in a row: with 30 % of answers failing at random, a run of six starts about once in 2,000
# answers (0.7 * 0.3^6) and the first probe most likely ends it; a real outage trips it in a second.
OUTAGE_AFTER = 6
OUTAGE_FIRST_WAIT = 0.5
OUTAGE_MAX_WAIT = 8.0
# What a server that is down or overloaded answers; 501 says "never for this request", not "down".
_DOWN = frozenset({500, 502, 503, 504})

log = logging.getLogger("ccloud_operator.confluent")


@dataclass(frozen=True)
class GovernorState:
    """What a governor knows, as of one moment (times are wall-clock UTC)."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    throttled_until: datetime | None
    waiting: int
    inflight: int = 0
    requests: int = 0
    rate_limited: int = 0
    failing: int = 0  # attempts in a row that were answered 500/502/503/504 or not at all
    unavailable_since: datetime | None = None  # when the outage brake engaged; None while it is off

    @property
    def throttled(self) -> bool:
        """Whether Confluent asked everyone on this credential to wait (a 429 with Retry-After)."""
        return self.throttled_until is not None

    @property
    def unavailable(self) -> bool:
        """Whether Confluent looks down, so requests go out one probe at a time (see the module)."""
        return self.unavailable_since is not None


@dataclass(frozen=True)
class Ticket:
    """Permission to send one request; hand it back with `RateGovernor.release`."""

    probe: bool
    epoch: int
    seq: int = 0
    at: float = 0.0  # when it was granted (monotonic)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class RateGovernor:
    """Paces the requests of one credential from Confluent's rate-limit headers (see the module)."""

    _registry: ClassVar[dict[str, RateGovernor]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        max_concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        name: str = "",
    ) -> None:
        """`clock` tells steady seconds. The timers run on the event loop, so an injected clock must be that
        loop's own time (a test's virtual one, say, to move time without sleeping). `rand` returns a float in
        [0, 1) for the jitter of the outage probes; `name` is the credential's key, for log lines."""
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.name = name
        self._clock = clock
        self._rand = rand
        self._limit: int | None = None
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._probe_at = 0.0
        self._zero_at: float | None = None  # when the freshest answer said nothing was left
        self._interval: float | None = None  # seconds for one request's worth to come back
        self._steady = True  # the server refills steadily (a token bucket) until shown otherwise
        self._seq = 0
        self._fresh_seq = -1
        self._throttled_until = 0.0
        self._heard = False
        self._inflight = 0
        self._probing = False
        self._requests = 0
        self._rate_limited = 0
        self._failing = 0  # answers in a row that said Confluent is down
        self._down_since: float | None = None  # when the outage brake engaged
        self._down_seq = 0  # tickets granted after this one are probes of the outage
        self._down_wait = OUTAGE_FIRST_WAIT  # the spacing of the probes, doubled by each failed one
        self._down_probe_at = 0.0  # no probe before this
        self._waiters: deque[asyncio.Future[Ticket]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._epoch = 0

    @classmethod
    def for_key(cls, key: str, **options: Any) -> RateGovernor:
        """The process-wide governor for credential `key` (`options` apply when it is created)."""
        with cls._registry_lock:
            governor = cls._registry.get(key)
            if governor is None:
                governor = cls._registry[key] = cls(**{"name": key, **options})
            return governor

    @classmethod
    def forget(cls, key: str) -> None:
        """Drop the process-wide governor of `key` (a credential nobody uses any more)."""
        with cls._registry_lock:
            cls._registry.pop(key, None)

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"RateGovernor(limit={s.limit}, remaining={s.remaining}, inflight={s.inflight}, waiting={s.waiting})"

    # -- what callers use -------------------------------------------------------------------------

    async def acquire(self) -> Ticket:
        """Wait for permission to send one request."""
        loop = self._bind()
        if not self._waiters:
            ticket = self._try_grant(self._clock())
            if ticket is not None:
                return ticket
        waiter: asyncio.Future[Ticket] = loop.create_future()
        self._waiters.append(waiter)
        self._schedule(self._clock())
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            else:
                self._drop(waiter)
            raise

    def release(
        self,
        ticket: Ticket,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        unanswered: bool = False,
    ) -> None:
        """Hand back `ticket` with what the answer said (`status`, `headers`).

        Without a status, `unanswered=True` says the request failed for want of an answer (the
        connection was refused or dropped, the answer timed out): a sign that Confluent is down.
        Without either, the request says nothing of Confluent (it was cancelled, say).
        """
        if ticket.epoch != self._epoch:
            return  # granted on an event loop that is gone
        now = self._clock()
        self._inflight -= 1
        if ticket.probe:
            self._probing = False
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        if status is not None:
            self._heard = True
            self._learn(now, ticket, status, lowered)
        if status in _DOWN or (status is None and unanswered):
            self._failed(now, ticket, parse_retry_after(lowered.get("retry-after")))
        elif status is not None:
            self._answered(now)
        self._pump()

    def throttled_for(self) -> float:
        """Seconds until Confluent's last Retry-After has passed (0 when not throttled)."""
        return max(0.0, self._throttled_until - self._clock())

    def snapshot(self) -> GovernorState:
        """The current state, for metrics and for a RateLimited condition."""
        now_mono, now = self._clock(), datetime.now(UTC)

        def wall(at: float | None) -> datetime | None:
            return None if at is None or at <= now_mono else now + timedelta(seconds=at - now_mono)

        down = self._down_since
        return GovernorState(
            limit=self._limit,
            remaining=self._remaining,
            reset_at=wall(self._reset_at),
            throttled_until=wall(self._throttled_until),
            waiting=sum(1 for w in self._waiters if not w.done()),
            inflight=self._inflight,
            requests=self._requests,
            rate_limited=self._rate_limited,
            failing=self._failing,
            unavailable_since=None if down is None else now - timedelta(seconds=now_mono - down),
        )

    # -- the bookkeeping --------------------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Futures and timers belong to one loop; a new loop (a new test, a restart) starts the
            # queue afresh but keeps what was learned about the limits.
            self._loop, self._epoch = loop, self._epoch + 1
            self._waiters.clear()
            self._timer = None
            self._inflight, self._probing = 0, False
            # The brake's probes were this loop's requests: the new one starts by sending again.
            self._failing, self._down_since = 0, None
        return loop

    def _try_grant(self, now: float) -> Ticket | None:
        if now < self._throttled_until or self._inflight >= self.max_concurrency:
            return None
        if self._down_since is not None and (self._inflight or now < self._down_probe_at):
            return None  # Confluent looks down: one probe at a time, and not before its wait is over
        probe = False
        if self._remaining is None:
            if not self._heard:
                # Nothing is known yet: send one request alone and learn the budget from its answer.
                if self._inflight or self._probing:
                    return None
                probe = True
        elif self._remaining > 0:
            self._remaining -= 1
        elif self._probing or now < self._probe_at:
            return None
        elif self._inflight and (self._reset_at is None or now < self._reset_at):
            return None  # answers on their way will say more than a guess
        else:
            # Some budget should be back, but how much is unknown: one request finds out for the rest.
            probe = True
        self._probing = self._probing or probe
        self._inflight += 1
        self._requests += 1
        self._seq += 1
        return Ticket(probe=probe, epoch=self._epoch, seq=self._seq, at=now)

    def _learn(self, now: float, ticket: Ticket, status: int, lowered: Mapping[str, str]) -> None:
        limit = _number(lowered, "x-ratelimit-limit")
        remaining = _number(lowered, "x-ratelimit-remaining")
        reset = _number(lowered, "x-ratelimit-reset")
        guessed = ticket.probe and self._zero_at is not None and self._steady
        if remaining is not None:
            left = int(remaining)
            # Requests still in flight may spend from the same budget before their answers arrive.
            estimate = max(0, left - self._inflight)
            if ticket.seq > self._fresh_seq or self._remaining is None:
                self._fresh_seq = ticket.seq
                self._remaining = estimate
                self._limit = int(limit) if limit is not None else self._limit
                self._reset_at = now + reset if reset is not None else self._reset_at
                # The server counted each request somewhere between its grant and its answer.
                counted_at = (ticket.at + now) / 2
                if guessed and status != 429 and self._zero_at is not None:
                    self._measure(counted_at - self._zero_at, left + 1)
                if left == 0 and status != 429:
                    self._zero_at = counted_at
                    self._probe_at = self._next_look(now, reset or 0.0)
            else:
                # An older answer overtaken by newer ones may only lower the budget, never raise it.
                self._remaining = min(self._remaining, estimate)
        elif ticket.probe and status != 429:
            # This endpoint reports no budget: stop pacing by a stale one, bound concurrency only.
            self._remaining, self._reset_at = None, None
        if status == 429:
            self._rate_limited += 1
            if guessed:
                self._steady = False  # a look was refused: this budget comes back all at once
            wait = parse_retry_after(lowered.get("retry-after"))
            wait = wait if wait is not None else reset if reset is not None else _DEFAULT_THROTTLE
            self._throttled_until = max(self._throttled_until, now + wait)
            # Retry-After is the server's own word on when to try again: look then, not at Reset.
            self._remaining = 0
            self._probe_at = self._reset_at = self._throttled_until

    def _failed(self, now: float, ticket: Ticket, retry_after: float | None) -> None:
        """An attempt was answered as a server that is down answers, or not at all."""
        self._failing += 1
        if self._down_since is None:
            if self._failing < OUTAGE_AFTER:
                return
            self._down_since, self._down_seq, self._down_wait = now, self._seq, OUTAGE_FIRST_WAIT
            log.warning(
                "Confluent looks down for credential %s: %d attempts in a row failed; "
                "sending one request at a time until one is answered",
                self.name or "-",
                self._failing,
            )
        elif ticket.seq > self._down_seq:
            self._down_wait = min(OUTAGE_MAX_WAIT, 2 * self._down_wait)  # a probe failed
        else:
            # Sent before the brake engaged: it says nothing new, so the next probe keeps its time.
            self._down_probe_at = max(self._down_probe_at, now + (retry_after or 0.0))
            return
        # Between half and all of the wait, so that many operators on one credential spread out.
        wait = self._down_wait * (1 - self._rand() / 2)
        self._down_probe_at = now + max(wait, retry_after or 0.0)

    def _answered(self, now: float) -> None:
        """An attempt got an answer that is not a failure of the server (2xx, 4xx, a 429 ...)."""
        self._failing = 0
        if self._down_since is not None:
            log.info(
                "Confluent answers credential %s again after %.0fs; sending as the rate limit allows",
                self.name or "-",
                now - self._down_since,
            )
            self._down_since = None

    def _measure(self, elapsed: float, back: int) -> None:
        """Learn the refill rate from a look that found `back` requests' worth after `elapsed`."""
        if elapsed <= 0 or not self._limit:
            return
        measured = elapsed / back
        if back < self._limit:
            # Still filling, so this is the rate; smoothed, and let up slowly, so that one slow
            # answer (a busy machine) does not stall everyone.
            old = self._interval or measured
            self._interval = (old + min(measured, 1.5 * old)) / 2
        else:
            # Full: the rate is at least this, maybe far more; halving finds out in a look or two,
            # and the half-budget margin of `_next_look` keeps the look from coming too early.
            self._interval = min(self._interval or measured, measured) / 2

    def _next_look(self, now: float, reset: float) -> float:
        """When to look again after the budget ran out."""
        if not self._steady or not self._limit or self._zero_at is None:
            return now + reset
        if self._interval is None:
            self._interval = reset / self._limit
        # Wait for about half the budget: the margin absorbs a rate measured a little high.
        worth = min(self._limit, max(2, math.ceil(self._limit / 2)))
        return self._zero_at + worth * self._interval

    def _pump(self) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        now = self._clock()
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            ticket = self._try_grant(now)
            if ticket is None:
                break
            self._waiters.popleft()
            waiter.set_result(ticket)
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        """Wake the queue when time alone will change the answer (a Retry-After, an outage probe's wait, a reset)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters or self._loop is None:
            return
        at: float | None = None
        if self._throttled_until > now:
            at = self._throttled_until
        elif self._down_since is not None and (self._inflight or self._down_probe_at > now):
            at = None if self._inflight else self._down_probe_at  # an answer on its way pumps the queue
        elif self._remaining == 0 and not self._probing and self._probe_at > now:
            at = self._probe_at
        elif self._remaining == 0 and not self._probing and self._inflight and self._reset_at is not None:
            at = self._reset_at if self._reset_at > now else None
        if at is not None:
            self._timer = self._loop.call_later(at - now, self._pump)

    def _drop(self, waiter: asyncio.Future[Ticket]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass
        self._pump()
