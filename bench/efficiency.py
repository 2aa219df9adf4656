"""efficiency: Confluent calls per resource lifecycle against the minimum, and per resource per resync.

The stack is the real one (kube-apiserver, the emulator on 127.0.0.1 answering at once and without a
rate limit, the operator as a process). 200 resources of every kind (`workload.mix`) go through one
life, each phase timed from its first kube call until the emulator has been quiet for 3 s:

1. create, until every object is Ready;
2. one update of each (a description, a connector's topic, a role, a CIDR, a filter's name: see
   `update_patch`; an Invitation has nothing to update), until every object is Ready for its new
   generation;
3. steady state: the operator restarted with CCLOUD_RESYNC_SECONDS=10, left 20 s to re-observe, then
   watched for 40 s; the calls by kind against its own count of reconciles (`ccloud_reconciles_total`);
4. the operator restarted with the default resync, then every object deleted, until all are gone.

The minimum of each phase is `bench._measure`'s (the calls any correct client needs).

Figures: lifecycle calls / minimum (target <= 1.1); at steady state, reads per resource per resync
(target 1; connectors share one list per cluster; a CCPM plugin 1 and its share of its environment's
plugin list, `resync_reads_minimum`) and writes (target 0).
Chart: calls per kind and phase against the minimum.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import Result
from bench._measure import (
    Sampler,
    create_minimum,
    delete_minimum,
    dump,
    is_write,
    kind_of,
    over,
    ready,
    resync_reads_minimum,
    shared_minimum,
    update_minimum,
    window,
)
from bench._stack import PLURALS, Stack, stack

COUNT = 200
RESYNC = 10.0
SETTLE = 20.0
WATCH = 40.0
QUIET = 3.0
MAX_RATIO = 1.1


def update_patch(obj: dict[str, Any]) -> dict[str, Any] | None:
    """One change of each kind's spec that Confluent has to be told about (None: nothing to change)."""
    kind, spec = obj["kind"], obj["spec"]
    if kind in ("ServiceAccount", "ApiKey", "ConnectorPlugin", "IdentityProvider", "IdentityPool"):
        return {"spec": {"description": "updated by the efficiency benchmark"}}
    if kind == "CustomConnector":
        return {"spec": {"config": {"kafka.topic": f"{spec['config']['kafka.topic']}-updated"}}}
    if kind == "RoleBinding":
        return {"spec": {"roleName": "DeveloperRead"}}
    if kind == "IpGroup":
        return {"spec": {"cidrBlocks": [*spec["cidrBlocks"], "192.0.2.0/24"]}}
    if kind == "IpFilter":
        return {"spec": {"filterName": f"{spec['filterName']}-u"}}
    return None  # an Invitation: an e-mail address and nothing else


def _quiet(s: Stack, since: float, timeout: float = 60.0) -> float:
    """Wait until the emulator has had no request for QUIET seconds; the time of the last one."""
    deadline = time.monotonic() + timeout
    while True:
        last = max((r.time for r in s.emulator.requests[-50:]), default=since)
        if time.time() - last >= QUIET or time.monotonic() > deadline:
            return max(last, since) + 1e-3
        time.sleep(0.5)


def _phase(s: Stack, start: float, end: float) -> Counter[str]:
    return Counter(kind_of(r) for r in window(s.emulator.requests, start, end))


def _chart(out: Path, measured: dict[str, Counter[str]], minimum: dict[str, Counter[str]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({k for c in (*measured.values(), *minimum.values()) for k in c})
    fig, axes = plt.subplots(1, len(measured), figsize=(5 * len(measured), 5), sharey=True)
    for ax, (phase, counts) in zip(axes, measured.items(), strict=True):
        ys = range(len(kinds))
        ax.barh([y + 0.2 for y in ys], [counts[k] for k in kinds], height=0.4, color="#4c72b0", label="measured")
        ax.barh([y - 0.2 for y in ys], [minimum[phase][k] for k in kinds], height=0.4, color="#bbbbbb",
                label="minimum")  # fmt: skip
        ax.set_yticks(list(ys), kinds)
        ax.set_title(phase)
        ax.set_xlabel("calls")
    axes[0].invert_yaxis()
    axes[-1].legend(loc="lower right")
    fig.suptitle("Confluent calls per phase, by kind, against the minimum")
    fig.tight_layout()
    path = out / "efficiency.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: Path) -> Result:
    from ccloud_testenv import workload

    measured: dict[str, Counter[str]] = {}
    with stack("efficiency") as s:
        objects = s.manifests(workload.mix(COUNT))
        total = len(objects)
        sampler = Sampler(s, interval=0.5)

        # 1. create
        sampler.start(ready)
        start = time.time()
        s.create(objects)
        sampler.wait_counted("every resource Ready", total, timeout=300)
        end = _quiet(s, start)
        measured["create"] = _phase(s, start, end)
        dump(out / "requests-create.tsv", window(s.emulator.requests, start, end), start, s.emulator.api_key)

        # 2. one update each
        sampler.start(lambda o: ready(o, current=True))
        start = time.time()
        updated = 0
        for obj in objects:
            if (patch := update_patch(obj)) is not None:
                s.patch(PLURALS[obj["kind"]], obj["metadata"]["name"], patch)
                updated += 1
        time.sleep(1.0)  # the generations move before the view is read
        sampler.wait_counted("every resource Ready for its new generation", total, timeout=300)
        end = _quiet(s, start)
        measured["update"] = _phase(s, start, end)
        dump(out / "requests-update.tsv", window(s.emulator.requests, start, end), start, s.emulator.api_key)
        sampler.stop()

        # 3. steady state, resyncing every RESYNC seconds
        s.restart_operator({"CCLOUD_RESYNC_SECONDS": str(RESYNC)}, "steady state with a short resync")
        time.sleep(SETTLE)
        reconciles_before = s.metric("ccloud_reconciles_total")
        start = time.time()
        time.sleep(WATCH)
        end = time.time()
        reconciles = Counter(s.metric("ccloud_reconciles_total"))
        reconciles.subtract(Counter(reconciles_before))
        steady = window(s.emulator.requests, start, end)
        dump(out / "requests-steady.tsv", steady, start, s.emulator.api_key)

        # 4. delete
        s.restart_operator({"CCLOUD_RESYNC_SECONDS": "600"}, "back to the default resync")
        _quiet(s, time.time())
        sampler.start(lambda o: True)
        start = time.time()
        for obj in reversed(objects):
            s.delete(PLURALS[obj["kind"]], obj["metadata"]["name"])
        sampler.wait("every resource deleted", lambda view: not view, timeout=300)
        sampler.stop()
        end = _quiet(s, start)
        measured["delete"] = _phase(s, start, end)
        dump(out / "requests-delete.tsv", window(s.emulator.requests, start, end), start, s.emulator.api_key)

    minimum: dict[str, Counter[str]] = {"create": Counter(), "update": Counter(), "delete": Counter()}
    for obj in objects:
        minimum["create"][obj["kind"]] += create_minimum(obj, async_phases=False).total
        minimum["update"][obj["kind"]] += update_minimum(obj)
        minimum["delete"][obj["kind"]] += delete_minimum(obj)
    # The expanded list is a connector call by its path, and needed once per cluster.
    clusters = {o["spec"]["kafkaCluster"] for o in objects if o["kind"] == "CustomConnector"}
    minimum["create"]["CustomConnector"] += len(clusters)
    minimum["create"]["shared"] += shared_minimum(objects) - len(clusters)
    minimum["update"]["CustomConnector"] += len(clusters)
    lifecycle = sum(sum(c.values()) for c in measured.values())
    least = sum(sum(c.values()) for c in minimum.values())
    ratio = lifecycle / least

    kinds = Counter(o["kind"] for o in objects)
    reads = Counter(kind_of(r) for r in steady if not is_write(r))
    writes = Counter(kind_of(r) for r in steady if is_write(r))
    resyncs = sum(v for k, v in reconciles.items() if k)
    per_resync: dict[str, float] = {}
    for kind in kinds:
        per_resync[kind] = reads[kind] / reconciles[kind] if reconciles[kind] else float("nan")
    shared_reads = reads["shared"]
    reads_all = sum(reads.values()) / max(1, resyncs)
    plain = [k for k in kinds if k != "CustomConnector"]
    reads_plain = sum(reads[k] for k in plain) / max(1, sum(reconciles[k] for k in plain))
    steady_writes = sum(writes.values())
    path = _chart(out, measured, minimum)
    least_reads = resync_reads_minimum(objects)
    worst = max(kinds, key=lambda k: per_resync[k] / least_reads[k] if per_resync[k] == per_resync[k] else 0.0)
    worst_reads, worst_least = per_resync[worst], least_reads[worst]
    passed = ratio <= MAX_RATIO and worst_reads <= worst_least and steady_writes == 0

    table: list[tuple[str, str]] = [
        ("resources", f"{total} ({COUNT // len(kinds)} of each kind); {updated} updated (Invitations have no update)"),
        ("lifecycle calls (create + update + delete)", f"{lifecycle} against a minimum of {least}"),
        ("lifecycle / minimum", f"{ratio:.3f} (target <= {MAX_RATIO:g}){over(ratio, MAX_RATIO)}"),
    ]
    for phase in ("create", "update", "delete"):
        table.append((f"{phase} calls", f"{sum(measured[phase].values())} (minimum {sum(minimum[phase].values())})"))
        for kind in sorted(set(measured[phase]) | set(minimum[phase])):
            n = kinds.get(kind, 0)
            each = (
                f", {measured[phase][kind] / n:.2f} per resource (minimum {minimum[phase][kind] / n:.2f})" if n else ""
            )
            table.append((f"  {kind}", f"{measured[phase][kind]}{each}"))
    table += [
        (
            "steady state",
            f"resync {RESYNC:g} s (+ up to 10 % jitter), watched {WATCH:g} s: {resyncs:.0f} reconciles, "
            f"{len(steady)} calls",
        ),
        ("  reads per resource per resync", f"{reads_all:.3f}, every read counted (target <= 1){over(reads_all, 1.0)}"),
        ("  the same, all but connectors and shared reads", f"{reads_plain:.3f}"),
        (
            "  the most of any kind, against its minimum",
            f"{worst_reads:.3f} ({worst}; target <= {worst_least:.3g}){over(worst_reads, worst_least)}",
        ),
        ("  writes", f"{steady_writes} (target 0){over(steady_writes, 0)}"),
    ]
    for kind in sorted(kinds):
        table.append(
            (
                f"  {kind}",
                f"{reads[kind]} reads / {reconciles[kind]:.0f} resyncs = {per_resync[kind]:.3f} "
                f"(minimum {least_reads[kind]:.3g})",
            )
        )
    table += [
        (
            "  connector lists (one per cluster shared)",
            f"{reads['CustomConnector']} in {WATCH:g} s for "
            f"{len(clusters)} cluster(s), {kinds['CustomConnector']} connectors",
        ),
        ("  shared reads (organisation, cluster)", str(shared_reads)),
        ("chart", str(path)),
    ]
    return Result(
        name="efficiency",
        metrics={
            "lifecycle_ratio": ratio,
            "reads_per_resync": reads_all,
            "worst_kind_reads_per_resync": worst_reads,
            "worst_kind_reads_minimum": worst_least,
            "steady_writes": steady_writes,
        },
        target=f"lifecycle_ratio<={MAX_RATIO:g},worst_kind_reads_per_resync<=worst_kind_reads_minimum,steady_writes=0",
        passed=passed,
        table=table,
    )
