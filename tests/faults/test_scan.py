"""The secret scan every fault test ends with finds a value, raw or base64, wherever it sits in a text."""

from __future__ import annotations

import base64

import pytest

from .conftest import leaks, random_secret

pytestmark = pytest.mark.e2e  # beside the suite it serves; it needs nothing but itself


def test_the_scan_finds_a_secret_raw_or_base64_inside_longer_runs_and_nothing_else() -> None:
    planted, other, never = random_secret(64), random_secret(40), random_secret(64)
    encoded = base64.b64encode(other.encode()).decode()
    noise = "2026-12-01 INFO [ApiKey t/k] GET /iam/v2/api-keys/ABCDEFGH12345678 200 in 4ms\n" * 1000
    evidence = {
        "log": f"{noise}password=x{planted}y\n{noise}",
        "events": f"KeyReplaced data={encoded}==",
        "statuses": noise + random_secret(200),
    }
    assert leaks(evidence, {planted, other, never}) == {"log": 1, "events": 1}
    assert leaks({"log": noise}, {planted}) == {}
