"""restart: the operator restarted with 2,000 Ready resources, under a rate limit.

The stack is the real one (kube-apiserver, the emulator on 127.0.0.1, the operator as a process with
its default settings). 2,000 resources of every kind (`workload.mix(2000)`) are made Ready with no
rate limit; then the operator is stopped, the emulator limited to 50 requests a second (50 deep) on
the operator's Cloud API key, its request log cleared, and the operator started again.

An object is re-observed at the first request whose path names its Confluent ID (a connector: its
name, or its cluster's connector list). Clock: from the restart until every object has been.
The lower bound is one read per object (one list per cluster for the connectors), beyond the bucket's
burst, over the rate.

Figures: time to re-observe everything, against that bound; the most requests in any 1-second window
(target: never above the limit the governor learns from X-RateLimit-Limit, 50); 429s; writes.
Chart: objects re-observed over time against the bound, and requests per second by status.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import Result
from bench._measure import Key, Sampler, chart, dump, is_write, over, peak_per_second, ready
from bench._stack import KIND_OF, Stack, stack

COUNT = 2000
RATE = 50.0
BURST = 50


def _tokens(view: dict[Key, dict[str, Any]]) -> tuple[dict[str, Key], dict[str, list[Key]], dict[Key, str]]:
    """What marks each object re-observed: its ID (or a connector's name) as a path segment, and each
    cluster's connector list; and why an object has neither."""
    by_segment: dict[str, Key] = {}
    by_list: dict[str, list[Key]] = defaultdict(list)
    unmarked: dict[Key, str] = {}
    for key, obj in view.items():
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if KIND_OF[key[0]] == "CustomConnector":
            name = spec.get("connectorName") or key[1]
            by_segment[name] = key
            by_list[
                f"/connect/v1/environments/{spec['environment']}/clusters/{spec['kafkaCluster']}/connectors"
            ].append(key)
        elif status.get("id"):
            by_segment[str(status["id"])] = key
        else:
            unmarked[key] = "no status.id"
    return by_segment, by_list, unmarked


def _observed(s: Stack, since: float, view: dict[Key, dict[str, Any]]) -> dict[Key, float]:
    by_segment, by_list, _ = _tokens(view)
    seen: dict[Key, float] = {}
    for r in s.emulator.requests:
        if r.time < since or r.identity != s.emulator.api_key:
            continue
        for key in by_list.get(r.path, []):
            seen.setdefault(key, r.time)
        for segment in r.path.split("/"):
            if (key := by_segment.get(segment)) is not None:
                seen.setdefault(key, r.time)
    return seen


def run(out: Path) -> Result:
    from ccloud_testenv import workload

    with stack("restart") as s:
        objects = s.manifests(workload.mix(COUNT))
        sampler = Sampler(s, interval=2.0).start(ready)
        s.create(objects)
        sampler.wait_counted(f"{len(objects)} resources Ready", len(objects), timeout=900)
        sampler.stop()
        view = dict(sampler.sample())
        _, by_list, unmarked = _tokens(view)
        time.sleep(5)  # the last status writes land

        s.operator.stop()
        s.emulator.set_rate_limit(rate=RATE, burst=BURST)
        s.emulator.clear_requests()
        began = s.restart_operator(reason="the restart benchmark")
        healthy = time.time() - began
        deadline = time.monotonic() + 900
        marked = len(view) - len(unmarked)
        while True:
            seen = _observed(s, began, view)
            if len(seen) >= marked or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        done = max(seen.values(), default=began)
        time.sleep(3)
        records = [r for r in s.emulator.requests if r.time >= began and r.identity == s.emulator.api_key]
        still_ready = sum(1 for obj in sampler.sample().values() if ready(obj))
    within = [r for r in records if r.time <= done]
    dump(out / "requests.tsv", records, began, s.emulator.api_key)
    peak, at = peak_per_second(records)
    limited = sum(1 for r in records if r.status == 429)
    writes = sum(1 for r in within if is_write(r))
    connectors = sum(len(v) for v in by_list.values())
    reads_needed = len(view) - connectors + len(by_list)
    bound = max(0, reads_needed - BURST) / RATE
    elapsed = done - began
    first = min((r.time for r in records), default=began)
    working = done - first  # from the restarted operator's first call
    missing = marked - len(seen)
    path = chart(
        out / "restart.png",
        f"operator restarted with {len(view)} Ready resources, emulator limited to {RATE:g} requests/s",
        {"re-observed (first request naming it)": sorted(t - began for t in seen.values())},
        len(view),
        bound,
        ylabel="resources re-observed",
        rate_records=records,
        start=began,
        limit=RATE,
    )
    passed = peak <= BURST and missing == 0 and not unmarked
    return Result(
        name="restart",
        metrics={
            "reobserved_s": elapsed,
            "bound_s": bound,
            "ratio": working / bound if bound else 0.0,
            "peak_1s": peak,
            "limit": BURST,
        },
        target=f"peak_1s<={BURST},all_reobserved",
        passed=passed,
        table=[
            ("resources", f"{len(view)} Ready ({connectors} connectors in {len(by_list)} cluster(s))"),
            ("emulator after the restart", f"{RATE:g} requests/s, burst {BURST} (X-RateLimit-Limit {BURST})"),
            ("operator healthy after", f"{healthy:.1f} s; its first call after {first - began:.1f} s"),
            ("every resource re-observed after", f"{elapsed:.1f} s" + (f" ({missing} never were)" if missing else "")),
            (
                "lower bound",
                f"{bound:.1f} s = ({reads_needed} reads - {BURST}) / {RATE:g}; from the first call "
                f"{working:.1f} s, ratio {working / bound:.2f}"
                if bound
                else "0",
            ),
            (
                "requests until then",
                f"{len(within)} ({len(within) / max(1, len(view)):.2f} per resource), {writes} writes",
            ),
            ("busiest 1 s window", f"{peak} requests at {at:.1f} s (target <= {BURST}){over(peak, BURST)}"),
            ("answered 429", f"{limited} of {len(records)} ({limited / max(1, len(records)):.2%})"),
            ("still Ready afterwards", f"{still_ready} of {len(view)}"),
            ("without an ID to look for", f"{len(unmarked)}" + (f": {sorted(unmarked)[:3]}" if unmarked else "")),
            ("chart", str(path)),
        ],
    )
