"""Reads that many objects need, made once: single-flight, short-lived, per credential and scope.

The expanded connector list of a cluster, or a cluster read for an API key's templates, is the same
for every object that asks within a few seconds: the first caller loads it, the others await that
load, and everyone within `ttl` gets the same answer. A write to the scope (`invalidate`) makes the
next caller load afresh; a caller that needs a read no older than a moment (`newer_than`, say when its
own reconcile began) shares any load that started after it, in flight or done. A failed load is not cached. Entries past their time are dropped as new
ones are made, so memory follows what is in use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["SharedReads"]

T = TypeVar("T")


@dataclass
class _Entry:
    future: asyncio.Future[Any]
    expires: float
    started: float


class SharedReads:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, Hashable], _Entry] = {}
        self.loads = 0  # how many loads ran (for tests and metrics)

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        """The clock `newer_than` is measured on."""
        return self._clock()

    async def get(
        self, credential: str, scope: Hashable, load: Callable[[], Awaitable[T]], newer_than: float | None = None
    ) -> T:
        """The value of `scope` for `credential`: shared with concurrent callers, cached for `ttl`; with
        `newer_than`, only from a load that started at that moment or later."""
        key = (credential, scope)
        while (
            (entry := self._entries.get(key)) is not None
            and (not entry.future.done() or entry.expires > self._clock())
            and (newer_than is None or entry.started >= newer_than)
        ):
            try:
                result: T = await asyncio.shield(entry.future)
                return result
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if entry.future.cancelled() and (task is None or not task.cancelling()):
                    continue  # the loader was cancelled, not us: load it ourselves
                raise
        self._sweep(self._clock())
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._entries[key] = _Entry(future, float("inf"), self._clock())
        self.loads += 1
        try:
            value = await load()
        except BaseException as exc:
            if (current := self._entries.get(key)) is not None and current.future is future:
                del self._entries[key]
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # marked retrieved: the waiters re-raise it, nobody else needs it
            raise
        future.set_result(value)
        if (current := self._entries.get(key)) is not None and current.future is future:
            current.expires = self._clock() + self.ttl
        return value

    def invalidate(self, credential: str, scope: Hashable) -> None:
        """The scope changed (we wrote to it): the next caller loads afresh."""
        entry = self._entries.get((credential, scope))
        if entry is not None and entry.future.done():
            del self._entries[(credential, scope)]

    def forget_credential(self, credential: str) -> None:
        for key in [k for k in self._entries if k[0] == credential]:
            del self._entries[key]

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.future.done() and e.expires <= now]:
            del self._entries[key]
