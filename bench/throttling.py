"""throttling: the share of requests answered 429 when the operator is saturated by a rate limit.

It reads the convergence run (`bench.convergence`: 300 resources of every kind, emulator limited to
20 requests a second on the operator's Cloud API key), run here if it has not run in this process:
the operator always has more to send than the limit lets through, so this is saturation. Every request
on that credential from the first create to the last resource Ready counts, 429s included.

Figures: share of 429s (target < 1 %), the busiest second, requests per second against the limit.
Chart: the convergence chart (its lower half is requests per second by status).
"""

from __future__ import annotations

from pathlib import Path

from bench import Result, convergence
from bench._measure import over, peak_per_second

MAX_SHARE = 0.01


def run(out: Path, count: int | None = None) -> Result:
    r = convergence.measure(out.parent / "convergence", count or convergence.COUNT)
    limited = sum(1 for x in r.records if x.status == 429)
    share = limited / len(r.records) if r.records else 0.0
    peak, at = peak_per_second(r.records)
    mean = len(r.records) / r.elapsed
    return Result(
        name="throttling",
        metrics={"share_429": share, "requests": len(r.records), "peak_1s": peak},
        target=f"share_429<{MAX_SHARE:g}",
        passed=share < MAX_SHARE,
        table=[
            (
                "run",
                f"convergence of {r.count} resources, emulator limited to {convergence.RATE:g} requests/s "
                f"(burst {convergence.BURST}), {r.elapsed:.1f} s",
            ),
            ("requests on the credential", str(len(r.records))),
            ("answered 429", f"{limited} ({share:.2%}; target < {MAX_SHARE:.0%}){over(share, MAX_SHARE)}"),
            ("mean rate", f"{mean:.1f} requests/s ({mean / convergence.RATE:.0%} of the limit)"),
            ("busiest 1 s window", f"{peak} requests, {at:.1f} s in"),
            ("chart", str(r.chart)),
        ],
    )
