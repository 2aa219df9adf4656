"""The peering follower outlives an apiserver it cannot reach (a restart): it keeps asking."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from ccloud_operator import handlers


class Standing:
    """What the follower sees of the controller; never touched while the peering object cannot be read."""

    paused = False

    def pause(self) -> None:
        raise AssertionError("paused on nothing read")

    def resume(self) -> None:
        raise AssertionError("resumed on nothing read")


@pytest.fixture
def unreachable_apiserver() -> Iterator[None]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: connections to it are refused
    before = kubernetes.client.Configuration.get_default_copy()
    config = kubernetes.client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    config.retries = 0
    kubernetes.client.Configuration.set_default(config)
    yield
    kubernetes.client.Configuration.set_default(before)


async def test_the_peering_follower_keeps_going_while_the_apiserver_is_unreachable(unreachable_apiserver: None) -> None:
    peering = handlers.Peering(name="ccloud-operator", priority=0, identity="me")
    standing: Any = Standing()
    follower = asyncio.create_task(handlers._follow_peering(peering, standing, interval=0.01))
    await asyncio.sleep(0.5)
    try:
        assert not follower.done(), follower.exception()
    finally:
        follower.cancel()
