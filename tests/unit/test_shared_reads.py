"""Reads many objects share: one load for concurrent callers, reused for a while, never a failure."""

from __future__ import annotations

import asyncio

import pytest

from ccloud_operator.reconcile.shared import SharedReads


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"value {self.calls}"


async def test_concurrent_callers_share_one_load() -> None:
    reads, load = SharedReads(ttl=30), Loader()
    load.release.clear()
    waiting = [asyncio.create_task(reads.get("KEY", ("cluster", "lkc-1"), load)) for _ in range(50)]
    await asyncio.sleep(0.01)
    load.release.set()
    assert set(await asyncio.gather(*waiting)) == {"value 1"}
    assert load.calls == 1


async def test_a_value_is_reused_within_its_time_and_loaded_again_after() -> None:
    now = [0.0]
    reads, load = SharedReads(ttl=30, clock=lambda: now[0]), Loader()
    assert await reads.get("KEY", "scope", load) == "value 1"
    now[0] = 29.0
    assert await reads.get("KEY", "scope", load) == "value 1"
    now[0] = 31.0
    assert await reads.get("KEY", "scope", load) == "value 2"
    assert load.calls == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [(("KEY", "a"), ("KEY", "b")), (("KEY", "a"), ("OTHER", "a"))],
    ids=["another scope loads its own", "another credential loads its own"],
)
async def test_scopes_and_credentials_do_not_share(first: tuple[str, str], second: tuple[str, str]) -> None:
    reads, load = SharedReads(ttl=30), Loader()
    await reads.get(*first, load)
    await reads.get(*second, load)
    assert load.calls == 2


async def test_a_failed_load_reaches_every_waiter_and_is_not_kept() -> None:
    reads, load = SharedReads(ttl=30), Loader()
    load.release.clear()
    load.fail = RuntimeError("HTTP 503")
    waiting = [asyncio.create_task(reads.get("KEY", "scope", load)) for _ in range(3)]
    await asyncio.sleep(0.01)
    load.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    load.fail = None
    assert await reads.get("KEY", "scope", load) == "value 2"


async def test_invalidate_makes_the_next_caller_load_afresh() -> None:
    reads, load = SharedReads(ttl=30), Loader()
    await reads.get("KEY", "scope", load)
    reads.invalidate("KEY", "scope")
    assert await reads.get("KEY", "scope", load) == "value 2"


async def test_expired_entries_are_dropped_so_memory_follows_what_is_in_use() -> None:
    now = [0.0]
    reads, load = SharedReads(ttl=10, clock=lambda: now[0]), Loader()
    for i in range(100):
        await reads.get("KEY", i, load)
    assert len(reads) == 100
    now[0] = 11.0
    await reads.get("KEY", "fresh", load)
    assert len(reads) == 1
    reads.forget_credential("KEY")
    assert len(reads) == 0


async def test_a_caller_wanting_a_newer_read_shares_only_loads_begun_since() -> None:
    now = [0.0]
    reads, load = SharedReads(ttl=30, clock=lambda: now[0]), Loader()
    assert await reads.get("KEY", "scope", load) == "value 1"  # begun at 0
    now[0] = 5.0
    assert await reads.get("KEY", "scope", load) == "value 1"  # no demand: the cached one
    assert await reads.get("KEY", "scope", load, newer_than=0.0) == "value 1"  # begun at 0: fresh enough
    # Three reconciles that began at 1, 2 and 5, while a load begun at 5 is in flight: all share it.
    load.release.clear()
    first = asyncio.create_task(reads.get("KEY", "scope", load, newer_than=5.0))
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(reads.get("KEY", "scope", load, newer_than=t)) for t in (1.0, 2.0, 5.0)]
    await asyncio.sleep(0.01)
    load.release.set()
    assert set(await asyncio.gather(first, *others)) == {"value 2"} and load.calls == 2
    now[0] = 6.0
    assert await reads.get("KEY", "scope", load, newer_than=6.0) == "value 3"  # begun before 6: not fresh
