"""Fixtures for the client tests: the emulator in process, a client on it, and a log trap.

Every log record of the whole run (root logger, DEBUG) is kept, and every secret a test uses is
registered with `remember`; `test_secrets_never_logged` runs last and finds none of them in the logs.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from ccloud_operator.confluent import ConfluentClient, Credentials, RateGovernor, RetryPolicy

if TYPE_CHECKING:
    from ccloud_emulator import Emulator

EMULATOR_URL = "http://emulator.test"
LAST = "runs_last"


class Trap(logging.Handler):
    """Keeps every record as the text a log file would hold, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.secrets: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        self.lines.append(text)


_TRAP = Trap()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LAST}: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(LAST) is not None)


@pytest.fixture(scope="session", autouse=True)
def log_trap() -> Iterator[Trap]:
    root = logging.getLogger()
    level = root.level
    root.addHandler(_TRAP)
    root.setLevel(logging.DEBUG)
    yield _TRAP
    root.removeHandler(_TRAP)
    root.setLevel(level)


@pytest.fixture
def remember(log_trap: Trap) -> Callable[[str], str]:
    """Register a secret the test uses, so the final log check looks for it; returns it."""

    def add(secret: str) -> str:
        log_trap.secrets.add(secret)
        return secret

    return add


@pytest.fixture
def emulator(remember: Callable[[str], str]) -> Emulator:
    from ccloud_emulator import Emulator

    emu = Emulator()
    remember(emu.api_secret)
    # The Authorization header carries the pair base64-encoded: that must not show up either.
    remember(base64.b64encode(f"{emu.api_key}:{emu.api_secret}".encode()).decode())
    return emu


def fast_retry(max_attempts: int = 4) -> RetryPolicy:
    """The default policy's shape with waits short enough for a test."""
    return RetryPolicy(max_attempts=max_attempts, base=0.01, cap=2.0)


def _client(
    emulator: Emulator,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    governor: RateGovernor | None = None,
    page_size: int = 3,
) -> ConfluentClient:
    return ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url=EMULATOR_URL,
        transport=transport or httpx.ASGITransport(app=emulator.app),
        retry=retry or fast_retry(),
        governor=governor or RateGovernor(),
        page_size=page_size,
    )


ClientFactory = Callable[..., ConfluentClient]


@pytest.fixture
def make_client() -> ClientFactory:
    """Build a client on an emulator: `make_client(emu, transport=…, retry=…, governor=…)`."""
    return _client


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[ConfluentClient]:
    async with _client(emulator) as c:
        yield c
