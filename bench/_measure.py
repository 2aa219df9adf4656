"""What the operator benchmarks measure and how: objects Ready over time (listed through the kubernetes
client), the emulator's request log by kind and phase, the minimum calls each kind needs (the lower
bound), and the chart of Ready over time against that bound.

The minimum is what Confluent's API asks of any correct client, not what this operator happens to do:

- create: the create call(s) (a CCPM plugin: the plugin, a presigned upload URL, the version; a legacy
  plugin: the URL and the plugin), plus one read per asynchronous phase that must be seen to end
  (a plugin version PROCESSING), plus one use of each new API key (with that key: another identity, so outside the
  rate limit of the operator's credential);
- update: one read and one write (a connector: its PUT, its config being in the cluster's expanded
  list; a RoleBinding, which Confluent never changes, is replaced: one read, a create and a delete;
  an Invitation has nothing to update);
- delete: one DELETE (every delete of ours answers once done; a CCPM plugin's takes its versions);
- shared: one expanded connector list per cluster (the only place with connectors' IDs; it shows
  every connector's state, so it also sees them RUNNING), one read of the organisation (CRN patterns)
  and one of the Kafka cluster (a key's endpoints), once per run.
- resync: one read per resource (connectors: their cluster's list, shared); a CCPM plugin one more
  share, see `resync_reads_minimum`.
Uploads to the object store and the probes with new keys are not the operator's credential's calls:
they count in the lifecycle total, never against the rate limit.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._stack import KIND_OF, PLURALS, Stack
from ccloud_emulator import RequestRecord

# --- which kind a request is for -------------------------------------------------------------------

_ROUTES = [
    (re.compile(r"^/iam/v2/service-accounts"), "ServiceAccount"),
    (re.compile(r"^/iam/v2/api-keys"), "ApiKey"),
    (re.compile(r"^/kafka/v3/"), "ApiKey"),  # a new Kafka key's first use
    (
        re.compile(
            r"^/(ccpm/v1/(plugins|presigned-upload-url)|connect/v1/(custom-connector-plugins|presigned-upload-url))"
        ),
        "ConnectorPlugin",
    ),
    (re.compile(r"^/_uploads/"), "ConnectorPlugin"),
    (re.compile(r"^/connect/v1/environments/[^/]+/clusters/[^/]+/connectors"), "CustomConnector"),
    (re.compile(r"^/iam/v2/role-bindings"), "RoleBinding"),
    (re.compile(r"^/iam/v2/ip-groups"), "IpGroup"),
    (re.compile(r"^/iam/v2/ip-filters"), "IpFilter"),
    (re.compile(r"^/iam/v2/(invitations|users)"), "Invitation"),
    (re.compile(r"^/iam/v2/identity-providers/[^/]+/identity-pools"), "IdentityPool"),
    (re.compile(r"^/iam/v2/identity-providers"), "IdentityProvider"),
]
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def kind_of(record: RequestRecord) -> str:
    """The kind a request serves, or "shared" (organisation, environment, cluster, STS reads)."""
    for pattern, kind in _ROUTES:
        if pattern.match(record.path):
            return kind
    return "shared"


def is_write(record: RequestRecord) -> bool:
    # POST ...:search style reads do not exist in these APIs; a POST is a write (an upload too).
    return record.method in _WRITES


def window(records: Iterable[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    return [r for r in records if start <= r.time < end]


def by_kind(records: Iterable[RequestRecord]) -> Counter[str]:
    return Counter(kind_of(r) for r in records)


def dump(path: Path, records: Iterable[RequestRecord], start: float, key: str) -> Path:
    """The requests as a table (seconds since `start`, method, path, status, kind, whether on the
    operator's credential `key`, another key or none), for reading later."""
    lines = ["seconds\tmethod\tpath\tstatus\tkind\tcredential"]
    lines += [
        f"{r.time - start:.3f}\t{r.method}\t{r.path}\t{r.status}\t{kind_of(r)}\t{_whose(r, key)}"
        for r in sorted(records, key=lambda r: r.time)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _whose(record: RequestRecord, key: str) -> str:
    return "operator" if record.identity == key else "other key" if record.identity else "-"


def peak_per_second(records: list[RequestRecord]) -> tuple[int, float]:
    """The most requests in any 1-second sliding window, and when (seconds since the first)."""
    times = sorted(r.time for r in records)
    best, at = 0, 0.0
    for i, t in enumerate(times):
        j = bisect.bisect_left(times, t + 1.0)
        if j - i > best:
            best, at = j - i, t - times[0]
    return best, at


# --- the minimum ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Minimum:
    """The fewest calls a phase needs: on the operator's credential, and in all (uploads, new keys' use)."""

    credential: int
    total: int


def _plugin_is_legacy(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("legacy"))


def _versions(obj: Mapping[str, Any]) -> int:
    return len((obj.get("spec") or {}).get("versions") or [])


def create_minimum(obj: Mapping[str, Any], *, async_phases: bool) -> Minimum:
    kind = obj["kind"]
    if kind == "ConnectorPlugin":
        if _plugin_is_legacy(obj):
            return Minimum(2, 3)  # presigned URL, plugin; + the upload
        versions = _versions(obj)
        calls = 1 + 2 * versions + (versions if async_phases else 0)  # plugin; URL + version each; READY seen
        return Minimum(calls, calls + versions)  # + an upload each
    if kind == "ApiKey":
        return Minimum(1, 2)  # the create; + one use of the new key
    if kind in PLURALS:
        return Minimum(1, 1)  # a CustomConnector's reads are the shared list per cluster
    return Minimum(0, 0)  # a Secret or a ConfigMap the workload carries: no Confluent call


def update_minimum(obj: Mapping[str, Any]) -> int:
    kind = obj["kind"]
    if kind == "Invitation":
        return 0
    if kind == "RoleBinding":
        return 3  # read, create the new binding, delete the old
    if kind == "CustomConnector":
        return 1  # the PUT: the config is in the shared expanded list (counted once per cluster)
    return 2 if kind in PLURALS else 0


def delete_minimum(obj: Mapping[str, Any]) -> int:
    if obj["kind"] == "ConnectorPlugin" and not _plugin_is_legacy(obj):
        return 1  # deleting the plugin takes its versions with it
    return 1 if obj["kind"] in PLURALS else 0


def resync_reads_minimum(objects: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The reads per resource per resync of each kind present: 1 (a connector's is its share of its
    cluster's list, counted as 1 here all the same).

    A CCPM ConnectorPlugin needs two things read, in two answers that cannot be one: its versions (only
    its own versions list has them; no plugin answer does, and a 404 from that list says the plugin is
    gone) and its display name and description (only the plugin's GET or its environment's plugin list
    has them). One plugin list serves every plugin of an environment, so a round of resyncs costs one
    versions list per plugin and one plugin list per environment: 1 + environments / plugins each.
    A legacy plugin is one GET.
    """
    objects = list(objects)
    minimum = {o["kind"]: 1.0 for o in objects}
    plugins = [o for o in objects if o["kind"] == "ConnectorPlugin"]
    if plugins:
        environments = {(o.get("spec") or {}).get("environment") for o in plugins if not _plugin_is_legacy(o)}
        minimum["ConnectorPlugin"] = (len(plugins) + len(environments)) / len(plugins)
    return minimum


def shared_minimum(objects: Iterable[Mapping[str, Any]]) -> int:
    """Reads many objects share, once per run: each cluster's connector list, the organisation, the cluster."""
    kinds = Counter(o["kind"] for o in objects)
    clusters = {((o.get("spec") or {}).get("kafkaCluster")) for o in objects if o["kind"] == "CustomConnector"}
    reads = len(clusters)  # one expanded list per cluster: the IDs (only it has them) and every state
    reads += 1 if kinds["RoleBinding"] or kinds["IpFilter"] else 0  # the organisation's ID, for CRNs
    reads += 1 if kinds["ApiKey"] else 0  # the cluster's endpoints, for Kafka keys
    return reads


def lower_bound(objects: list[dict[str, Any]], rate: float, burst: int, chain_delay: float) -> tuple[float, int]:
    """Seconds the objects need at best: the credential's minimum calls beyond the burst ÷ rate, plus the
    longest chain of Confluent's own delays; and that number of calls."""
    calls = sum(create_minimum(o, async_phases=chain_delay > 0).credential for o in objects)
    calls += shared_minimum(objects)
    return max(0, calls - burst) / rate + chain_delay, calls


# --- objects Ready over time ------------------------------------------------------------------------


def ready(obj: Mapping[str, Any], *, current: bool = False) -> bool:
    """Ready=True (and, with `current`, for the object's latest generation)."""
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return False
            if not current:
                return True
            generation = (obj.get("metadata") or {}).get("generation")
            return bool(status.get("observedGeneration") == generation and cond.get("observedGeneration") == generation)
    return False


Key = tuple[str, str]  # plural, name


@dataclass
class Sampler:
    """Lists every kind in the namespace every `interval` seconds in a thread; keeps the latest view,
    the count that satisfies `count` over time, and when each object first did."""

    stack: Stack
    interval: float = 0.5
    count: Callable[[Mapping[str, Any]], bool] = ready
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # wall time, counted, present
    first: dict[Key, float] = field(default_factory=dict)
    latest: dict[Key, dict[str, Any]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self) -> dict[Key, dict[str, Any]]:
        now = time.time()
        view = {(p, o["metadata"]["name"]): o for p in PLURALS.values() for o in self.stack.list(p)}
        counted = 0
        with self._lock:
            for key, obj in view.items():
                if self.count(obj):
                    counted += 1
                    self.first.setdefault(key, now)
            self.latest = view
            self.timeline.append((now, counted, len(view)))
        return view

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.sample()
            except Exception as exc:  # the apiserver may be slow for a moment: sample again
                self._error = exc
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def start(self, count: Callable[[Mapping[str, Any]], bool] | None = None) -> Sampler:
        """Start afresh (a new timeline), counting what `count` says."""
        self.stop()
        if count is not None:
            self.count = count
        self.timeline, self.first = [], {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ready-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wait(self, what: str, done: Callable[[dict[Key, dict[str, Any]]], bool], timeout: float) -> float:
        """Wait until `done(latest view)`; return the wall time it was first seen so. Raises on timeout."""
        deadline = time.monotonic() + timeout
        seen = len(self.timeline)
        while time.monotonic() < deadline:
            with self._lock:
                fresh = self.timeline[seen:]
                view = self.latest
            if fresh and done(view):
                return fresh[-1][0]
            if self.stack.operator.returncode is not None:
                raise RuntimeError(f"the operator exited ({self.stack.operator.returncode}) waiting for {what}")
            time.sleep(self.interval / 2)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}: {_stuck(self.latest, self.count)}")

    def wait_counted(self, what: str, total: int, timeout: float) -> float:
        return self.wait(what, lambda view: sum(1 for o in view.values() if self.count(o)) >= total, timeout)


def _stuck(view: Mapping[Key, Mapping[str, Any]], count: Callable[[Mapping[str, Any]], bool]) -> str:
    """Which kinds hold things up, and the reason of one of each: for the error message."""
    stuck: dict[str, list[str]] = defaultdict(list)
    for (plural, name), obj in view.items():
        if not count(obj):
            conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
            reason = (conds.get("Ready") or {}).get("reason", "no Ready condition")
            stuck[KIND_OF[plural]].append(f"{name} ({reason})")
    return "; ".join(f"{kind}: {len(names)} not yet, e.g. {names[0]}" for kind, names in stuck.items()) or "none"


def ready_curve(first: Mapping[Key, float], start: float) -> list[float]:
    """Seconds since `start` at which each object first counted, sorted."""
    return sorted(t - start for t in first.values())


# --- the chart --------------------------------------------------------------------------------------


def chart(
    path: Path,
    title: str,
    curves: Mapping[str, list[float]],
    total: int,
    bound: float | None,
    *,
    ylabel: str = "resources Ready",
    rate_records: list[RequestRecord] | None = None,
    start: float | None = None,
    limit: float | None = None,
) -> Path:
    """Objects counted over time (a step per curve) against the lower bound; optionally requests/s below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if rate_records else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10, 4.5 * rows), sharex=True, squeeze=False)
    top = axes[0][0]
    end = max([max(c) for c in curves.values() if c] + [bound or 0.0, 1.0])
    for label, xs in curves.items():
        top.step([0.0, *xs, end], [0, *range(1, len(xs) + 1), len(xs)], where="post", label=label, linewidth=2)
    if bound is not None:
        top.plot([0, bound], [0, total], color="black", linestyle="--", linewidth=1, label=f"lower bound {bound:.1f}s")
        top.axvline(bound, color="black", linestyle=":", linewidth=1)
    top.axhline(total, color="grey", linewidth=0.8)
    top.set_ylabel(ylabel)
    top.set_title(title)
    top.legend(loc="lower right")
    if rate_records and start is not None:
        bottom = axes[1][0]
        seconds = int(max(r.time - start for r in rate_records)) + 1
        ok = Counter(int(r.time - start) for r in rate_records if r.status != 429)
        limited = Counter(int(r.time - start) for r in rate_records if r.status == 429)
        xs = list(range(seconds))
        bottom.bar(xs, [ok[x] for x in xs], width=0.9, align="edge", color="#4c72b0", label="answered")
        bottom.bar(xs, [limited[x] for x in xs], width=0.9, align="edge", bottom=[ok[x] for x in xs],
                   color="#c44e52", label="429")  # fmt: skip
        if limit is not None:
            bottom.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:g}/s")
        bottom.set_ylabel("requests per second")
        bottom.legend(loc="upper right")
    axes[-1][0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def over(value: float, target: float) -> str:
    """How far a figure is past its target, for the table: "" when it is within."""
    return "" if value <= target else f"  MISS by {value - target:.3g} ({value / target - 1:+.0%})"


def under(value: float, target: float) -> str:
    return "" if value >= target else f"  MISS by {target - value:.3g} ({value / target - 1:+.0%})"
