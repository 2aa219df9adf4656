"""The same client over a real socket: uvicorn serving the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import socket
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from ccloud_emulator import Emulator, serve_in_thread
from ccloud_operator.confluent import (
    Cloud,
    ConfluentClient,
    ConnectFailed,
    ContentFormat,
    Credentials,
    NotFound,
    RateGovernor,
    RetryPolicy,
    VersionPhase,
)
from ccloud_operator.confluent.ccpm import ConnectorClass


@pytest.fixture
def served(emulator: Emulator) -> Iterator[str]:
    with serve_in_thread(emulator) as base_url:
        yield base_url


def over_socket(emulator: Emulator, base_url: str, **kwargs: object) -> ConfluentClient:
    return ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url=base_url,
        retry=RetryPolicy(max_attempts=3, base=0.01, cap=1.0),
        governor=RateGovernor(),
        page_size=2,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_service_accounts_over_a_socket(emulator: Emulator, served: str) -> None:
    async with over_socket(emulator, served) as client:
        created = [await client.service_accounts.create(f"socket-{n}") for n in range(5)]
        listed = await client.service_accounts.list()
        assert {sa.id for sa in created} <= {sa.id for sa in listed}
        await client.service_accounts.delete(created[0].id)
        with pytest.raises(NotFound):
            await client.service_accounts.get(created[0].id)


async def test_upload_and_version_over_a_socket(emulator: Emulator, served: str) -> None:
    env = emulator.environment_id
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.jar", b"bytes")
    async with over_socket(emulator, served) as client:
        plugin = await client.plugins.create("socket-plugin", Cloud.AWS, env)
        presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, Cloud.AWS, env)
        assert presigned.upload_url.startswith(served)
        await client.uploads.upload(presigned, buffer.getvalue())
        version = await client.plugin_versions.create(
            plugin.id, env, "2.0.0", [ConnectorClass(class_name="io.example.S", type="SINK")], presigned.upload_id
        )
        assert (await client.plugin_versions.get(plugin.id, version.id, env)).phase == VersionPhase.READY


async def test_a_dropped_connection_is_retried_over_a_socket(emulator: Emulator, served: str) -> None:
    emulator.fail_next("GET", "/org/v2/environments", drop=True)
    async with over_socket(emulator, served) as client:
        environments = await client.environments.list()
    assert emulator.environment_id in {e.id for e in environments}
    calls = emulator.calls("GET", "/org/v2/environments")
    assert [r.status for r in calls] == [0, 200], calls


async def test_rate_limited_burst_over_a_socket(emulator: Emulator, served: str) -> None:
    emulator.set_rate_limit(rate=30.0, burst=3)
    async with over_socket(emulator, served) as client:
        await asyncio.gather(*(client.environments.get(emulator.environment_id) for _ in range(15)))
    assert {r.status for r in emulator.requests} == {200}


async def test_nobody_listening_is_connect_failed_and_a_create_is_retried(emulator: Emulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is free again: connecting to it is refused, so even a create may be tried again.
    async with over_socket(emulator, f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectFailed) as caught:
            await client.service_accounts.create("nobody-home")
    assert caught.value.method == "POST"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
