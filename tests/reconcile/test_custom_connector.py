"""CustomConnector against the emulator and the real apiserver, one reconcile at a time.

Each test makes the plugin and the service account it runs with through their own reconcilers, so a
connector sees them as the operator would: Ready objects in its namespace.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import kubernetes
import pytest

from ccloud_emulator import Emulator, Timing
from ccloud_operator.confluent import Credentials
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.kinds.connector_plugin import ConnectorPluginReconciler
from ccloud_operator.reconcile.kinds.custom_connector import CustomConnectorReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import ObjectKey, Role
from ccloud_operator.resources import KINDS
from ccloud_operator.resources.connector_plugin import CONNECTOR_PLUGIN
from ccloud_operator.resources.custom_connector import CUSTOM_CONNECTOR
from ccloud_operator.resources.service_account import SERVICE_ACCOUNT
from ccloud_operator.settings import Settings

from .conftest import Harness
from .test_connector_plugin import ARCHIVE_APP, ccpm, version

pytestmark = pytest.mark.e2e
PLUGIN, CONNECTOR, SA = ConnectorPluginReconciler(), CustomConnectorReconciler(), ServiceAccountReconciler()
RECONCILERS = {r.kind.plural: r for r in (PLUGIN, CONNECTOR, SA)}


class ListedReferences:
    """Who refers to what, from a fresh listing of our objects (what the handlers' kopf index holds)."""

    def __init__(self, h: Harness) -> None:
        self.h = h

    def referrers(self, target: ObjectKey, roles: Iterable[Role]) -> set[ObjectKey]:
        wanted = set(roles)
        found = set()
        custom = kubernetes.client.CustomObjectsApi(self.h.api)
        for kind in KINDS:
            reconciler = RECONCILERS.get(kind.plural)
            if reconciler is None:
                continue
            listing = custom.list_namespaced_custom_object(kind.group, kind.version, self.h.namespace, kind.plural)
            for obj in listing["items"]:
                name = obj["metadata"]["name"]
                for ref in engine.references_of(self.h.ctx, reconciler, self.h.namespace, name, obj["spec"]):
                    if ref.role in wanted and ref.target == target:
                        found.add(ObjectKey(kind.plural, self.h.namespace, name))
        return found


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(timing=Timing(api_key_propagation=0.0, plugin_version_processing=0.0, connector_provisioning=0.0))


@pytest.fixture
def h(harness: Harness) -> Harness:
    harness.ctx.archive_transport = httpx.ASGITransport(app=ARCHIVE_APP)
    harness.ctx.settings = Settings(api_url="http://emulator.test", failed_grace_seconds=0, shared_read_seconds=30)
    harness.ctx.references = ListedReferences(harness)
    return harness


async def settle(h: Harness, reconciler: Any, name: str, tries: int = 6) -> Outcome:
    """Reconcile until the outcome is no longer a short wait (what the queue does with Waiting)."""
    outcome: Outcome = Waiting("", "", 0)
    for _ in range(tries):
        outcome = await h.reconcile(reconciler, name)
        if not isinstance(outcome, Waiting) or outcome.after > 60:
            return outcome
    return outcome


async def prerequisites(h: Harness, emulator: Emulator, versions: Iterable[dict[str, Any]] = ()) -> None:
    h.create(CONNECTOR_PLUGIN, "datagen", ccpm(emulator, *(list(versions) or [version()])))
    assert await settle(h, PLUGIN, "datagen") == Ready("Ready")
    h.create(SERVICE_ACCOUNT, "orders", {})
    assert await settle(h, SA, "orders") == Ready("Ready")


def connector_spec(emulator: Emulator, **more: Any) -> dict[str, Any]:
    return {
        "environment": emulator.environment_id,
        "kafkaCluster": emulator.kafka_cluster_id,
        "plugin": {"name": "datagen", "version": "0.6.7"},
        "connectorClass": "io.confluent.kafka.connect.datagen.DatagenConnector",
        "kafkaAuth": {"serviceAccount": {"name": "orders"}},
        "config": {"kafka.topic": "pageviews", "quickstart": "pageviews"},
        **more,
    }


def stored(emulator: Emulator, name: str) -> dict[str, str]:
    [found] = [c for c in emulator.core.state.connectors.values() if c.name == name]
    return dict(found.config)


def put_secret(h: Harness, name: str, data: dict[str, str]) -> None:
    body = kubernetes.client.V1Secret(
        metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=h.namespace), string_data=data
    )
    kubernetes.client.CoreV1Api(h.api).create_namespaced_secret(h.namespace, body)


def patch_secret(h: Harness, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    kubernetes.client.CoreV1Api(h.api).patch_namespaced_secret(name, h.namespace, {"data": encoded})


def patch(h: Harness, kind: Any, name: str, body: dict[str, Any]) -> None:
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        kind.group, kind.version, h.namespace, kind.plural, name, body
    )


async def status(h: Harness, name: str, kind: Any = CUSTOM_CONNECTOR) -> dict[str, Any]:
    found: dict[str, Any] = (await h.object(kind, name)).get("status") or {}
    return found


def events(h: Harness, name: str) -> list[tuple[str, str]]:
    listing = kubernetes.client.CoreV1Api(h.api).list_namespaced_event(
        h.namespace, field_selector=f"involvedObject.name={name}"
    )
    return [(e.reason, e.message) for e in listing.items]


async def test_a_connector_is_built_from_its_spec_and_runs(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    put_secret(h, "db", {"password": "hunter2-db-password"})
    spec = connector_spec(
        emulator,
        sensitiveConfig=[{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}],
        connectionEndpoints=["s3.us-east-1.amazonaws.com:443:TCP"],
        runtime={"pluginRuntime": "3.9.0", "javaVersion": "17"},
        tasksMax=2,
    )
    h.create(CUSTOM_CONNECTOR, "orders-source", spec)
    assert await settle(h, CONNECTOR, "orders-source") == Ready(
        "Running", "Connector orders-source is RUNNING with 2 tasks."
    )
    found = await status(h, "orders-source")
    plugin_id = (await status(h, "datagen", CONNECTOR_PLUGIN))["id"]
    sa_id = (await status(h, "orders", SERVICE_ACCOUNT))["id"]
    assert found["id"].startswith("clcc-")
    assert found["connectorState"] == "RUNNING"
    assert found["tasks"] == [
        {"id": 0, "state": "RUNNING", "message": ""},
        {"id": 1, "state": "RUNNING", "message": ""},
    ]
    assert found["plugin"] == {"id": plugin_id, "version": "0.6.7"}
    assert "pendingCreate" not in found
    config = stored(emulator, "orders-source")
    assert config == {
        "name": "orders-source",
        "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector",
        "tasks.max": "2",
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "confluent.custom.plugin.version": "0.6.7",
        "kafka.auth.mode": "SERVICE_ACCOUNT",
        "kafka.service.account.id": sa_id,
        "confluent.custom.connection.endpoints": "s3.us-east-1.amazonaws.com:443:TCP",
        "confluent.custom.schema.registry.auto": "FALSE",
        "confluent.custom.connect.plugin.runtime": "3.9.0",
        "confluent.custom.connect.java.version": "17",
        "kafka.topic": "pageviews",
        "quickstart": "pageviews",
        "database.password": "hunter2-db-password",
    }
    assert "hunter2" not in str(found)
    # At rest: nothing is written to Confluent, and the connector list is the only read.
    emulator.clear_requests()
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))  # a resync past the list's lifetime
    assert await h.reconcile(CONNECTOR, "orders-source") == Ready(
        "Running", "Connector orders-source is RUNNING with 2 tasks."
    )
    cluster = f"/connect/v1/environments/{emulator.environment_id}/clusters/{emulator.kafka_cluster_id}"
    assert [(r.method, r.path) for r in emulator.requests] == [("GET", f"{cluster}/connectors")]


def _creds(emulator: Emulator) -> Credentials:
    return Credentials(key=emulator.api_key, secret=emulator.api_secret)


def scope(emulator: Emulator) -> tuple[str, str, str]:
    """The shared read of a cluster's connector list."""
    return ("connectors", emulator.environment_id, emulator.kafka_cluster_id)


async def test_one_list_read_serves_every_connector_of_a_cluster(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    names = [f"many-{i}" for i in range(4)]
    for name in names:
        h.create(CUSTOM_CONNECTOR, name, connector_spec(emulator))
        await settle(h, CONNECTOR, name)
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))  # the next resync, past the list's lifetime
    emulator.clear_requests()
    for name in names:  # each was Ready: a resync of all of them within the window lists once
        assert (await h.reconcile(CONNECTOR, name)).reason == "Running"
    lists = [r for r in emulator.calls("GET") if r.path.endswith("/connectors")]
    assert len(lists) == 1, lists
    assert [r for r in emulator.requests if "/connectors/" in r.path] == []  # nor any per-connector read


async def test_declared_paused_is_paused_as_it_is_created_and_never_reported_running(
    h: Harness, emulator: Emulator
) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "quiet", connector_spec(emulator, state="PAUSED"))
    first = await h.reconcile(CONNECTOR, "quiet")
    pauses = [r for r in emulator.calls("PUT") if r.path.endswith("/quiet/pause")]
    assert len(pauses) == 1, first  # in the reconcile that created it
    seen = [(await status(h, "quiet")).get("connectorState")]
    outcome = first
    for _ in range(6):
        outcome = await h.reconcile(CONNECTOR, "quiet")
        seen.append((await status(h, "quiet")).get("connectorState"))
        if isinstance(outcome, Ready):
            break
    assert outcome == Ready("Paused", "Connector quiet is PAUSED, as spec.state asks.")
    assert "RUNNING" not in seen, seen
    # Resume follows the spec.
    patch(h, CUSTOM_CONNECTOR, "quiet", {"spec": {"state": "RUNNING"}})
    assert (await settle(h, CONNECTOR, "quiet")).reason == "Running"
    assert any(r.path.endswith("/quiet/resume") for r in emulator.calls("PUT"))


async def test_a_sensitive_property_in_plain_config_is_refused_without_a_call(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator, [version(sensitiveConfigProperties=["password"])])
    h.create(CUSTOM_CONNECTOR, "leaky", connector_spec(emulator, config={"password": "plain-text"}))
    emulator.clear_requests()
    outcome = await h.reconcile(CONNECTOR, "leaky")
    assert isinstance(outcome, Terminal) and outcome.reason == "SensitiveInConfig"
    assert "config.password" in outcome.message and "spec.sensitiveConfig" in outcome.message
    assert "secretKeyRef" in outcome.message and "plain-text" not in outcome.message
    assert [r for r in emulator.requests if "/connectors" in r.path] == []


async def test_nothing_is_sent_while_a_secret_or_its_key_is_missing(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    spec = connector_spec(
        emulator, sensitiveConfig=[{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}]
    )
    h.create(CUSTOM_CONNECTOR, "patient", spec)
    outcome = await h.reconcile(CONNECTOR, "patient")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForSecret"
    assert "Secret db (spec.sensitiveConfig[database.password]) does not exist" in outcome.message
    put_secret(h, "db", {"other": "x"})
    outcome = await h.reconcile(CONNECTOR, "patient")
    assert isinstance(outcome, Waiting) and "Secret db has no key password" in outcome.message
    assert [c for c in emulator.core.state.connectors.values() if c.name == "patient"] == []
    patch_secret(h, "db", {"password": "at-last"})
    assert (await settle(h, CONNECTOR, "patient")).reason == "Running"
    assert stored(emulator, "patient")["database.password"] == "at-last"


async def test_a_rotated_secret_reaches_confluent_by_its_resource_version(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    put_secret(h, "kafka", {"key": "KEYAAAAAAAAAAAAA", "secret": "first-secret-value"})
    h.create(CUSTOM_CONNECTOR, "keyed", connector_spec(emulator, kafkaAuth={"apiKeySecret": {"name": "kafka"}}))
    assert (await settle(h, CONNECTOR, "keyed")).reason == "Running"
    assert stored(emulator, "keyed")["kafka.api.secret"] == "first-secret-value"
    before = (await status(h, "keyed"))["appliedSecrets"]
    patch_secret(h, "kafka", {"secret": "second-secret-value"})
    await settle(h, CONNECTOR, "keyed")
    assert stored(emulator, "keyed")["kafka.api.secret"] == "second-secret-value"
    after = (await status(h, "keyed"))["appliedSecrets"]
    assert set(after) == {"kafka"} and after != before  # resourceVersions, never values
    assert ("SecretsApplied", "Sent the new values of Secret kafka to Confluent.") in events(h, "keyed")


async def test_an_out_of_band_change_is_corrected_and_server_keys_are_not_drift(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "steady", connector_spec(emulator))
    assert (await settle(h, CONNECTOR, "steady")).reason == "Running"
    emulator.clear_requests()
    await h.reconcile(CONNECTOR, "steady")
    assert emulator.calls("PUT") == []  # cloud.provider, kafka.endpoint … and masked keys are no drift
    [connector] = [c for c in emulator.core.state.connectors.values() if c.name == "steady"]
    connector.config["quickstart"] = "users"
    connector.config["added.by.hand"] = "yes"
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))
    await settle(h, CONNECTOR, "steady")
    config = stored(emulator, "steady")
    assert config["quickstart"] == "pageviews" and "added.by.hand" not in config
    assert any(r == "DriftCorrected" and "added.by.hand, quickstart" in m for r, m in events(h, "steady")), events(
        h, "steady"
    )


async def test_deleted_out_of_band_it_is_created_again(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "phoenix", connector_spec(emulator))
    assert (await settle(h, CONNECTOR, "phoenix")).reason == "Running"
    old = (await status(h, "phoenix"))["id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url="http://e") as http:
        path = f"/connect/v1/environments/{emulator.environment_id}/clusters/{emulator.kafka_cluster_id}"
        gone = await http.delete(f"{path}/connectors/phoenix", auth=(emulator.api_key, emulator.api_secret))
        assert gone.status_code == 200
    # The next resync, past the shared list's lifetime.
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))
    assert (await settle(h, CONNECTOR, "phoenix")).reason == "Running"
    new = (await status(h, "phoenix"))["id"]
    assert new != old and new.startswith("clcc-")
    assert any(r == "Recreated" and old in m for r, m in events(h, "phoenix"))
    assert len([c for c in emulator.core.state.connectors.values() if c.name == "phoenix"]) == 1


async def test_an_existing_name_is_a_conflict_unless_adoption_is_asked_for(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "first", connector_spec(emulator, connectorName="shared-name"))
    assert (await settle(h, CONNECTOR, "first")).reason == "Running"
    existing = (await status(h, "first"))["id"]
    h.create(CUSTOM_CONNECTOR, "second", connector_spec(emulator, connectorName="shared-name"))
    outcome = await h.reconcile(CONNECTOR, "second")
    assert isinstance(outcome, Terminal) and outcome.reason == "AlreadyExists", outcome
    # Orphan the first, so the connector is nobody's; then the second may adopt it.
    patch(h, CUSTOM_CONNECTOR, "first", {"spec": {"deletionPolicy": "Orphan"}})
    obj = await h.object(CUSTOM_CONNECTOR, "first")
    assert (await engine.delete(h.ctx, CONNECTOR, h.target(obj))).reason == "Orphaned"
    kubernetes.client.CustomObjectsApi(h.api).delete_namespaced_custom_object(
        CUSTOM_CONNECTOR.group, CUSTOM_CONNECTOR.version, h.namespace, CUSTOM_CONNECTOR.plural, "first"
    )
    patch(h, CUSTOM_CONNECTOR, "second", {"spec": {"adoptionPolicy": "AdoptOrCreate"}})
    assert (await settle(h, CONNECTOR, "second")).reason == "Running"
    assert (await status(h, "second"))["id"] == existing
    assert any(r == "Adopted" for r, _ in events(h, "second"))
    obj = await h.object(CUSTOM_CONNECTOR, "second")
    assert (await engine.delete(h.ctx, CONNECTOR, h.target(obj))).reason == "Deleted"
    assert [c for c in emulator.core.state.connectors.values() if c.name == "shared-name"] == []


async def test_a_create_whose_answer_is_lost_is_adopted_not_duplicated(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "lossy", connector_spec(emulator))
    emulator.fail_next("POST", "/connect/v1/environments/*/clusters/*/connectors", drop=True, after_processing=True)
    first = await h.reconcile(CONNECTOR, "lossy")
    assert not isinstance(first, Ready), first
    assert (await status(h, "lossy"))["pendingCreate"]["name"] == "lossy"
    assert (await settle(h, CONNECTOR, "lossy")).reason == "Running"
    assert len([c for c in emulator.core.state.connectors.values() if c.name == "lossy"]) == 1
    assert "pendingCreate" not in await status(h, "lossy")


async def test_a_failing_connector_is_restarted_with_backoff_up_to_its_limit(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    policy = {"mode": "OnFailure", "maxRestarts": 2, "backoffSeconds": 1, "maxBackoffSeconds": 1}
    h.create(CUSTOM_CONNECTOR, "flaky", connector_spec(emulator, restartPolicy=policy, tasksMax=2))
    assert (await settle(h, CONNECTOR, "flaky")).reason == "Running"
    emulator.fail_connector("flaky", "java.lang.OutOfMemoryError: heap", task=1, heals_after=None)
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))
    outcomes = []
    for _ in range(4):
        outcomes.append(await h.reconcile(CONNECTOR, "flaky"))
        h.ctx.now = _later(h, 2)  # past each backoff
    # The first restart waits its backoff from the failure; each later one from the restart before.
    assert [o.reason for o in outcomes] == ["RestartPending", "Restarting", "Restarting", "RestartLimitReached"]
    assert len([r for r in emulator.calls("POST") if r.path.endswith("/flaky/tasks/1/restart")]) == 2
    found = await status(h, "flaky")
    assert found["restarts"]["count"] == 2 and found["restarts"]["last"] == "task 1"
    assert found["connectorState"] == "DEGRADED" and "OutOfMemoryError" in found["trace"]
    restarted = [m for r, m in events(h, "flaky") if r == "Restarted"]
    assert len(restarted) == 2 and "(1 of 2)" in " ".join(restarted)


def _later(h: Harness, seconds: float) -> Callable[[], dt.datetime]:
    """A clock `seconds` ahead of the context's present one."""
    moment = h.ctx.now() + dt.timedelta(seconds=seconds)
    return lambda: moment


async def test_without_a_restart_policy_failure_is_terminal_with_confluents_reason(
    h: Harness, emulator: Emulator
) -> None:
    await prerequisites(h, emulator)
    emulator.set_connector_outcome(
        "broken",
        "FAILED",
        "org.apache.kafka.connect.errors.ConnectException: boom",
        errors_from_trace=["Unable to connect to the database"],
        heals_after=None,
    )
    h.create(CUSTOM_CONNECTOR, "broken", connector_spec(emulator))
    outcome = await settle(h, CONNECTOR, "broken")
    assert isinstance(outcome, Terminal) and outcome.reason == "ConnectorFailed", outcome
    assert "Connector broken is FAILED" in outcome.message and "Unable to connect to the database" in outcome.message
    assert not [r for r in emulator.calls("POST") if r.path.endswith("/restart")]


async def test_failed_while_starting_waits_out_the_grace_period(h: Harness, emulator: Emulator) -> None:
    h.ctx.settings = Settings(api_url="http://emulator.test", failed_grace_seconds=300)
    await prerequisites(h, emulator)
    emulator.set_connector_outcome("slow", "FAILED", "still starting", heals_after=None)
    h.create(CUSTOM_CONNECTOR, "slow", connector_spec(emulator))
    outcome = await settle(h, CONNECTOR, "slow", tries=3)
    assert isinstance(outcome, Waiting) and outcome.reason == "Starting", outcome
    assert "300s after the change" in outcome.message
    h.ctx.now = _later(h, 301)
    outcome = await h.reconcile(CONNECTOR, "slow")
    assert isinstance(outcome, Terminal) and outcome.reason == "ConnectorFailed"


async def test_waits_for_its_plugin_version_and_names_it(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "early", connector_spec(emulator, plugin={"name": "datagen", "version": "0.7.0"}))
    outcome = await h.reconcile(CONNECTOR, "early")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForPluginVersion"
    assert "ConnectorPlugin datagen lists no version 0.7.0 (it lists 0.6.7)" in outcome.message
    h.create(CUSTOM_CONNECTOR, "unpinned", connector_spec(emulator, plugin={"name": "datagen"}))
    outcome = await h.reconcile(CONNECTOR, "unpinned")
    assert isinstance(outcome, Terminal) and outcome.reason == "PluginVersionRequired"
    assert [c for c in emulator.core.state.connectors.values()] == []


async def test_a_version_a_connector_uses_is_kept_until_it_no_longer_does(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator, [version(), version("0.7.0")])
    h.create(CUSTOM_CONNECTOR, "user", connector_spec(emulator))
    assert (await settle(h, CONNECTOR, "user")).reason == "Running"
    patch(h, CONNECTOR_PLUGIN, "datagen", {"spec": {"versions": [version("0.7.0")]}})
    # A JSON merge patch replaces the list: 0.6.7 is no longer listed, and the connector runs it.
    assert await settle(h, PLUGIN, "datagen") == Ready("Ready")
    found = await status(h, "datagen", CONNECTOR_PLUGIN)
    removed = next(c for c in found["conditions"] if c["type"] == "VersionsRemoved")
    assert removed["status"] == "False" and removed["reason"] == "InUse"
    assert f"version 0.6.7 is used by CustomConnector {h.namespace}/user" in removed["message"]
    assert "0.6.7" in [v["version"] for v in found["versions"]]
    assert len(emulator.core.state.ccpm_versions) == 2
    # The connector moves on: the version goes.
    patch(h, CUSTOM_CONNECTOR, "user", {"spec": {"plugin": {"name": "datagen", "version": "0.7.0"}}})
    assert (await settle(h, CONNECTOR, "user")).reason == "Running"
    assert stored(emulator, "user")["confluent.custom.plugin.version"] == "0.7.0"
    assert await settle(h, PLUGIN, "datagen") == Ready("Ready")
    found = await status(h, "datagen", CONNECTOR_PLUGIN)
    assert [v["version"] for v in found["versions"]] == ["0.7.0"]
    assert next(c for c in found["conditions"] if c["type"] == "VersionsRemoved")["status"] == "True"
    assert len(emulator.core.state.ccpm_versions) == 1


@pytest.mark.parametrize(("policy", "survives"), [("Delete", False), ("Orphan", True)])
async def test_deletion_policy(h: Harness, emulator: Emulator, policy: str, survives: bool) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "doomed", connector_spec(emulator, deletionPolicy=policy))
    assert (await settle(h, CONNECTOR, "doomed")).reason == "Running"
    obj = await h.object(CUSTOM_CONNECTOR, "doomed")
    outcome = await engine.delete(h.ctx, CONNECTOR, h.target(obj))
    assert outcome.reason == ("Orphaned" if survives else "Deleted")
    left = [c for c in emulator.core.state.connectors.values() if c.name == "doomed"]
    assert bool(left) is survives


async def test_observe_only_reports_and_never_writes(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "made", connector_spec(emulator, connectorName="watched", deletionPolicy="Orphan"))
    assert (await settle(h, CONNECTOR, "made")).reason == "Running"
    obj = await h.object(CUSTOM_CONNECTOR, "made")
    assert (await engine.delete(h.ctx, CONNECTOR, h.target(obj))).reason == "Orphaned"
    kubernetes.client.CustomObjectsApi(h.api).delete_namespaced_custom_object(
        CUSTOM_CONNECTOR.group, CUSTOM_CONNECTOR.version, h.namespace, CUSTOM_CONNECTOR.plural, "made"
    )
    spec = connector_spec(emulator, connectorName="watched", managementPolicy="ObserveOnly", state="PAUSED")
    h.create(CUSTOM_CONNECTOR, "watcher", {**spec, "config": {"quickstart": "something-else"}})
    emulator.clear_requests()
    outcome = await settle(h, CONNECTOR, "watcher")
    assert outcome == Ready("Observed", "Connector watched is RUNNING with 1 task."), outcome
    assert (await status(h, "watcher"))["id"].startswith("clcc-")
    assert [r for r in emulator.requests if r.method != "GET"] == []  # neither the config nor the state
    assert stored(emulator, "watched")["quickstart"] == "pageviews"
    obj = await h.object(CUSTOM_CONNECTOR, "watcher")
    assert (await engine.delete(h.ctx, CONNECTOR, h.target(obj))).reason == "Orphaned"
    assert stored(emulator, "watched")


async def test_past_its_restart_limit_a_spec_change_starts_the_count_again(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    policy = {"mode": "OnFailure", "maxRestarts": 1, "backoffSeconds": 1, "maxBackoffSeconds": 1}
    h.create(CUSTOM_CONNECTOR, "stubborn", connector_spec(emulator, restartPolicy=policy))
    assert (await settle(h, CONNECTOR, "stubborn")).reason == "Running"
    emulator.fail_connector("stubborn", "boom", heals_after=None)
    h.ctx.shared.invalidate(_creds(emulator).key, scope(emulator))
    reasons = []
    for _ in range(3):
        reasons.append((await h.reconcile(CONNECTOR, "stubborn")).reason)
        h.ctx.now = _later(h, 2)
    assert reasons == ["RestartPending", "Restarting", "RestartLimitReached"]
    patch(h, CUSTOM_CONNECTOR, "stubborn", {"spec": {"config": {"kafka.topic": "pageviews", "quickstart": "users"}}})
    # The new config goes out and the count starts again: the policy may restart it once more.
    outcome = await h.reconcile(CONNECTOR, "stubborn")
    assert outcome.reason == "Restarting", outcome
    assert stored(emulator, "stubborn")["quickstart"] == "users"
    assert (await status(h, "stubborn"))["restarts"]["count"] == 1


async def test_a_deleted_secret_stops_updates_and_names_it(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    put_secret(h, "db", {"password": "kept-in-confluent"})
    secret = [{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}]
    h.create(CUSTOM_CONNECTOR, "orphaned-input", connector_spec(emulator, sensitiveConfig=secret))
    assert (await settle(h, CONNECTOR, "orphaned-input")).reason == "Running"
    kubernetes.client.CoreV1Api(h.api).delete_namespaced_secret("db", h.namespace)
    emulator.clear_requests()
    outcome = await h.reconcile(CONNECTOR, "orphaned-input")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForSecret", outcome
    assert "Secret db (spec.sensitiveConfig[database.password]) does not exist" in outcome.message
    assert [r for r in emulator.requests if r.method != "GET"] == []  # the running connector is left as it is
    assert stored(emulator, "orphaned-input")["database.password"] == "kept-in-confluent"


async def test_the_pause_annotation_holds_every_change(h: Harness, emulator: Emulator) -> None:
    await prerequisites(h, emulator)
    h.create(CUSTOM_CONNECTOR, "held", connector_spec(emulator))
    assert (await settle(h, CONNECTOR, "held")).reason == "Running"
    patch(
        h,
        CUSTOM_CONNECTOR,
        "held",
        {"metadata": {"annotations": {"ccloud.operators.dev/paused": "true"}}, "spec": {"state": "PAUSED"}},
    )
    emulator.clear_requests()
    outcome = await h.reconcile(CONNECTOR, "held")
    assert outcome.reason == "ReconcilePaused"
    assert emulator.requests == []
    patch(h, CUSTOM_CONNECTOR, "held", {"metadata": {"annotations": {"ccloud.operators.dev/paused": None}}})
    assert (await settle(h, CONNECTOR, "held")).reason == "Paused"
