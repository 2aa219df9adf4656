"""client-throttle: 300 concurrent calls through one client against an emulator limited to 5 requests/s.

The emulator runs on a real socket with a token bucket of 5 requests a second, 5 deep. All 300 calls
start at once; the client's rate governor has to pace them so that almost none is answered 429 and
the whole burst takes little longer than the limit allows: (calls - burst) / rate seconds.

Figures: the share of requests answered 429 (target < 1 %) and elapsed / ideal (target <= 1.15).
Chart: requests per second over the run, by status, and the calls done against the ideal line.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from bench import Result
from ccloud_emulator import Emulator, RequestRecord, serve_in_thread
from ccloud_operator.confluent import ConfluentClient, Credentials, GovernorState, RateGovernor, RetryPolicy

CALLS = 300
RATE = 5.0
BURST = 5
MAX_429_SHARE = 0.01
MAX_RATIO = 1.15


async def _burst(emulator: Emulator, base_url: str) -> tuple[float, list[float], GovernorState]:
    """Fire every call at once; return the elapsed time, each call's finish time, the governor state."""
    credentials = Credentials(key=emulator.api_key, secret=emulator.api_secret)
    async with ConfluentClient(credentials, base_url=base_url, retry=RetryPolicy(), governor=RateGovernor()) as client:
        started = time.monotonic()
        finished: list[float] = []

        async def call() -> None:
            await client.environments.get(emulator.environment_id)
            finished.append(time.monotonic() - started)

        await asyncio.gather(*(call() for _ in range(CALLS)))
        return time.monotonic() - started, sorted(finished), client.governor.snapshot()


def _chart(out: Path, records: list[RequestRecord], finished: list[float], ideal: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(r.time for r in records)
    seconds = int(max(r.time - t0 for r in records)) + 1
    ok = Counter(int(r.time - t0) for r in records if r.status != 429)
    limited = Counter(int(r.time - t0) for r in records if r.status == 429)
    xs = list(range(seconds))

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.bar(xs, [ok[x] for x in xs], width=0.9, align="edge", label="answered", color="#4c72b0")
    top.bar(xs, [limited[x] for x in xs], width=0.9, align="edge", bottom=[ok[x] for x in xs],
            label="429", color="#c44e52")  # fmt: skip
    window = 5
    smoothed = [sum(ok[x - i] + limited[x - i] for i in range(window)) / window for x in xs[window - 1 :]]
    top.plot([x + 1 for x in xs[window - 1 :]], smoothed, color="#dd8452", linewidth=2, label=f"{window} s average")
    top.axhline(RATE, color="black", linestyle="--", linewidth=1, label=f"limit {RATE:g}/s")
    top.set_ylabel("requests per second")
    top.set_title(f"{CALLS} concurrent calls, emulator limited to {RATE:g} requests/s (burst {BURST})")
    top.legend(loc="upper right")

    bottom.step(finished, range(1, len(finished) + 1), where="post", label="calls done")
    bottom.plot([0, ideal], [BURST, CALLS], color="black", linestyle="--", linewidth=1, label="ideal")
    bottom.set_xlabel("seconds since the burst started")
    bottom.set_ylabel("calls done")
    bottom.legend(loc="lower right")
    fig.tight_layout()
    path = out / "client_throttle.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: Path) -> Result:
    emulator = Emulator()
    emulator.set_rate_limit(rate=RATE, burst=BURST)
    with serve_in_thread(emulator) as base_url:
        elapsed, finished, state = asyncio.run(_burst(emulator, base_url))
    records = emulator.requests
    limited = sum(1 for r in records if r.status == 429)
    share = limited / len(records)
    ideal = (CALLS - BURST) / RATE
    ratio = elapsed / ideal
    chart = _chart(out, records, finished, ideal)
    passed = share < MAX_429_SHARE and ratio <= MAX_RATIO
    return Result(
        name="client-throttle",
        metrics={"share_429": share, "ratio": ratio},
        target=f"share_429<{MAX_429_SHARE:g},ratio<={MAX_RATIO:g}",
        passed=passed,
        table=[
            ("calls", str(CALLS)),
            ("emulator limit", f"{RATE:g} requests/s, burst {BURST}"),
            ("requests sent", str(len(records))),
            ("answered 429", f"{limited} ({share:.2%})"),
            ("elapsed", f"{elapsed:.2f} s"),
            ("ideal (calls - burst) / rate", f"{ideal:.2f} s"),
            ("elapsed / ideal", f"{ratio:.3f}"),
            ("governor", f"limit={state.limit} requests={state.requests} rate_limited={state.rate_limited}"),
            ("chart", str(chart)),
        ],
    )
