"""emulator-reads: simple reads per second the emulator answers on one core, over a real socket.

The emulator runs as its own command (`python -m ccloud_emulator serve`) in a process pinned to one
CPU; the load generator runs in this process, pinned to another CPU when there is one. It keeps 8
keep-alive connections busy with plain HTTP/1.1 over asyncio streams (httpx would be the bottleneck,
not the emulator) and checks every status. After seeding a service account and a connector through
httpx, each simple read (an environment, a service account, a connector's status) is driven for a
fixed time, then a mix of the three. The expanded connector list is measured too, for the table.

Figures: reads per second of the mix and its ratio to the target of 500/s; p50 and p99 latency.
Chart: reads per second per endpoint against the target.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import Result

TARGET = 500.0
IN_FLIGHT = 8
WARMUP = 0.3
SECONDS = 1.5
KEY, SECRET = "BENCHKEY00000001", "b" * 64


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


@contextmanager
def _server(cpu: int | None) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "ccloud_emulator", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--api-key", KEY, "--api-secret", SECRET]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cpu is not None:
        os.sched_setaffinity(process.pid, {cpu})
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _seed(client: httpx.AsyncClient) -> dict[str, str]:
    info = (await client.get("/_emulator/info")).json()
    env, cluster = info["environment_id"], info["kafka_cluster_id"]
    sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "bench"})).json()["id"]
    connectors = f"/connect/v1/environments/{env}/clusters/{cluster}/connectors"
    config = {"connector.class": "DatagenSource", "kafka.api.key": "K", "kafka.api.secret": "S", "tasks.max": "2"}
    created = await client.post(connectors, json={"name": "bench", "config": config})
    created.raise_for_status()
    return {
        "environment": f"/org/v2/environments/{env}",
        "service account": f"/iam/v2/service-accounts/{sa}",
        "connector status": f"{connectors}/bench/status",
        "expanded list": f"{connectors}?expand=info,status,id",
    }


async def _drive(base_url: str, paths: list[str], seconds: float) -> tuple[int, list[float], float]:
    """Read `paths` round robin on IN_FLIGHT connections for `seconds`; return count, latencies, elapsed."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    auth = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n\r\n".encode() for path in paths
    ]
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        n = offset
        try:
            while time.monotonic() < stop:
                began = time.monotonic()
                writer.write(requests[n % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                if not lines[0].startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"GET {paths[n % len(paths)]} answered {lines[0].decode()}")
                length = next(
                    int(v) for k, _, v in (line.partition(b":") for line in lines) if k.lower() == b"content-length"
                )
                await reader.readexactly(length)
                latencies.append(time.monotonic() - began)
                n += 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.monotonic()
    await asyncio.gather(*(connection(i) for i in range(IN_FLIGHT)))
    return len(latencies), latencies, time.monotonic() - started


async def _measure(base_url: str) -> tuple[dict[str, float], list[float]]:
    async with httpx.AsyncClient(base_url=base_url, auth=(KEY, SECRET)) as client:
        endpoints = await _seed(client)
    simple = [endpoints["environment"], endpoints["service account"], endpoints["connector status"]]
    await _drive(base_url, simple, WARMUP)
    rates: dict[str, float] = {}
    for name, path in endpoints.items():
        count, _, elapsed = await _drive(base_url, [path], SECONDS)
        rates[name] = count / elapsed
    count, latencies, elapsed = await _drive(base_url, simple, SECONDS * 2)
    rates["mix of simple reads"] = count / elapsed
    return rates, latencies


def _chart(out: Path, rates: dict[str, float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = list(rates)
    colors = ["#4c72b0" if n != "mix of simple reads" else "#55a868" for n in names]
    ax.barh(names, [rates[n] for n in names], color=colors)
    ax.axvline(TARGET, color="#c44e52", linestyle="--", linewidth=1.5, label=f"target {TARGET:g}/s")
    for i, name in enumerate(names):
        ax.text(rates[name], i, f" {rates[name]:.0f}/s", va="center")
    ax.set_xlabel("reads per second (emulator on one core, 8 keep-alive connections, real socket)")
    ax.set_title("ccloud-emulator read throughput")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / "emulator_reads.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: Path) -> Result:
    cpus = _cpus()
    server_cpu = cpus[-1] if cpus else None
    mine = set(cpus[:-1]) if len(cpus) > 1 else None
    before = set(cpus)
    if mine:
        os.sched_setaffinity(0, mine)
    try:
        with _server(server_cpu) as base_url:
            rates, latencies = asyncio.run(_measure(base_url))
    finally:
        if mine:
            os.sched_setaffinity(0, before)
    mix = rates["mix of simple reads"]
    quantiles = statistics.quantiles(latencies, n=100)
    p50, p99 = quantiles[49] * 1000, quantiles[98] * 1000
    chart = _chart(out, rates)
    table = [(name, f"{rate:8.0f} reads/s") for name, rate in rates.items()]
    table += [
        ("latency p50 / p99 (mix)", f"{p50:.1f} ms / {p99:.1f} ms"),
        ("server CPU", f"{server_cpu} (load generator on {sorted(mine) if mine else 'the same CPU'})"),
        ("chart", str(chart)),
    ]
    return Result(
        name="emulator-reads",
        metrics={"reads_per_s": mix, "ratio": mix / TARGET, "p50_ms": p50, "p99_ms": p99},
        target=f"reads_per_s>={TARGET:g}",
        passed=mix >= TARGET,
        table=table,
    )
