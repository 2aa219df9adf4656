"""Runs after every other client test: nothing logged during the run holds a secret a test used.

The test brings its own secrets and its own logging, so it means the same alone as after the rest:
it sends every kind of request that logs (a retried read, a dropped one, a key's creation and its
propagation probe, an upload to a presigned URL, a refused credential) and logs the errors as the
operator would, tracebacks included; then it looks for every secret registered in the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import (
    CLOUD_RESOURCE,
    Cloud,
    ConfluentClient,
    ConfluentError,
    ContentFormat,
    Credentials,
    RateGovernor,
)

if TYPE_CHECKING:
    from tests.client.conftest import Trap

ENV = "/org/v2/environments/*"
log = logging.getLogger("ccloud_operator.handlers")


async def log_what_goes_wrong(client: ConfluentClient, emulator: Emulator, remember: Callable[[str], str]) -> None:
    emulator.fail("GET", ENV, status=503, count=1)
    await client.environments.get(emulator.environment_id)
    emulator.fail("GET", ENV, drop=True, count=1)
    await client.environments.get(emulator.environment_id)

    owner = await client.service_accounts.create("leak-check")
    key = await client.api_keys.create(owner_id=owner.id, resource_id=CLOUD_RESOURCE)
    assert key.secret is not None
    secret = remember(key.secret.get_secret_value())
    assert await client.api_keys.is_usable(key.id, secret, CLOUD_RESOURCE)
    assert not await client.api_keys.is_usable(key.id, remember("not-" + secret[4:]), CLOUD_RESOURCE)

    presigned = await client.plugins.presigned_upload_url(ContentFormat.ZIP, Cloud.GCP, emulator.environment_id)
    remember(httpx.URL(presigned.upload_url).params["X-Goog-Signature"])
    await client.uploads.upload(presigned, b"an archive")


@pytest.mark.runs_last
async def test_no_secret_was_ever_logged(
    emulator: Emulator, make_client: Callable[..., ConfluentClient], remember: Callable[[str], str], log_trap: Trap
) -> None:
    first_line, known = len(log_trap.lines), set(log_trap.secrets)
    async with make_client(emulator) as client:
        await log_what_goes_wrong(client, emulator, remember)
    wrong = remember("WrongSecretForTheLogCheck-" + "y" * 38)
    refused = ConfluentClient(
        Credentials(key=emulator.api_key, secret=wrong),
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=emulator.app),
        governor=RateGovernor(),
    )
    async with refused:
        try:
            await refused.environments.list()
        except ConfluentError:
            log.exception("the environments could not be listed")

    ours = log_trap.lines[first_line:]
    assert any("attempt 2/" in line and "HTTP 503" in line for line in ours), "the retry was not logged"
    assert any(" failed: " in line and "dropped" in line for line in ours), "the dropped read was not logged"
    # httpx logs every request's URL: this line is where a presigned signature would show.
    assert any(line.startswith("httpx INFO HTTP Request: PUT") for line in ours), "httpx's logs were not captured"
    assert any("Unauthorized" in line and "Traceback" in line for line in ours), "the refusal was not logged"
    assert len(log_trap.secrets - known) >= 4, "this test's own secrets were not registered"
    # Say where, never what: the failure message must not print the secret it found.
    leaks = [
        f"secret #{n} ({len(secret)} chars) in log line {i}: {line.split(' ', 2)[:2]}"
        for n, secret in enumerate(sorted(log_trap.secrets))
        for i, line in enumerate(log_trap.lines)
        if secret in line
    ]
    assert leaks == []
