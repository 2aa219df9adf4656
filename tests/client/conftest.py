"""Fixtures for the client tests: the emulator in process, a client on it, a log trap, virtual time.

Every log record of the whole run (root logger, DEBUG) is kept, and every secret a test uses is
registered with `remember`; `test_secrets_never_logged` runs last and finds none of them in the logs.

A test that asks for `clock` runs on a `VirtualTimeLoop`: sleeps and timers take no real time and
end exactly when due, so a test can say how long something waited without racing a busy machine.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import selectors
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import httpx
import pytest

from ccloud_operator.confluent import ConfluentClient, Credentials, RateGovernor, RetryPolicy

if TYPE_CHECKING:
    from ccloud_emulator import Emulator

EMULATOR_URL = "http://emulator.test"
LAST = "runs_last"

Clock = Callable[[], float]


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; when nothing is ready, moves the loop's clock to its next timer instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return super().select(None)  # no timer at all: only another thread can wake the loop
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock starts at 0 and moves only while every task waits for a timer.

    For in-process tests only (the emulator through ASGITransport): a wait on a socket or a thread
    would look idle to it, and its clock would jump past timers that should still be pending.
    """

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


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


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """A test that asks for `clock` runs on virtual time; every other one on asyncio's own loop."""
    if "clock" in getattr(item, "fixturenames", ()):
        return {"virtual time": VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
async def clock() -> Clock:
    """The test loop's virtual time (asking for it is what puts the test on a `VirtualTimeLoop`)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    return loop.time


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


def _clock_of(request: pytest.FixtureRequest) -> Clock | None:
    """The test's virtual clock, when it asked for one."""
    clock: Clock | None = request.getfixturevalue("clock") if "clock" in request.fixturenames else None
    return clock


@pytest.fixture
def emulator(request: pytest.FixtureRequest, remember: Callable[[str], str]) -> Emulator:
    """The emulator with its default key; in a test that asks for `clock`, on that virtual time."""
    from ccloud_emulator import Emulator

    emu = Emulator(clock=_clock_of(request))
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
    clock: Clock = time.monotonic,
) -> ConfluentClient:
    return ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url=EMULATOR_URL,
        transport=transport or httpx.ASGITransport(app=emulator.app),
        retry=retry or fast_retry(),
        governor=governor or RateGovernor(clock=clock),
        page_size=page_size,
    )


ClientFactory = Callable[..., ConfluentClient]


@pytest.fixture
def make_client(request: pytest.FixtureRequest) -> ClientFactory:
    """Build a client on an emulator: `make_client(emu, transport=…, retry=…, governor=…)`.

    In a test that asks for `clock`, the default governor keeps that virtual time.
    """
    clock = _clock_of(request)
    return _client if clock is None else functools.partial(_client, clock=clock)


@pytest.fixture
async def client(emulator: Emulator, make_client: ClientFactory) -> AsyncIterator[ConfluentClient]:
    async with make_client(emulator) as c:
        yield c
