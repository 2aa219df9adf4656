"""The fault suite's rig: one emulator, one operator process and one namespace per test, and the checks.

Each test gets a fresh emulator (zero timings, a random Cloud API secret) served on 127.0.0.1 through
the lifecycle tier's `Tap` (hooks that run after Confluent answered and before the operator hears it)
and a `Recorder` (it keeps every API key secret Confluent hands out, for the leak scan), a plugin
archive server, the operator as a process with short settings, and a namespace with the credentials
Secret. The checks read Confluent's side from the emulator's state and Kubernetes' side through the
admin client:

- `Rig.converged` / `wait_converged`: every object Ready for its current generation;
- `Rig.view`: what the emulator holds that the objects made, by natural key (so a duplicate shows);
- `assert_exactly_once`, `assert_secrets_hold_live_keys`, `delete_all`, `assert_nothing_left`;
- `Rig.assert_no_secret_leaked`: no secret value the test used in the operator's log, an Event or a
  status (statuses are sampled at every poll, so objects deleted since are covered too).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
import uvicorn
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator, Timing
from ccloud_testenv import workload
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.files import plugin_archive, serve_bytes
from ccloud_testenv.operator_process import OperatorProcess
from lifecycle.conftest import OPERATOR_SETTINGS, Kube, Tap, namespace_with_credentials

GROUP, VERSION = "ccloud.operators.dev", "v1alpha1"
ARCHIVE = plugin_archive()
# Short waits and a small retry cap: the suite measures recovery, and must be quick about it.
FAULT_SETTINGS = {
    **OPERATOR_SETTINGS,
    "CCLOUD_RETRY_CAP_SECONDS": "4",
    "CCLOUD_SHARED_READ_SECONDS": "2",
    "CCLOUD_FAILED_GRACE_SECONDS": "5",
}
# Everything the operator creates, as the emulator routes them (for kills right after a create).
CREATES = (
    "/iam/v2/service-accounts",
    "/iam/v2/api-keys",
    "/ccpm/v1/presigned-upload-url",
    "/ccpm/v1/plugins",
    "/ccpm/v1/plugins/*/versions",
    "/connect/v1/environments/*/clusters/*/connectors",
    "/iam/v2/role-bindings",
    "/iam/v2/ip-groups",
    "/iam/v2/ip-filters",
    "/iam/v2/invitations",
    "/iam/v2/identity-providers",
    "/iam/v2/identity-providers/*/identity-pools",
)
# What the operator deletes (fnmatch: a trailing * covers what lies below it too).
DELETES = (
    "/iam/v2/service-accounts/*",
    "/iam/v2/api-keys/*",
    "/ccpm/v1/plugins/*",
    "/connect/v1/environments/*/clusters/*/connectors/*",
    "/iam/v2/role-bindings/*",
    "/iam/v2/ip-groups/*",
    "/iam/v2/ip-filters/*",
    "/iam/v2/invitations/*",
    "/iam/v2/identity-providers/*",
)
PASSWORD_KEY = "database.password"
SECRET_RUN = re.compile(r"[A-Za-z0-9+/]{32,}")
TRACEBACK = "Traceback (most recent call last)"


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own
        pass


@dataclass
class Recorder:
    """An ASGI wrapper that keeps the secret of every API key Confluent creates (POST /iam/v2/api-keys)."""

    app: Any
    found: set[str] = field(default_factory=set)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/iam/v2/api-keys":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        created = [False]

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                created[0] = 200 <= message["status"] < 300
            elif message["type"] == "http.response.body" and created[0]:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    with contextlib.suppress(ValueError, LookupError, AttributeError, TypeError):
                        secret = json.loads(bytes(body))["spec"]["secret"]
                        if isinstance(secret, str) and secret:
                            self.found.add(secret)
            await send(message)

        await self.app(scope, receive, keep)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _transient(exc: BaseException) -> bool:
    """An apiserver call that failed because the apiserver is restarting, or briefly overwhelmed."""
    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504)
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


def retrying(call: Callable[[], Any], timeout: float = 60.0) -> Any:
    """`call()`, again while the apiserver is away (a restart), up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception as exc:
            if not _transient(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@dataclass
class View:
    """What Confluent holds that a list of objects made: natural keys, one entry per Confluent object."""

    service_accounts: list[str]
    api_keys: list[str]  # key IDs owned by those service accounts
    plugins: list[str]
    plugin_versions: list[tuple[str, str]]  # (plugin display name, version)
    connectors: list[str]
    role_bindings: list[tuple[str, str, str]]
    ip_groups: list[str]
    ip_filters: list[str]
    invitations: list[str]
    live_users: list[str]  # invited users who are not deactivated
    identity_providers: list[str]
    identity_pools: list[str]
    service_account_ids: set[str]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in vars(self).items() if isinstance(v, list)}


@dataclass
class Rig:
    """One test's emulator, operator, namespace and archive, and the checks the fault tests share."""

    emulator: Emulator
    tap: Tap
    recorder: Recorder
    url: str
    operator: OperatorProcess
    kube: Kube
    place: workload.Place
    control_plane: ControlPlane
    password: str
    statuses_seen: set[str] = field(default_factory=set)
    known_sa_ids: set[str] = field(default_factory=set)

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return self.kube.custom

    def objects(self, per_kind: int | dict[str, int], tag: str) -> list[dict[str, Any]]:
        """The workload in this namespace; every connector also sends a password from Secret `db`."""
        counts = per_kind if isinstance(per_kind, dict) else dict.fromkeys(workload.ALL_KINDS, per_kind)
        made = workload.manifests(counts, self.namespace, self.place, tag=tag)
        for obj in made:
            if obj["kind"] == "CustomConnector":
                ref = {"name": "db", "key": "password"}
                obj["spec"]["sensitiveConfig"] = [{"name": PASSWORD_KEY, "secretKeyRef": ref}]
        return made

    # -- Kubernetes' side -----------------------------------------------------------------------

    def listing(self, kind: str) -> list[dict[str, Any]]:
        found: dict[str, Any] = retrying(
            lambda: self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, workload.PLURALS[kind])
        )
        items: list[dict[str, Any]] = found["items"]
        return items

    def states(self, kinds: Sequence[str] = workload.ALL_KINDS) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of these kinds in the namespace, by (kind, name); their statuses are kept for the scan."""
        found = {}
        for kind in kinds:
            for obj in self.listing(kind):
                found[(kind, obj["metadata"]["name"])] = obj
                self.statuses_seen.add(json.dumps(obj.get("status") or {}))
        return found

    def not_converged(self, objects: Sequence[dict[str, Any]]) -> list[str]:
        """What keeps `objects` from being Ready for their current generation, one line each."""
        now = self.states(sorted({o["kind"] for o in objects}))
        late = []
        for obj in objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            found = now.get((kind, name))
            if found is None:
                late.append(f"{kind} {name}: missing")
                continue
            ready = ready_condition(found)
            generation = found["metadata"].get("generation")
            if ready.get("status") != "True" or ready.get("observedGeneration") != generation:
                late.append(f"{kind} {name}: {ready.get('reason')}: {str(ready.get('message'))[:160]}")
        return late

    def wait_converged(self, objects: Sequence[dict[str, Any]], timeout: float, why: str = "") -> float:
        """Seconds until every object is Ready; AssertionError naming the stragglers otherwise."""
        started = time.monotonic()
        late: list[str] = []
        while time.monotonic() - started < timeout:
            late = self.not_converged(objects)
            if not late:
                return time.monotonic() - started
            time.sleep(2.0)  # a listing of a thousand objects costs the apiserver and the emulator's process
        tally = Counter(line.split(":")[1].strip() for line in late)
        raise AssertionError(
            f"{len(late)} of {len(objects)} objects not Ready after {timeout:.0f}s {why}; reasons {dict(tally)}; "
            f"first: {late[:8]}"
        )

    def delete_all(
        self, objects: Sequence[dict[str, Any]], timeout: float, during: Callable[[], None] = lambda: None
    ) -> None:
        """Delete every object (all at once, as `kubectl delete -f` does) and wait until all are gone;
        `during` runs after the deletes are sent (a kill, a restart)."""

        def delete(obj: dict[str, Any]) -> None:
            with contextlib.suppress(ApiException):
                retrying(
                    lambda: self.custom.delete_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, workload.PLURALS[obj["kind"]], obj["metadata"]["name"]
                    )
                )

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(delete, objects))
        during()
        started = time.monotonic()
        left: dict[tuple[str, str], dict[str, Any]] = {}
        while time.monotonic() - started < timeout:
            left = self.states(sorted({o["kind"] for o in objects}))
            if not left:
                return
            time.sleep(2.0)
        sample = [
            f"{k} {n}: {ready_condition(o).get('reason')}: {ready_condition(o).get('message')}"
            for (k, n), o in list(left.items())[:8]
        ]
        raise AssertionError(f"{len(left)} objects not deleted after {timeout:.0f}s: {sample}")

    # -- Confluent's side -----------------------------------------------------------------------

    def view(self, objects: Sequence[dict[str, Any]]) -> View:
        """What the emulator holds that `objects` made, by the natural keys the manifests give."""
        wanted: dict[str, set[str]] = {kind: set() for kind in workload.ALL_KINDS}
        for obj in objects:
            spec = obj["spec"]
            key = {
                "ServiceAccount": spec.get("displayName"),
                "ConnectorPlugin": spec.get("displayName"),
                "CustomConnector": spec.get("connectorName"),
                "IpGroup": spec.get("groupName"),
                "IpFilter": spec.get("filterName"),
                "Invitation": spec.get("email"),
                "IdentityProvider": spec.get("displayName"),
                "IdentityPool": spec.get("displayName"),
                "RoleBinding": (spec.get("scope") or {}).get("topic"),
            }.get(obj["kind"])
            if key:
                wanted[obj["kind"]].add(key)
        with self.emulator.core.lock:
            state = self.emulator.core.state
            accounts = [sa for sa in state.service_accounts.values() if sa.display_name in wanted["ServiceAccount"]]
            self.known_sa_ids |= {sa.id for sa in accounts}
            owners = {f"User:{i}" for i in self.known_sa_ids}
            plugins = {
                p.id: p.display_name for p in state.ccpm_plugins.values() if p.display_name in wanted["ConnectorPlugin"]
            }
            invited = wanted["Invitation"]
            topics = wanted["RoleBinding"]
            return View(
                service_accounts=[sa.display_name for sa in accounts],
                api_keys=[k.id for k in state.api_keys.values() if k.owner_id in self.known_sa_ids],
                plugins=list(plugins.values()),
                plugin_versions=[
                    (plugins[v.plugin_id], v.version) for v in state.ccpm_versions.values() if v.plugin_id in plugins
                ],
                connectors=[c.name for c in state.connectors.values() if c.name in wanted["CustomConnector"]],
                role_bindings=[
                    (rb.principal, rb.role_name, rb.crn_pattern)
                    for rb in state.role_bindings.values()
                    if rb.principal in owners or any(f"/topic={t}" in rb.crn_pattern for t in topics)
                ],
                ip_groups=[g.group_name for g in state.ip_groups.values() if g.group_name in wanted["IpGroup"]],
                ip_filters=[f.filter_name for f in state.ip_filters.values() if f.filter_name in wanted["IpFilter"]],
                invitations=[i.email for i in state.invitations.values() if i.email in invited],
                live_users=[
                    u.email for u in state.users.values() if u.email in invited and u.status.value != "DEACTIVATED"
                ],
                identity_providers=[
                    p.display_name
                    for p in state.identity_providers.values()
                    if p.display_name in wanted["IdentityProvider"]
                ],
                identity_pools=[
                    p.display_name for p in state.identity_pools.values() if p.display_name in wanted["IdentityPool"]
                ],
                service_account_ids={sa.id for sa in accounts},
            )

    def assert_exactly_once(self, objects: Sequence[dict[str, Any]], why: str) -> View:
        """Every object made exactly one Confluent object (plugins one per version): no duplicate, none missing."""
        view = self.view(objects)
        want = workload.expected(objects)
        sizes = view.sizes()
        dupes = {
            sort: [k for k, n in Counter(getattr(view, sort)).items() if n > 1]
            for sort in sizes
            if len(set(getattr(view, sort))) != len(getattr(view, sort))
        }
        assert not dupes, f"duplicates in Confluent {why}: { {s: d[:5] for s, d in dupes.items()} }"
        expected_sizes = {
            "service_accounts": want["service_accounts"],
            "api_keys": want["api_keys"],
            "plugins": want["ccpm_plugins"],
            "plugin_versions": want["ccpm_versions"],
            "connectors": want["connectors"],
            "role_bindings": want["role_bindings"],
            "ip_groups": want["ip_groups"],
            "ip_filters": want["ip_filters"],
            "invitations": want["invitations"],
            "live_users": want["invitations"],
            "identity_providers": want["identity_providers"],
            "identity_pools": want["identity_pools"],
        }
        assert sizes == expected_sizes, f"Confluent holds {sizes}, the objects should make {expected_sizes} {why}"
        # Each object points at its own: status.id is a Confluent object, and no two share one.
        ids = [(o["kind"], (o.get("status") or {}).get("id")) for o in self.states().values()]
        shared = [i for i, n in Counter(ids).items() if n > 1]
        assert not shared, f"objects share a Confluent ID {why}: {shared[:5]}"
        return view

    def assert_secrets_hold_live_keys(self, objects: Sequence[dict[str, Any]], why: str) -> None:
        """Every ApiKey's output Secret holds its status.id as `key`, a key the emulator has, with the
        secret the emulator accepts for it. (Messages name keys and objects, never a secret.)"""
        keys = {o["metadata"]["name"]: o for (kind, _), o in self.states(["ApiKey"]).items() if kind == "ApiKey"}
        bad = []
        for obj in objects:
            if obj["kind"] != "ApiKey":
                continue
            name = obj["metadata"]["name"]
            secret_name = obj["spec"].get("secret", {}).get("name", name)
            data = retrying(lambda n=secret_name: self.kube.secret(n))
            status_id = (keys.get(name, {}).get("status") or {}).get("id")
            if not data or "key" not in data or "secret" not in data:
                bad.append(f"{name}: Secret {secret_name} missing or without key/secret")
                continue
            with self.emulator.core.lock:
                remote = self.emulator.core.state.api_keys.get(data["key"])
                accepted = remote is not None and hmac.compare_digest(remote.secret, data["secret"])
            if remote is None:
                bad.append(f"{name}: key {data['key']} is not in Confluent")
            elif not accepted:
                bad.append(f"{name}: Confluent refuses the secret Secret {secret_name} holds for key {data['key']}")
            elif status_id != data["key"]:
                bad.append(f"{name}: status.id {status_id} but the Secret holds key {data['key']}")
        assert not bad, f"{len(bad)} lost or wrong API key secrets {why}: {bad[:8]}"

    def assert_nothing_left(self, objects: Sequence[dict[str, Any]], why: str) -> None:
        left = {sort: n for sort, n in self.view(objects).sizes().items() if n}
        assert not left, f"orphans in Confluent {why}: {left}"

    def assert_emulator_holds_nothing(self, why: str) -> None:
        """The emulator is this test's own: after the deletion it holds what it was seeded with and no
        more (no service account, key but its own Cloud key, plugin, connector, binding, IP group or
        filter, invitation, identity provider or pool; every invited user deactivated)."""
        with self.emulator.core.lock:
            state = self.emulator.core.state
            left = {
                "service_accounts": len(state.service_accounts),
                "api_keys": len([k for k in state.api_keys if k != self.emulator.api_key]),
                "ccpm_plugins": len(state.ccpm_plugins),
                "ccpm_versions": len(state.ccpm_versions),
                "legacy_plugins": len(state.legacy_plugins),
                "connectors": len(state.connectors),
                "role_bindings": len(state.role_bindings),
                "ip_groups": len(state.ip_groups),
                "ip_filters": len(state.ip_filters),
                "invitations": len(state.invitations),
                "identity_providers": len(state.identity_providers),
                "identity_pools": len(state.identity_pools),
                "live invited users": len(
                    [
                        u
                        for u in state.users.values()
                        if u.status.value != "DEACTIVATED" and u.id != state.defaults["user_id"]
                    ]
                ),
            }
        left = {sort: n for sort, n in left.items() if n}
        assert not left, f"orphans in Confluent {why}: {left}"

    def assert_operator_healthy(self, why: str) -> None:
        """The operator runs, and has logged no traceback: no reconcile failed in a way it did not expect."""
        assert self.operator.alive(), f"the operator died {why}:\n{self.operator.log_tail()}"
        log = self.operator.log()
        if TRACEBACK in log:
            lines = log.splitlines()
            first = next(i for i, line in enumerate(lines) if TRACEBACK in line)
            count = log.count(TRACEBACK)
            shown = "\n".join(line[:240] for line in lines[max(0, first - 2) : first + 45])
            raise AssertionError(f"the operator logged {count} tracebacks {why}; the first:\n{shown}")

    # -- requests ---------------------------------------------------------------------------------

    def requests_since(self, started: float, until: float | None = None) -> tuple[int, int]:
        """(requests, successful ones: answered 2xx) in the emulator's log from `started` to `until`
        (wall clock; None: now)."""
        end = until if until is not None else time.time() + 1
        calls = [r for r in self.emulator.requests if started <= r.time < end]
        return len(calls), sum(1 for r in calls if 200 <= r.status < 300)

    # -- the secret scan --------------------------------------------------------------------------

    def used_secrets(self) -> set[str]:
        """Every secret value this test used: the Cloud API secret, each API key's secret Confluent
        handed out (the recorder's, and any the emulator still holds), the connector password."""
        with self.emulator.core.lock:
            held = {k.secret for k in self.emulator.core.state.api_keys.values()}
        return {self.emulator.api_secret, self.password, *held, *self.recorder.found}

    def evidence(self) -> dict[str, str]:
        """The text a user can see: the operator's log, every Event in the namespace, statuses seen."""
        events = retrying(lambda: self.kube.core.list_namespaced_event(self.namespace)).items
        text = "\n".join(f"{e.reason} {e.message} {e.involved_object.name}" for e in events)
        self.states()
        return {"operator log": self.operator.log(), "events": text, "statuses": "\n".join(self.statuses_seen)}

    def assert_no_secret_leaked(self) -> None:
        used = self.used_secrets()
        assert len(used) >= 2, "the scan has nothing to look for"
        found = leaks(self.evidence(), used)
        assert not found, f"secret values found in: {found}"


def leaks(evidence: dict[str, str], used: set[str]) -> dict[str, int]:
    """How many of the `used` values, raw or base64-encoded, appear in each text of `evidence` (never
    which: that would leak them).

    Every value is a run of the API key secret alphabet ([A-Za-z0-9+/], 32 characters or more), so the
    texts are cut into such runs by one regex and every window of each run is looked up: a scan of
    tens of megabytes for thousands of values in about a second."""
    needles = set(used) | {base64.b64encode(s.encode()).decode().rstrip("=") for s in used}
    assert all(SECRET_RUN.fullmatch(n) for n in needles), "a secret outside the alphabet the scan cuts on"
    lengths = sorted({len(n) for n in needles})
    hits: dict[str, int] = {}
    for where, text in evidence.items():
        found: set[str] = set()
        for match in SECRET_RUN.finditer(text):
            run = match.group()
            for size in lengths:
                found.update(run[i : i + size] for i in range(len(run) - size + 1) if run[i : i + size] in needles)
        if found:
            hits[where] = len(found)
    return hits


def random_secret(length: int = 40) -> str:
    """A value as unlikely as an API key secret to occur by chance, in the alphabet `leaks` cuts on."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            found: dict[str, Any] = cond
            return found
    return {}


def _strip_finalizers(kube: Kube) -> None:
    """After a failure: nothing in the namespace that no operator would ever release."""
    unhold = {"metadata": {"finalizers": None}}
    for plural in workload.PLURALS.values():
        with contextlib.suppress(ApiException):
            for obj in kube.custom.list_namespaced_custom_object(GROUP, VERSION, kube.namespace, plural)["items"]:
                with contextlib.suppress(ApiException):
                    kube.custom.patch_namespaced_custom_object(
                        GROUP, VERSION, kube.namespace, plural, obj["metadata"]["name"], unhold
                    )
    for name in ("ccloud-credentials", "db"):
        with contextlib.suppress(ApiException):
            kube.core.patch_namespaced_secret(name, kube.namespace, unhold)


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's random choices: FAULTS_SEED, or a fresh one; a failure reports it."""
    value = int(os.environ.get("FAULTS_SEED") or secrets.randbelow(2**31))
    request.node.user_properties.append(("seed", value))
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        for name, value in item.user_properties:
            if name == "seed":
                report.sections.append(("seed", f"seed {value}: FAULTS_SEED={value} replays this test's choices"))
    return report


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "operator_settings(**env): CCLOUD_* settings of the rig's operator")


@pytest.fixture
def rig(control_plane: ControlPlane, crds: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A fresh emulator, its servers, an operator process and a namespace; all stopped afterwards.

    `@pytest.mark.operator_settings(CCLOUD_LOG_LEVEL="INFO")` changes the operator's settings."""
    marker = request.node.get_closest_marker("operator_settings")
    extra: dict[str, str] = dict(marker.kwargs) if marker else {}
    emulator = Emulator(api_secret=random_secret(64), timing=Timing())
    recorder = Recorder(emulator.app)
    tap = Tap(recorder)
    with serve(tap) as url, serve_bytes(ARCHIVE, "datagen.zip") as archive_url:
        place = workload.Place(
            environment=emulator.environment_id,
            kafka_cluster=emulator.kafka_cluster_id,
            archive_url=archive_url,
            archive_sha256=hashlib.sha256(ARCHIVE).hexdigest(),
            credentials={"credentialsSecretRef": {"name": "ccloud-credentials"}},
        )
        process = OperatorProcess(
            control_plane.kubeconfig, tmp_path / "operator.log", {**FAULT_SETTINGS, **extra, "CCLOUD_API_URL": url}
        )
        with process, namespace_with_credentials(control_plane, emulator) as kube:
            password = random_secret()
            kube.put_secret("db", {"password": password})
            rig = Rig(emulator, tap, recorder, url, process, kube, place, control_plane, password)
            try:
                yield rig
            finally:
                tap.hooks.clear()
                emulator.clear_faults()
                if not process.alive():
                    with contextlib.suppress(RuntimeError):
                        process.restart("the test ended with the operator down: it cleans up")
            _strip_finalizers(kube)
            namespace = kube.namespace
    # The operator is gone now: whatever it could not release (a known defect's leftovers) must not
    # stay behind for the next test's operator, which watches every namespace, to pick up.
    api = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        _strip_finalizers(Kube(api, namespace))
    finally:
        api.close()
