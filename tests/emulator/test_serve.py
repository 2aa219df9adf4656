"""The emulator over a real socket: the command, serve_in_thread, drops and limits on the wire."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ccloud_emulator import Emulator, serve_in_thread

from .conftest import Clock

KEY, SECRET = "CLIKEY0000000001", "c" * 64
COMMAND = Path(sys.executable).parent / "ccloud-emulator"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """The CPU time a process has used so far (user + system), or None without Linux's /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def command(*extra: str) -> Iterator[tuple[str, float | None]]:
    """Run `ccloud-emulator serve` and yield its URL and the CPU seconds it used until it accepted
    connections: CPU time, unlike wall time, does not grow when a busy machine makes it wait."""
    port = free_port()
    argv = [str(COMMAND), "serve", "--host", "127.0.0.1", "--port", str(port), "--api-key", KEY, "--api-secret", SECRET]
    started = time.monotonic()
    process = subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                break
            except OSError:
                # a generous guard against hanging, not a measure of speed
                if process.poll() is not None or time.monotonic() - started > 60:
                    raise RuntimeError(f"the emulator did not start: {process.stderr.read()!r}") from None
                time.sleep(0.01)
        yield f"http://127.0.0.1:{port}", cpu_seconds(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


def test_the_command_listens_within_two_cpu_seconds_and_keeps_its_state(tmp_path: Path) -> None:
    assert COMMAND.exists(), f"{COMMAND} is missing: ./run installs the workspace with its scripts"
    state = tmp_path / "state.json"
    with command("--state-file", str(state)) as (url, startup):
        # about 0.6 s on a 2-core machine: the heavy imports wait until the arguments are parsed
        assert startup is None or startup < 2.0
        with httpx.Client(base_url=url, auth=(KEY, SECRET)) as client:
            envs = client.get("/org/v2/environments").json()["data"]
            assert len(envs) == 1
            assert envs[0]["metadata"]["self"].startswith(url)
            sa = client.post("/iam/v2/service-accounts", json={"display_name": "survivor"}).json()["id"]
            env = envs[0]["id"]
            clusters = client.get("/cmk/v2/clusters", params={"environment": env}).json()["data"]
            assert len(clusters) == 1
    with command("--state-file", str(state)) as (url, _), httpx.Client(base_url=url, auth=(KEY, SECRET)) as client:
        assert client.get(f"/iam/v2/service-accounts/{sa}").json()["display_name"] == "survivor"


def test_python_dash_m_shows_the_usage() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ccloud_emulator", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert done.returncode == 0
    assert "--api-key" in done.stdout
    assert "--connector-provisioning" in done.stdout


async def test_serve_in_thread_answers_over_a_socket_with_its_own_address() -> None:
    emu = Emulator()
    with serve_in_thread(emu) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, auth=(emu.api_key, emu.api_secret)) as client:
            cluster = (
                await client.get(f"/cmk/v2/clusters/{emu.kafka_cluster_id}", params={"environment": emu.environment_id})
            ).json()
            assert cluster["spec"]["http_endpoint"] == url
            presigned = (await client.post("/connect/v1/presigned-upload-url", json={"content_format": "ZIP"})).json()
            assert presigned["upload_url"].startswith(f"{url}/_uploads/aws/")
    async with httpx.AsyncClient() as after:
        with pytest.raises(httpx.ConnectError):
            await after.get(url + "/_emulator/health")


@pytest.mark.parametrize("after_processing", [False, True], ids=["before it takes effect", "after it took effect"])
async def test_a_dropped_connection_is_a_protocol_error_on_the_wire(after_processing: bool) -> None:
    emu = Emulator()
    emu.fail_next("POST", "/iam/v2/service-accounts", status=None, drop=True, after_processing=after_processing)
    with serve_in_thread(emu) as url:
        async with httpx.AsyncClient(base_url=url, auth=(emu.api_key, emu.api_secret)) as client:
            # a reset (ReadError) or a close mid-answer (RemoteProtocolError), as real drops are
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await client.post("/iam/v2/service-accounts", json={"display_name": "dropped"})
            listed = (await client.get("/iam/v2/service-accounts")).json()["data"]
            assert len(listed) == (1 if after_processing else 0)


async def test_load_meets_429s_with_the_real_headers(clock: Clock) -> None:
    # the clock stands still, so the bucket cannot refill however long the 30 requests take
    emu = Emulator(clock=clock)
    emu.set_rate_limit(rate=20.0, burst=5)
    with serve_in_thread(emu) as url:
        async with httpx.AsyncClient(base_url=url, auth=(emu.api_key, emu.api_secret)) as client:
            answers = await asyncio.gather(*(client.get("/iam/v2/service-accounts") for _ in range(30)))
    ok = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code == 429]
    assert (len(ok), len(limited)) == (5, 25)
    for response in limited:
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-ratelimit-limit"] == "5"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert int(response.headers["x-ratelimit-reset"]) >= 1
    assert sum(1 for r in emu.requests if r.status == 429) == len(limited)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def recorded(emu: Emulator, method: str, path: str) -> list[int]:
    """The statuses logged for these calls, once the server has finished with at least one."""
    for _ in range(6000):  # at most a minute: a guard against hanging, not a measure of speed
        if calls := emu.calls(method, path):
            return [c.status for c in calls]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server never finished {method} {path}")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/org/v2/environments", None),
        ("POST", "/iam/v2/service-accounts", {"display_name": "impatient"}),
    ],
    ids=["a read answered after the hang-up", "a create whose body is read after the hang-up"],
)
async def test_a_client_that_hangs_up_during_latency_leaves_no_traceback(
    method: str, path: str, body: dict[str, str] | None
) -> None:
    emu = Emulator()
    emu.fail_next(method, path, status=None, latency=1.0)
    log = Records()
    server_log = logging.getLogger("uvicorn.error")
    with serve_in_thread(emu) as url:
        # after the server configured its logging, which replaces the handlers it names
        server_log.addHandler(log)
        try:
            auth = (emu.api_key, emu.api_secret)
            async with httpx.AsyncClient(base_url=url, auth=auth, timeout=httpx.Timeout(30, read=0.1)) as impatient:
                with pytest.raises(httpx.ReadTimeout):
                    await impatient.request(method, path, json=body)
            statuses = await recorded(emu, method, path)
            async with httpx.AsyncClient(base_url=url, auth=auth) as patient:
                assert (await patient.get("/org/v2/environments")).status_code == 200
        finally:
            server_log.removeHandler(log)
    assert 500 not in statuses
    assert [(r.levelname, r.getMessage()) for r in log.records if r.levelno >= logging.ERROR or r.exc_info] == []
