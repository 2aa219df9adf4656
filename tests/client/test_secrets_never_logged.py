"""Runs after every other client test: nothing logged during the run holds a secret a test used."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.client.conftest import Trap


@pytest.mark.runs_last
def test_no_secret_was_ever_logged(log_trap: Trap) -> None:
    assert any("attempt 2/" in line for line in log_trap.lines), "the retry logs were not captured at all"
    assert len(log_trap.secrets) >= 3, "the tests registered no secrets to look for"
    # Say where, never what: the failure message must not print the secret it found.
    leaks = [
        f"secret #{n} ({len(secret)} chars) in log line {i}: {line.split(' ', 2)[:2]}"
        for n, secret in enumerate(sorted(log_trap.secrets))
        for i, line in enumerate(log_trap.lines)
        if secret in line
    ]
    assert leaks == []
