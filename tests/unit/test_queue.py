"""The delay queue every reconcile goes through: bounded, one worker per key, wakes and schedules."""

from __future__ import annotations

import asyncio

import pytest

from ccloud_operator.reconcile.queue import WorkQueue


class Recorder:
    """A handler that records what it processed and how many ran at once; `gate` holds it open."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.running = 0
        self.most = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, key: str) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
            self.seen.append(key)
        finally:
            self.running -= 1


async def settle(queue: WorkQueue[str], recorder: Recorder, count: int) -> None:
    async with asyncio.timeout(10):
        while len(recorder.seen) < count or queue.busy:  # noqa: ASYNC110 (polls two conditions)
            await asyncio.sleep(0.005)


async def test_no_more_than_the_workers_run_at_once() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = WorkQueue(recorder, workers=3)
    queue.start()
    for i in range(40):
        queue.wake(f"k{i}")
    await asyncio.sleep(0.05)
    assert recorder.running == 3
    recorder.gate.set()
    await settle(queue, recorder, 40)
    await queue.stop()
    assert recorder.most == 3
    assert sorted(recorder.seen) == sorted(f"k{i}" for i in range(40))


async def test_a_key_woken_while_processing_runs_again_after_never_beside_itself() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    queue = WorkQueue(recorder, workers=4)
    queue.start()
    queue.wake("a")
    await asyncio.sleep(0.02)
    queue.wake("a")
    queue.wake("a")
    await asyncio.sleep(0.02)
    assert recorder.running == 1  # four workers, one key: only one of them holds it
    recorder.gate.set()
    await settle(queue, recorder, 2)
    await asyncio.sleep(0.05)
    await queue.stop()
    assert recorder.seen == ["a", "a"]  # the two wakes during processing fold into one rerun
    assert recorder.most == 1


async def test_a_wake_moves_a_scheduled_key_earlier_and_a_schedule_replaces_a_later_one() -> None:
    now = [1000.0]
    recorder = Recorder()
    queue = WorkQueue(recorder, workers=1, clock=lambda: now[0])
    queue.schedule("a", 600)
    assert queue.due_in("a") == pytest.approx(600)
    queue.schedule("a", 30)
    assert queue.due_in("a") == pytest.approx(30)
    queue.wake("a")
    assert queue.due_in("a") == 0
    queue.schedule("b", 5)
    now[0] += 5
    queue.start()
    await settle(queue, recorder, 2)
    await queue.stop()
    assert sorted(recorder.seen) == ["a", "b"]
    assert len(queue) == 0  # nothing kept for keys that were processed and not rescheduled


async def test_forget_drops_a_key_and_a_paused_queue_hands_out_nothing() -> None:
    recorder = Recorder()
    queue = WorkQueue(recorder, workers=2)
    queue.pause()
    queue.start()
    for key in ("a", "b", "c"):
        queue.wake(key)
    queue.forget("b")
    await asyncio.sleep(0.05)
    assert recorder.seen == []
    assert len(queue) == 2
    queue.resume()
    await settle(queue, recorder, 2)
    await queue.stop()
    assert sorted(recorder.seen) == ["a", "c"]


async def test_a_handler_that_raises_does_not_take_its_worker_with_it() -> None:
    done: list[str] = []

    async def handler(key: str) -> None:
        if key == "bad":
            raise RuntimeError("a bug")
        done.append(key)

    queue = WorkQueue(handler, workers=1)
    queue.start()
    queue.wake("bad")
    queue.wake("good")
    async with asyncio.timeout(5):
        while not done:  # noqa: ASYNC110 (a list filled by the handler)
            await asyncio.sleep(0.005)
    assert queue.due_in("bad") is not None  # retried later, not lost
    await queue.stop()
    assert done == ["good"]
