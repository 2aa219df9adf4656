"""One delay queue and a fixed set of workers for every object of every kind.

A key is due at a time; workers take due keys in order of that time, at most `workers` at once,
and never the same key twice at once. `wake` makes a key due now (or keeps an earlier time);
`schedule` sets when it is next due, after a reconcile said so; a wake that arrives while its key is
being processed runs the key again right after. Memory is one entry per live key: `forget` drops it.

Knows nothing of kopf, Kubernetes or Confluent: keys are opaque, time comes from `clock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        handler: Callable[[K], Awaitable[None]],
        *,
        workers: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._handler = handler
        self._workers = workers
        self._clock = clock
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._busy: set[K] = set()
        self._rerun: set[K] = set()
        self._later: dict[K, float] = {}  # due times asked for while a key was being processed
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._paused = False

    def __len__(self) -> int:
        return len(self._due) + len(self._busy - self._due.keys())

    @property
    def busy(self) -> int:
        return len(self._busy)

    @property
    def waiting(self) -> int:
        """Keys due now that no worker has taken yet: the queue's depth."""
        now = self._clock()
        return sum(1 for key, at in self._due.items() if at <= now and key not in self._busy)

    def due_in(self, key: K) -> float | None:
        """Seconds until `key` is due (0 if overdue), None if it is not scheduled."""
        at = self._due.get(key)
        return None if at is None else max(0.0, at - self._clock())

    def wake(self, key: K) -> None:
        """Process `key` as soon as a worker is free."""
        if key in self._busy:
            self._rerun.add(key)
            return
        self._put(key, self._clock(), earlier_only=True)

    def schedule(self, key: K, delay: float) -> None:
        """Process `key` after `delay` seconds, replacing its later due time, keeping an earlier wake."""
        if key in self._busy:
            self._later[key] = delay
            return
        self._put(key, self._clock() + max(0.0, delay), earlier_only=False)

    def forget(self, key: K) -> None:
        """Drop `key`: the object is gone."""
        self._due.pop(key, None)
        self._rerun.discard(key)
        self._later.pop(key, None)

    def pause(self) -> None:
        """Stop handing out keys (another replica leads); keys keep their due times."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._changed.set()

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"reconcile-worker-{i}") for i in range(self._workers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    def _put(self, key: K, at: float, *, earlier_only: bool) -> None:
        current = self._due.get(key)
        if current is not None and earlier_only and current <= at:
            return
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._seq), key))
        self._changed.set()
        # Stale heap entries (a key rescheduled) are skipped when popped; compact when they dominate.
        if len(self._heap) > 2 * len(self._due) + 64:
            self._heap = [(t, s, k) for t, s, k in self._heap if self._due.get(k) == t]
            heapq.heapify(self._heap)

    async def _next(self) -> K:
        while True:
            wait: float | None = None
            if not self._paused:
                while self._heap:
                    at, _, key = self._heap[0]
                    if self._due.get(key) != at or key in self._busy:
                        heapq.heappop(self._heap)  # stale, or taken by another worker meanwhile
                        continue
                    wait = at - self._clock()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        return key
                    break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=None if wait is None else min(wait, 60.0))
            except TimeoutError:
                pass

    async def _work(self) -> None:
        while True:
            key = await self._next()
            self._busy.add(key)
            try:
                await self._handler(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a handler must not take the worker with it
                log.exception("reconcile of %s failed unexpectedly", key)
                self._later.setdefault(key, 30.0)
            finally:
                self._busy.discard(key)
                later = self._later.pop(key, None)
                if key in self._rerun:
                    self._rerun.discard(key)
                    self._put(key, self._clock(), earlier_only=True)
                elif later is not None:
                    self._put(key, self._clock() + later, earlier_only=False)
