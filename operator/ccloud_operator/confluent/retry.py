"""When to send a failed request again, and how long to wait first: two pure functions.

The shape is go-retryablehttp's (`should_retry`, `delay`), plus one rule of our own: a request that
may have changed something on the server (POST) is sent again only when it cannot have reached it
(the connection was never made) or when the server said it did nothing (429). Everything else is
left to the caller, which re-observes before acting again.

Knows nothing of HTTP clients, clocks or logging; the transport runs the loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ccloud_operator.confluent.errors import (
    ConfluentError,
    ConnectFailed,
    RateLimited,
    ServerError,
    TransportError,
)

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy"]

# PATCH is here because Confluent's PATCH sets fields: sending the same one twice ends the same.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, never sooner than the server's Retry-After.

    `max_attempts` counts the first try. `rand` returns a float in [0, 1); inject one to make
    `delay` deterministic.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base <= 0 or self.cap < self.base:
            raise ValueError(f"need 0 < base <= cap, got base={self.base} cap={self.cap}")

    def should_retry(self, method: str, error: ConfluentError) -> bool:
        """Whether a request with `method` that failed with `error` may be sent again."""
        idempotent = method.upper() in IDEMPOTENT_METHODS
        if isinstance(error, ConnectFailed):
            return True
        if isinstance(error, TransportError):
            return idempotent
        if isinstance(error, RateLimited):
            # A wait longer than the cap is the caller's to schedule, not ours to sleep through.
            return error.retry_after is None or error.retry_after <= self.cap
        if isinstance(error, ServerError):
            return idempotent and error.status != 501
        return False

    def backoff(self, attempt: int) -> float:
        """The upper bound of the jittered wait after failed attempt number `attempt` (1-based)."""
        exponent = min(max(attempt, 1) - 1, 62)
        return min(self.cap, self.base * 2.0**exponent)

    def delay(self, attempt: int, error: ConfluentError) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
        jittered = self.rand() * self.backoff(attempt)
        floor = error.retry_after if isinstance(error, RateLimited) and error.retry_after else 0.0
        return max(floor, jittered)
