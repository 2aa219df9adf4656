"""What stands before every call: Basic auth in each dialect, faults, rate limits, the request log."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from ccloud_emulator import ConnectionDropped, Emulator, Timing

from .conftest import ClientFactory, Clock, Hold, connectors_path

STANDARD_401 = {
    "status": "401",
    "code": "user_unauthenticated",
    "title": "Authentication Required",
    "detail": "Valid authentication credentials must be provided",
}


@pytest.mark.parametrize(
    "auth",
    [("NOTAKEY000000000", "x"), ("EMUKEY0000000001", "wrong secret"), None],
    ids=["unknown key", "wrong secret", "no credentials"],
)
async def test_the_standard_apis_answer_401_with_the_basic_challenge(
    emu: Emulator, auth: tuple[str, str] | None
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu", auth=auth) as c:
        response = await c.get("/org/v2/environments")
    assert response.status_code == 401
    assert (
        response.headers["www-authenticate"] == 'Basic error="invalid_key", error_description="The API Key is invalid"'
    )
    error = response.json()["errors"][0]
    assert {k: error[k] for k in STANDARD_401} == STANDARD_401
    assert response.headers["x-request-id"]


async def test_connect_answers_401_in_its_own_shape(emu: Emulator, make_client: ClientFactory) -> None:
    async with make_client(emu, auth=("NOTAKEY000000000", "x")) as client:
        response = await client.get(connectors_path(emu))
    assert response.json() == {"error": {"code": 401, "message": "Unauthorized"}}
    assert "www-authenticate" not in response.headers


async def test_a_kafka_key_opens_only_its_clusters_rest_api(emu: Emulator, make_client: ClientFactory) -> None:
    emu.add_api_key("KAFKAKEY00000001", "k" * 64, resource=emu.kafka_cluster_id)
    other = emu.add_kafka_cluster(display_name="other")
    async with make_client(emu, auth=("KAFKAKEY00000001", "k" * 64)) as kafka:
        assert (await kafka.get(f"/kafka/v3/clusters/{emu.kafka_cluster_id}/topics")).status_code == 200
        refused = await kafka.get(f"/kafka/v3/clusters/{other}/topics")
        assert (refused.status_code, refused.json()) == (401, {"error_code": 40101, "message": "Unauthorized"})
        assert (await kafka.get("/org/v2/environments")).status_code == 401
    async with make_client(emu) as cloud:
        assert (await cloud.get(f"/kafka/v3/clusters/{emu.kafka_cluster_id}/topics")).status_code == 401


@pytest.mark.parametrize("kafka", [False, True], ids=["cloud key", "kafka key"])
async def test_a_new_key_answers_401_until_it_has_propagated(
    make_client: ClientFactory, clock: Clock, kafka: bool
) -> None:
    emu = Emulator(timing=Timing(api_key_propagation=20), clock=clock)
    async with make_client(emu) as client:
        sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "probe"})).json()["id"]
        resource = {"id": emu.kafka_cluster_id, "environment": emu.environment_id} if kafka else {"id": "cloud"}
        key = (await client.post("/iam/v2/api-keys", json={"spec": {"owner": {"id": sa}, "resource": resource}})).json()
    probe = f"/kafka/v3/clusters/{emu.kafka_cluster_id}/topics" if kafka else "/org/v2/environments"
    async with make_client(emu, auth=(key["id"], key["spec"]["secret"])) as new:
        assert (await new.get(probe)).status_code == 401
        clock.advance(19)
        assert (await new.get(probe)).status_code == 401
        clock.advance(1)
        assert (await new.get(probe)).status_code == 200


async def test_fail_next_fails_once_with_retry_after(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.fail_next("POST", "/iam/v2/service-accounts", status=429, retry_after=7)
    refused = await client.post("/iam/v2/service-accounts", json={"display_name": "a"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(refused.headers)
    assert (await client.post("/iam/v2/service-accounts", json={"display_name": "a"})).status_code == 201
    assert emu.faults[0].fired == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/iam/v2/service-accounts", {"errors": [{"status": "503", "code": "service_unavailable"}]}),
        ("CONNECT", {"error": {"code": 503, "message": "Service Unavailable"}}),
    ],
    ids=["standard dialect", "connect dialect"],
)
async def test_an_injected_error_speaks_the_paths_dialect(
    client: httpx.AsyncClient, emu: Emulator, path: str, body: dict[str, object]
) -> None:
    path = connectors_path(emu) if path == "CONNECT" else path
    emu.fail("GET", path.rsplit("/", 1)[0] + "/*", status=503, count=2)
    for _ in range(2):
        response = await client.get(path)
        assert response.status_code == 503
        got = response.json()
        if "errors" in got:
            got = {"errors": [{k: got["errors"][0][k] for k in ("status", "code")}]}
        assert got == body
    assert (await client.get(path)).status_code == 200


async def test_faults_match_method_and_glob_and_honour_probability(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.fail("DELETE", "/iam/*", status=500)
    emu.fail("*", "/org/v2/environments", status=500, probability=0.0)
    assert (await client.get("/iam/v2/service-accounts")).status_code == 200
    assert (await client.get("/org/v2/environments")).status_code == 200
    assert (await client.delete("/iam/v2/service-accounts/sa-x")).status_code == 500
    emu.clear_faults()
    assert (await client.delete("/iam/v2/service-accounts/sa-x")).status_code == 404


async def test_latency_delays_the_answer(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.fail("GET", "/org/v2/environments", latency=0.15, count=1)
    started = time.monotonic()
    response = await client.get("/org/v2/environments")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_a_dropped_connection_is_a_transport_error_in_process(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.fail_next("POST", "/iam/v2/service-accounts", status=None, drop=True)
    with pytest.raises(httpx.TransportError):
        await client.post("/iam/v2/service-accounts", json={"display_name": "dropped"})
    assert isinstance(ConnectionDropped("x"), httpx.RemoteProtocolError)
    assert emu.calls("POST", "/iam/v2/service-accounts")[-1].status == 0
    assert (await client.get("/iam/v2/service-accounts", params={"display_name": "dropped"})).json()["data"] == []


async def test_the_rate_limit_answers_429_with_the_real_headers(make_client: ClientFactory, clock: Clock) -> None:
    emu = Emulator(clock=clock)
    emu.set_rate_limit(rate=0.5, burst=3)
    async with make_client(emu) as client:
        answers = [await client.get("/org/v2/environments") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-limit"] for r in answers] == ["3"] * 4
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
        # relative seconds until the bucket is full again: 2 s a token
        assert [r.headers["x-ratelimit-reset"] for r in answers] == ["2", "4", "6", "6"]
        assert answers[3].headers["retry-after"] == "2"
        assert "retry-after" not in answers[0].headers
        clock.advance(1.5)
        refused = await client.get("/org/v2/environments")
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        clock.advance(0.5)
        assert (await client.get("/org/v2/environments")).status_code == 200


async def test_each_api_key_has_its_own_bucket(emu: Emulator, make_client: ClientFactory) -> None:
    emu.add_api_key("SECONDKEY0000001", "s" * 64)
    emu.set_rate_limit(rate=1.0, burst=1)
    async with make_client(emu) as first, make_client(emu, auth=("SECONDKEY0000001", "s" * 64)) as second:
        assert (await first.get("/org/v2/environments")).status_code == 200
        assert (await first.get("/org/v2/environments")).status_code == 429
        assert (await second.get("/org/v2/environments")).status_code == 200
    emu.set_rate_limit(rate=None)
    async with make_client(emu) as first:
        assert (await first.get("/org/v2/environments")).status_code == 200


async def test_the_concurrency_cap_refuses_the_request_over_it(make_client: ClientFactory) -> None:
    hold = Hold()
    emu = Emulator(sleep=hold)
    emu.set_rate_limit(rate=None, concurrency=2)
    emu.fail("GET", "/org/v2/environments", latency=5)
    async with make_client(emu) as client:
        in_flight = [asyncio.create_task(client.get("/org/v2/environments")) for _ in range(2)]
        await hold.holding(2)
        over = await client.get("/org/v2/environments")
        assert (over.status_code, over.headers["retry-after"]) == (429, "1")
        hold.release()
        assert [(await task).status_code for task in in_flight] == [200, 200]
        assert (await client.get("/org/v2/environments")).status_code == 200
    assert hold.asked == [5, 5, 5]


async def test_a_request_cancelled_in_its_latency_is_logged_unanswered_not_as_a_500(
    make_client: ClientFactory,
) -> None:
    hold = Hold()
    emu = Emulator(sleep=hold)
    emu.set_rate_limit(rate=None, concurrency=1)
    emu.fail_next("POST", "/iam/v2/service-accounts", status=None, latency=5)
    async with make_client(emu) as client:
        abandoned = asyncio.create_task(client.post("/iam/v2/service-accounts", json={"display_name": "abandoned"}))
        await hold.holding(1)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        assert [r.status for r in emu.calls("POST", "/iam/v2/service-accounts")] == [0]
        # the cancelled request gave its slot back, and took no effect
        assert (await client.post("/iam/v2/service-accounts", json={"display_name": "next"})).status_code == 201
        listed = (await client.get("/iam/v2/service-accounts")).json()["data"]
        assert [sa["display_name"] for sa in listed] == ["next"]


async def test_without_a_limit_the_headers_never_ask_to_wait(client: httpx.AsyncClient) -> None:
    response = await client.get("/org/v2/environments")
    assert int(response.headers["x-ratelimit-remaining"]) > 1000
    assert response.headers["x-ratelimit-reset"] == "0"


async def test_the_request_log_records_api_calls_but_not_admin_calls(client: httpx.AsyncClient, emu: Emulator) -> None:
    await client.get("/iam/v2/service-accounts", params={"display_name": "x"})
    await client.get("/_emulator/info")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu") as anonymous:
        await anonymous.get("/org/v2/environments")
    records = emu.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/iam/v2/service-accounts", 200),
        ("GET", "/org/v2/environments", 401),
    ]
    assert records[0].query == "display_name=x"
    assert records[0].api_key == emu.api_key
    assert records[1].api_key is None
    assert records[0].time <= records[1].time
    emu.clear_requests()
    assert emu.requests == []


async def test_reset_returns_to_the_seeded_defaults(client: httpx.AsyncClient, emu: Emulator) -> None:
    await client.post("/iam/v2/service-accounts", json={"display_name": "gone after reset"})
    emu.add_environment("also gone")
    emu.set_rate_limit(rate=1.0, burst=1)
    emu.fail("GET", "*", status=500)
    emu.reset()
    assert emu.requests == []
    envs = (await client.get("/org/v2/environments")).json()["data"]
    assert [e["id"] for e in envs] == [emu.environment_id]
    assert (await client.get("/iam/v2/service-accounts")).json()["data"] == []
    assert (await client.get("/org/v2/environments")).status_code == 200


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(7, "7"), (7.0, "7"), (0.25, "0.25")],
    ids=["integer", "whole float as the spec's integer", "a fraction passes through for fast tests"],
)
async def test_retry_after_is_written_as_given(
    client: httpx.AsyncClient, emu: Emulator, retry_after: float, header: str
) -> None:
    emu.fail_next("GET", "/org/v2/environments", status=503, retry_after=retry_after)
    response = await client.get("/org/v2/environments")
    assert (response.status_code, response.headers["retry-after"]) == (503, header)


async def test_a_drop_after_processing_loses_only_the_answer(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.fail_next("POST", "/iam/v2/service-accounts", status=None, drop=True, after_processing=True)
    with pytest.raises(httpx.TransportError):
        await client.post("/iam/v2/service-accounts", json={"display_name": "answer lost"})
    assert emu.calls("POST", "/iam/v2/service-accounts")[-1].status == 0
    found = (await client.get("/iam/v2/service-accounts", params={"display_name": "answer lost"})).json()["data"]
    assert len(found) == 1
