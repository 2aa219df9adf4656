"""The retry policy as pure functions: what is retried, and how long the wait is."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccloud_operator.confluent import (
    Conflict,
    ConfluentError,
    ConnectFailed,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)

POLICY = RetryPolicy(max_attempts=5, base=0.5, cap=30.0)


def rate_limited(after: float | None) -> RateLimited:
    return RateLimited(429, retry_after=after)


@pytest.mark.parametrize(
    ("method", "error", "expected"),
    [
        ("GET", rate_limited(1), True),
        ("POST", rate_limited(1), True),
        ("POST", rate_limited(None), True),
        ("GET", rate_limited(300), False),
        ("GET", ServerError(503), True),
        ("PUT", ServerError(500), True),
        ("DELETE", ServerError(502), True),
        ("PATCH", ServerError(504), True),
        ("GET", ServerError(501), False),
        ("POST", ServerError(503), False),
        ("GET", TransportError("read timeout"), True),
        ("PUT", TransportError("connection reset"), True),
        ("POST", TransportError("connection reset"), False),
        ("POST", ConnectFailed("connection refused"), True),
        ("GET", ConnectFailed("connection refused"), True),
        ("GET", NotFound(404), False),
        ("POST", Conflict(409), False),
        ("POST", ValidationFailed(422), False),
        ("GET", Unauthorized(401), False),
    ],
    ids=[
        "429 on a read",
        "429 on a create: the server did nothing",
        "429 without Retry-After",
        "429 asking for longer than the cap is the caller's to schedule",
        "503 on a read",
        "500 on a full-config PUT",
        "502 on a delete",
        "504 on a PATCH (Confluent's PATCH sets fields)",
        "501 means never",
        "503 on a create may have created it",
        "read timeout on a read",
        "reset on a PUT",
        "reset on a create may have created it",
        "refused connect on a create never reached the server",
        "refused connect on a read",
        "404 is an answer",
        "409 is an answer",
        "422 is an answer",
        "401 is an answer",
    ],
)
def test_should_retry(method: str, error: ConfluentError, expected: bool) -> None:
    assert POLICY.should_retry(method, error) is expected


unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
attempts = st.integers(min_value=1, max_value=200)
bases = st.floats(min_value=0.001, max_value=5.0)
caps = st.floats(min_value=5.0, max_value=120.0)


@given(attempt=attempts, u=unit, base=bases, cap=caps)
def test_delay_stays_between_zero_and_the_capped_exponential(attempt: int, u: float, base: float, cap: float) -> None:
    policy = RetryPolicy(base=base, cap=cap, rand=lambda: u)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = policy.delay(attempt, ServerError(503))
    assert 0.0 <= delay <= ceiling <= cap


@given(attempt=attempts, u=unit, after=st.floats(min_value=0.0, max_value=600.0))
def test_delay_is_never_sooner_than_retry_after(attempt: int, u: float, after: float) -> None:
    policy = RetryPolicy(base=0.5, cap=30.0, rand=lambda: u)
    delay = policy.delay(attempt, rate_limited(after))
    assert delay >= after
    assert delay <= max(after, policy.backoff(attempt))


@given(attempt=st.integers(min_value=1, max_value=8), seed=st.integers(min_value=0, max_value=2**32))
def test_jitter_spreads_over_the_whole_window(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base=0.5, cap=30.0, rand=random.Random(seed).random)
    ceiling = policy.backoff(attempt)
    delays = [policy.delay(attempt, ServerError(503)) / ceiling for _ in range(400)]
    # Full jitter is uniform on [0, ceiling): both ends are reached and the mean sits in the middle.
    assert min(delays) < 0.05
    assert max(delays) > 0.95
    assert 0.4 < statistics.fmean(delays) < 0.6
    assert len({round(d, 2) for d in delays}) > 60


@given(u=unit)
def test_backoff_doubles_until_the_cap(u: float) -> None:
    policy = RetryPolicy(base=0.5, cap=30.0, rand=lambda: u)
    bounds = [policy.backoff(n) for n in range(1, 10)]
    assert bounds == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base": 0.0}, {"base": 2.0, "cap": 1.0}],
    ids=["no attempt at all", "zero base", "cap below base"],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
