"""convergence: N resources of every kind to Ready, against an emulator limited to 20 requests/s.

The stack is the real one: a kube-apiserver (`ccloud_testenv.ControlPlane`), the emulator on 127.0.0.1
with a token bucket of 20 requests a second (20 deep) on its Cloud API key and Confluent's own delays
(a plugin version processes for 2 s, a connector provisions for 2 s, a new key propagates for 2 s),
and the operator as a process with its default settings. `ccloud_testenv.workload` makes the objects:
`mix(N)`, an equal share of each of the ten kinds, connectors included (300 by default, `--count` up
to 2000), created through the apiserver in dependency order on 8 threads.

The clock starts when the first object is created and stops when a listing (every 0.5 s) finds every
object Ready. The lower bound is what no client can beat: the fewest calls these objects need on the
operator's credential (`bench._measure`: creates, the version's and the connectors' one read each
asynchronous phase, the shared reads), beyond the bucket's burst, divided by the rate, plus the longest
chain of Confluent's delays (version processing, then connector provisioning).

Figures: elapsed / lower bound (target <= 1.2); calls on the credential against the minimum; the
Confluent objects made against `workload.expected` (nothing duplicated).
Chart: resources Ready over time against the lower bound, and the requests per second by status.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Result
from bench._measure import (
    Sampler,
    by_kind,
    chart,
    create_minimum,
    dump,
    lower_bound,
    over,
    ready_curve,
    shared_minimum,
    window,
)
from bench._stack import stack
from ccloud_emulator import RequestRecord, Timing

COUNT = 300
RATE = 20.0
BURST = 20
TIMING = Timing(connector_provisioning=2.0, plugin_version_processing=2.0, api_key_propagation=2.0)
CHAIN = TIMING.plugin_version_processing + TIMING.connector_provisioning
MAX_RATIO = 1.2


@dataclass(frozen=True)
class Run:
    """One convergence run, kept for the throttling benchmark (it reads the same run)."""

    count: int
    objects: list[dict[str, Any]]
    applied: float  # seconds the creates took
    elapsed: float
    bound: float
    minimum_calls: int
    records: list[RequestRecord]  # on the operator's credential, from the first create to all Ready
    all_records: int
    curve: list[float]
    made: dict[str, int]
    expected: dict[str, int]
    start: float
    chart: Path


_RUNS: dict[int, Run] = {}


def measure(out: Path, count: int) -> Run:
    """Run (once per process and count) N resources to Ready under the rate limit."""
    if count in _RUNS:
        return _RUNS[count]
    from ccloud_testenv import workload

    with stack("convergence", timing=TIMING, rate=RATE) as s:
        objects = s.manifests(workload.mix(count))
        bound, minimum = lower_bound(objects, RATE, BURST, CHAIN)
        before = s.tables()
        sampler = Sampler(s, interval=0.5).start()
        s.emulator.clear_requests()
        start = time.time()
        s.create(objects)
        applied = time.time() - start
        try:
            done = sampler.wait_counted(f"{len(objects)} resources Ready", len(objects), timeout=bound * 5 + 180)
        finally:
            sampler.stop()
        after = s.tables()
        everything = window(s.emulator.requests, start, done)
        mine = [r for r in everything if r.identity == s.emulator.api_key]
        dump(out / "requests.tsv", everything, start, s.emulator.api_key)
        curve = ready_curve(sampler.first, start)
        path = chart(
            out / "convergence.png",
            f"{len(objects)} resources (every kind) to Ready, emulator limited to {RATE:g} requests/s",
            {"Ready (measured)": curve},
            len(objects),
            bound,
            rate_records=mine,
            start=start,
            limit=RATE,
        )
    run = Run(
        count=len(objects),
        objects=objects,
        applied=applied,
        elapsed=done - start,
        bound=bound,
        minimum_calls=minimum,
        records=mine,
        all_records=len(everything),
        curve=curve,
        made={table: after[table] - before[table] for table in after},
        expected=workload.expected(objects),
        start=start,
        chart=path,
    )
    _RUNS[count] = run
    return run


def run(out: Path, count: int | None = None) -> Result:
    r = measure(out, count or COUNT)
    ratio = r.elapsed / r.bound
    answered = [x for x in r.records if x.status != 429]
    calls = by_kind(answered)
    minimum_by_kind: Counter[str] = Counter()
    for obj in r.objects:
        minimum_by_kind[obj["kind"]] += create_minimum(obj, async_phases=True).credential
    # The expanded connector list is a connector call by its path, needed once per cluster.
    clusters = {o["spec"]["kafkaCluster"] for o in r.objects if o["kind"] == "CustomConnector"}
    minimum_by_kind["CustomConnector"] += len(clusters)
    minimum_by_kind["shared"] += shared_minimum(r.objects) - len(clusters)
    limited = sum(1 for x in r.records if x.status == 429)
    duplicated = {t: r.made[t] - n for t, n in r.expected.items() if r.made[t] != n}
    passed = ratio <= MAX_RATIO and not duplicated
    table: list[tuple[str, str]] = [
        ("resources", f"{r.count} ({', '.join(f'{k} {v}' for k, v in Counter(o['kind'] for o in r.objects).items())})"),
        ("emulator", f"{RATE:g} requests/s (burst {BURST}); version 2 s, connector 2 s, key propagation 2 s"),
        ("created through the apiserver in", f"{r.applied:.1f} s"),
        ("elapsed, first create to all Ready", f"{r.elapsed:.1f} s"),
        ("lower bound", f"{r.bound:.1f} s = ({r.minimum_calls} calls - {BURST}) / {RATE:g} + {CHAIN:g} s of delays"),
        ("elapsed / lower bound", f"{ratio:.3f} (target <= {MAX_RATIO:g}){over(ratio, MAX_RATIO)}"),
        (
            "calls on the credential (answered)",
            f"{len(answered)} against a minimum of {r.minimum_calls} "
            f"({len(answered) / r.minimum_calls:.2f}x); {limited} answered 429",
        ),
    ]
    for kind in sorted(set(calls) | set(minimum_by_kind)):
        table.append((f"  {kind}", f"{calls[kind]} calls (minimum {minimum_by_kind[kind]})"))
    table += [
        ("all requests (uploads, new keys' use)", str(r.all_records)),
        ("Confluent objects made", "as expected" if not duplicated else f"differs from expected: {duplicated}"),
        ("chart", str(r.chart)),
    ]
    return Result(
        name="convergence",
        metrics={"count": r.count, "elapsed_s": r.elapsed, "bound_s": r.bound, "ratio": ratio},
        target=f"ratio<={MAX_RATIO:g}",
        passed=passed,
        table=table,
    )
