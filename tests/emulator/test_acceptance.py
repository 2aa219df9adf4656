"""The acceptance flow, as a client written only from CONTRACT.md would run it, over a real socket.

For each cloud: presigned URL, upload, CCPM plugin and version (polled until READY), a service
account, a custom connector on it (polled until RUNNING), pause and resume, then delete everything.
The emulator's clock moves only between polls, so the phases take the same number of polls on any
machine, however busy.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator, Timing, serve_in_thread

from .conftest import Clock, archive

POLL = 0.25  # seconds of the emulator's clock between two polls
PHASE = 1.0  # how long a version processes and a connector provisions


async def poll(client: httpx.AsyncClient, clock: Clock, url: str, params: dict[str, str], read: Any, want: str) -> int:
    """GET `url` until `read(body)` is `want`, moving the clock between reads; returns how many reads it took."""
    for attempt in range(1, 100):
        response = await client.get(url, params=params)
        response.raise_for_status()
        if read(response.json()) == want:
            return attempt
        clock.advance(POLL)
    raise AssertionError(f"{url} never became {want}")


@pytest.mark.parametrize("cloud", ["AWS", "GCP", "AZURE"])
async def test_the_whole_custom_connector_flow(cloud: str, clock: Clock) -> None:
    emu = Emulator(timing=Timing(connector_provisioning=PHASE, plugin_version_processing=PHASE), clock=clock)
    # a phase ends at the poll that finds the clock at its end: the first read, then one a POLL
    polls_per_phase = int(PHASE / POLL) + 1
    env_id = emu.environment_id
    with serve_in_thread(emu) as url:
        async with httpx.AsyncClient(base_url=url, auth=(emu.api_key, emu.api_secret)) as api:
            envs = (await api.get("/org/v2/environments")).json()["data"]
            assert [e["id"] for e in envs] == [env_id]
            cluster_id = (await api.get("/cmk/v2/clusters", params={"environment": env_id})).json()["data"][0]["id"]

            # 1. presigned URL and the upload, the way each cloud wants it
            presigned = (
                await api.post(
                    "/ccpm/v1/presigned-upload-url",
                    json={"content_format": "ZIP", "cloud": cloud, "environment": {"id": env_id}},
                )
            ).json()
            async with httpx.AsyncClient() as storage:
                if cloud == "AWS":
                    sent = await storage.post(
                        presigned["upload_url"],
                        data=presigned["upload_form_data"],
                        files={"file": ("datagen.zip", archive(), "application/zip")},
                    )
                else:
                    headers = {"Content-Type": "application/zip"}
                    if cloud == "AZURE":
                        headers["x-ms-blob-type"] = "BlockBlob"
                    sent = await storage.put(presigned["upload_url"], content=archive(), headers=headers)
            assert sent.status_code < 300, sent.text

            # 2. plugin and version, polled until READY
            plugin = await api.post(
                "/ccpm/v1/plugins",
                json={"spec": {"display_name": f"datagen-{cloud}", "cloud": cloud, "environment": {"id": env_id}}},
            )
            assert plugin.status_code == 202
            plugin_id = plugin.json()["id"]
            version = await api.post(
                f"/ccpm/v1/plugins/{plugin_id}/versions",
                json={
                    "spec": {
                        "version": "0.6.5",
                        "connector_classes": [
                            {"class_name": "io.confluent.kafka.connect.datagen.DatagenConnector", "type": "SOURCE"}
                        ],
                        "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": presigned["upload_id"]},
                        "environment": {"id": env_id},
                    }
                },
            )
            assert (version.status_code, version.json()["status"]["phase"]) == (202, "PROCESSING")
            version_url = f"/ccpm/v1/plugins/{plugin_id}/versions/{version.json()['id']}"
            phase = lambda b: b["status"]["phase"]  # noqa: E731
            assert await poll(api, clock, version_url, {"environment": env_id}, phase, "READY") == polls_per_phase

            # 3. a service account and a custom connector on it, polled until RUNNING
            sa_id = (await api.post("/iam/v2/service-accounts", json={"display_name": f"datagen-{cloud}"})).json()["id"]
            connectors = f"/connect/v1/environments/{env_id}/clusters/{cluster_id}/connectors"
            created = await api.post(
                connectors,
                json={
                    "name": "datagen",
                    "config": {
                        "confluent.connector.type": "CUSTOM",
                        "confluent.custom.plugin.id": plugin_id,
                        "confluent.custom.plugin.version": "0.6.5",
                        "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector",
                        "kafka.auth.mode": "SERVICE_ACCOUNT",
                        "kafka.service.account.id": sa_id,
                        "kafka.topic": "pageviews",
                        "tasks.max": "1",
                    },
                },
            )
            assert created.status_code == 201, created.text
            expanded = (await api.get(connectors, params={"expand": "info,status,id"})).json()
            assert expanded["datagen"]["id"]["id"].startswith("clcc-")
            state = lambda b: b["connector"]["state"]  # noqa: E731
            status = f"{connectors}/datagen/status"
            assert await poll(api, clock, status, {}, state, "RUNNING") == polls_per_phase

            # 4. pause and resume, which take effect at once
            assert (await api.put(f"{connectors}/datagen/pause")).status_code == 202
            assert await poll(api, clock, status, {}, state, "PAUSED") == 1
            assert (await api.put(f"{connectors}/datagen/resume")).status_code == 202
            assert await poll(api, clock, status, {}, state, "RUNNING") == 1

            # 5. delete everything
            assert (await api.delete(f"{connectors}/datagen")).json() == {"error": None}
            assert (await api.delete(version_url, params={"environment": env_id})).status_code == 204
            assert (
                await api.delete(f"/ccpm/v1/plugins/{plugin_id}", params={"environment": env_id})
            ).status_code == 204
            assert (await api.delete(f"/iam/v2/service-accounts/{sa_id}")).status_code == 204
            assert (await api.get(connectors)).json() == []
            assert (await api.get("/ccpm/v1/plugins", params={"environment": env_id})).json()["data"] == []
            assert (await api.get(f"/iam/v2/service-accounts/{sa_id}")).status_code == 403
