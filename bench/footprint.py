"""footprint: the operator's memory with 1,000 and 5,000 resources, its CPU per 1,000 resyncs, and
how long one resource takes from `create` to Ready when the emulator answers at once.

The stack is the real one (kube-apiserver, the emulator on 127.0.0.1 with no delays and no rate
limit, the operator as a process with its default settings). In order:

1. apply-to-Ready: one ServiceAccount at a time, 5 times, on the idle operator: from the create call
   to the first GET (every 20 ms) that shows Ready=True;
2. 1,000 resources of every kind (`workload.mix(1000)`), each annotated to resync every 20 s; once all
   are Ready and 10 s have passed, VmRSS (/proc/<pid>/status); then 40 s of steady resyncing, the
   operator's utime + stime (/proc/<pid>/stat) against its count of reconciles; then the annotation
   is taken off again (the default resync);
3. 4,000 more of the cheap kinds (2,000 ServiceAccounts, 2,000 IpGroups: one call each to create,
   so the run stays within minutes on two cores), default resync; once all 5,000 are Ready and 15 s
   have passed, VmRSS again, and the peak (VmHWM).

Figures: RSS at 5,000 (target < 150 MiB), CPU seconds per 1,000 resyncs, apply-to-Ready (target < 1 s).
Chart: resources Ready over time in steps 2 and 3, with the RSS samples.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from bench import Result
from bench._measure import Sampler, over, ready, ready_curve
from bench._stack import GROUP, NAMESPACE, PLURALS, VERSION, Stack, stack

MAX_RSS_MIB = 150.0
MAX_LATENCY = 1.0
LATENCY_SAMPLES = 5
RESYNC = 20
CPU_WINDOW = 40.0
RESYNC_ANNOTATION = "ccloud.operators.dev/resync-interval"


def _latency(s: Stack, i: int) -> float:
    (obj,) = s.manifests({"ServiceAccount": 1}, tag=f"lat{i}")
    began = time.monotonic()
    s.create([obj])
    while time.monotonic() - began < 30:
        got = s.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "serviceaccounts", obj["metadata"]["name"]
        )
        if ready(got):
            return time.monotonic() - began
        time.sleep(0.02)
    raise TimeoutError("one ServiceAccount was not Ready within 30 s")


def _rss_sampler(s: Stack, samples: list[tuple[float, float]], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            samples.append((time.time(), s.rss_mib()[0]))
        except (OSError, RuntimeError):
            pass
        stop.wait(1.0)


def _chart(out: Path, curves: dict[str, list[float]], rss: list[tuple[float, float]], start: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    for label, xs in curves.items():
        top.step([0.0, *xs], range(len(xs) + 1), where="post", label=label, linewidth=2)
    top.set_ylabel("resources Ready")
    top.set_title("operator footprint: 1,000 resources of every kind, then 4,000 cheap ones")
    top.legend(loc="lower right")
    bottom.plot([t - start for t, _ in rss], [m for _, m in rss], color="#55a868", label="VmRSS")
    bottom.axhline(MAX_RSS_MIB, color="#c44e52", linestyle="--", linewidth=1, label=f"target {MAX_RSS_MIB:g} MiB")
    bottom.set_ylabel("MiB")
    bottom.set_xlabel("seconds since the first create")
    bottom.legend(loc="lower right")
    fig.tight_layout()
    path = out / "footprint.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: Path) -> Result:
    from ccloud_testenv import workload

    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    with stack("footprint") as s:
        idle_rss = s.rss_mib()[0]
        latencies = [_latency(s, i) for i in range(LATENCY_SAMPLES)]
        sampler_thread = threading.Thread(target=_rss_sampler, args=(s, rss, stop), daemon=True)
        sampler_thread.start()
        try:
            # 1,000 of every kind, resyncing every RESYNC seconds
            first = s.manifests(workload.mix(1000))
            for obj in first:
                obj["metadata"]["annotations"] = {RESYNC_ANNOTATION: str(RESYNC)}
            base = LATENCY_SAMPLES  # the latency probes stay in the namespace, Ready
            sampler = Sampler(s, interval=1.0).start(ready)
            start = time.time()
            s.create(first)
            sampler.wait_counted("1,000 resources Ready", base + len(first), timeout=600)
            curve_1000 = ready_curve(sampler.first, start)
            sampler.stop()
            time.sleep(10)
            rss_1000 = s.rss_mib()[0]

            cpu_before, reconciles_before = s.cpu_seconds(), sum(s.metric("ccloud_reconciles_total").values())
            time.sleep(CPU_WINDOW)
            cpu = s.cpu_seconds() - cpu_before
            resyncs = sum(s.metric("ccloud_reconciles_total").values()) - reconciles_before
            cpu_per_1000 = cpu / resyncs * 1000 if resyncs else float("nan")

            # Back to the default resync, so the next step measures growth, not 50 resyncs a second.
            for obj in first:
                plural = PLURALS[obj["kind"]]
                s.patch(plural, obj["metadata"]["name"], {"metadata": {"annotations": {RESYNC_ANNOTATION: None}}})

            # 4,000 more of the cheap kinds
            second = s.manifests({"ServiceAccount": 2000, "IpGroup": 2000}, tag="c")
            sampler = Sampler(s, interval=2.0).start(ready)
            second_start = time.time()
            s.create(second)
            sampler.wait_counted("5,000 resources Ready", base + len(first) + len(second), timeout=900)
            curve_5000 = sorted(t - start for (_, name), t in sampler.first.items() if name.startswith("c-"))
            sampler.stop()
            five_thousand_s = max(curve_5000, default=0.0) - (second_start - start)
            time.sleep(15)
            rss_5000, peak = s.rss_mib()
        finally:
            stop.set()
            sampler_thread.join(timeout=5)
    latency = statistics.median(latencies)
    chart = _chart(out, {"1,000 of every kind": curve_1000, "then 4,000 cheap": curve_5000}, rss, start)
    passed = rss_5000 < MAX_RSS_MIB and latency < MAX_LATENCY
    return Result(
        name="footprint",
        metrics={
            "rss_1000_mib": rss_1000,
            "rss_5000_mib": rss_5000,
            "cpu_s_per_1000_resyncs": cpu_per_1000,
            "latency_s": latency,
        },
        target=f"rss_5000_mib<{MAX_RSS_MIB:g},latency_s<{MAX_LATENCY:g}",
        passed=passed,
        table=[
            (
                "apply-to-Ready, one ServiceAccount",
                f"median {latency:.3f} s, max {max(latencies):.3f} s of "
                f"{LATENCY_SAMPLES} (target < {MAX_LATENCY:g} s){over(latency, MAX_LATENCY)}",
            ),
            ("RSS idle (no resources)", f"{idle_rss:.1f} MiB"),
            ("1,000 of every kind Ready in", f"{max(curve_1000, default=0.0):.1f} s"),
            ("RSS with 1,000", f"{rss_1000:.1f} MiB"),
            (
                "CPU per 1,000 resyncs",
                f"{cpu_per_1000:.2f} s ({cpu:.1f} s CPU for {resyncs:.0f} reconciles in "
                f"{CPU_WINDOW:g} s, resync {RESYNC} s)",
            ),
            ("4,000 cheap (2,000 ServiceAccounts, 2,000 IpGroups) Ready in", f"{five_thousand_s:.1f} s"),
            ("RSS with 5,000", f"{rss_5000:.1f} MiB (target < {MAX_RSS_MIB:g}){over(rss_5000, MAX_RSS_MIB)}"),
            ("RSS peak (VmHWM)", f"{peak:.1f} MiB"),
            ("chart", str(chart)),
        ],
    )
