"""CustomConnector: a connect/v1 custom connector, its config built from the spec and its Secrets.

Resolve first, send nothing until everything is there: the plugin version (READY), the Kafka identity
(a Ready ServiceAccount, or a Secret with `key` and `secret`) and every Secret value. Then observe
through the cluster's expanded connector list (one shared read per cluster, and the only place
Confluent gives a connector's ID), create (POST, so an existing name is never overwritten) or put
the whole config back when it drifted or a Secret changed (told by the Secrets' resourceVersions,
never by their bytes), follow spec.state, and report state, tasks and a trimmed trace. A connector
that keeps failing is restarted as its restart policy says, with backoff and a limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import ValidationError

from ccloud_operator.confluent import Conflict, NotFound
from ccloud_operator.confluent.connectors import ConnectorExpansion, ConnectorState, ConnectorStatus
from ccloud_operator.reconcile.conditions import READY
from ccloud_operator.reconcile.engine import BaseReconciler, delete_resource
from ccloud_operator.reconcile.kinds.connector_config import Inputs, build_config, drift, plain_sensitive, trim
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import SECRET, ObjectKey, Reference, Role, part_of
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import AdoptionPolicy, ManagementPolicy
from ccloud_operator.resources.connector_plugin import CONNECTOR_PLUGIN, ConnectorPluginSpec, ConnectorPluginStatus
from ccloud_operator.resources.custom_connector import (
    CUSTOM_CONNECTOR,
    CustomConnectorSpec,
    CustomConnectorStatus,
    PluginRunning,
    RestartMode,
    RestartStatus,
    TaskStatus,
)
from ccloud_operator.resources.custom_connector import (
    ConnectorState as Desired,
)
from ccloud_operator.resources.service_account import SERVICE_ACCOUNT

__all__ = ["CustomConnectorReconciler", "ResolvedPlugin"]

ConnectorSession = Session[CustomConnectorSpec, CustomConnectorStatus]
HEALTHY_RESET_SECONDS = 3600.0  # a connector that has run this long since its last restart starts counting afresh


@dataclass(frozen=True)
class ResolvedPlugin:
    id: str
    version: str | None
    sensitive: tuple[str, ...]
    label: str  # how messages name it: "ConnectorPlugin datagen 0.6.7", "plugin ccp-… 1.0.0"


class CustomConnectorReconciler(BaseReconciler[CustomConnectorSpec, CustomConnectorStatus]):
    kind = CUSTOM_CONNECTOR
    spec_model = CustomConnectorSpec
    status_model = CustomConnectorStatus

    def references(self, spec: CustomConnectorSpec, namespace: str, name: str) -> list[Reference]:
        refs = []
        plugin = spec.plugin
        if plugin.name is not None:
            owner = ObjectKey(CONNECTOR_PLUGIN.plural, namespace, plugin.name)
            refs.append(Reference(Role.DEPENDENCY, owner, "spec.plugin.name"))
        else:
            owner = ObjectKey(CONNECTOR_PLUGIN.plural, "", str(plugin.id))
        if plugin.version is not None:
            refs.append(Reference(Role.USES, part_of(owner, plugin.version), "spec.plugin.version"))
        auth = spec.kafka_auth
        if auth.service_account is not None:
            target = ObjectKey(SERVICE_ACCOUNT.plural, namespace, auth.service_account.name)
            refs.append(Reference(Role.DEPENDENCY, target, "spec.kafkaAuth.serviceAccount"))
        if auth.api_key_secret is not None:
            target = ObjectKey(SECRET, namespace, auth.api_key_secret.name)
            refs.append(Reference(Role.INPUT, target, "spec.kafkaAuth.apiKeySecret"))
        for entry in spec.sensitive_config:
            target = ObjectKey(SECRET, namespace, entry.secret_key_ref.name)
            refs.append(Reference(Role.INPUT, target, f"spec.sensitiveConfig[{entry.name}]"))
        return refs

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, s: ConnectorSession) -> Outcome:
        name = s.spec.connector_name or s.ref.name
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        if s.status.restarts is not None and s.status.observed_generation != s.target.generation:
            s.status.restarts = None  # a changed spec is a fresh start: the restart policy counts anew
        plugin = await _plugin(s)
        if not isinstance(plugin, ResolvedPlugin):
            return plugin
        if plain := plain_sensitive(s.spec, plugin.sensitive):
            return Terminal("SensitiveInConfig", _sensitive_message(plain, plugin))
        resolved = await _inputs(s, plugin)
        if not isinstance(resolved, tuple):
            return resolved
        inputs, versions = resolved
        want = build_config(s.spec, name, inputs)

        fresh = _unsettled(s)
        remote = await _find(s, name, fresh=fresh)
        if remote is None and not fresh and (s.status.id is not None or s.status.pending_create is not None):
            remote = await _find(s, name, fresh=True)  # never act on a stale list: it may just lag
        held = remote.connector_id if remote is not None and remote.connector_id != s.status.id else None
        if held and (holder := await s.holder(held)) is not None:
            return Terminal(
                "AlreadyManaged",
                f"Connector {name} ({held}) is already managed by CustomConnector "
                f"{holder.namespace}/{holder.name}: two objects must not own one connector.",
            )
        s.status.connector_name = name
        s.status.plugin = PluginRunning(id=plugin.id, version=plugin.version)

        if remote is None:
            if observe_only or s.spec.adoption_policy == AdoptionPolicy.ADOPT:
                return Waiting(
                    "NotFound",
                    f"No connector named {name} exists in cluster {s.spec.kafka_cluster} to "
                    f"{'observe' if observe_only else 'adopt'}.",
                    after=s.ctx.settings.resync_seconds,
                    synced=False,
                )
            if s.status.pending_create is not None and s.status.pending_create.accepted:
                return Waiting(
                    "Creating",
                    f"Confluent accepted connector {name}; its ID is not in the cluster's connector list yet.",
                    after=s.ctx.settings.wait_seconds,
                )
            made = await _create(s, name, want, versions)
            if made is not None:
                return made
            # Its ID comes with the next reconcile's list, begun after this create and shared with the
            # connectors created meanwhile: thirty created together cost a few lists, not thirty.
            return Waiting(
                "Creating",
                f"Created connector {name}; its ID comes with the cluster's next connector list.",
                after=s.ctx.settings.wait_seconds,
            )
        elif s.status.id is None and s.status.pending_create is None:
            if s.spec.adoption_policy == AdoptionPolicy.CREATE_ONLY and not observe_only:
                return Terminal(
                    "AlreadyExists",
                    f"A connector named {name} already exists in cluster {s.spec.kafka_cluster}"
                    f"{f' ({remote.connector_id})' if remote.connector_id else ''}: set spec.adoptionPolicy: "
                    "AdoptOrCreate to adopt it, or choose another spec.connectorName.",
                )
            if not observe_only:
                await s.event("Normal", "Adopted", f"Adopted connector {name} ({remote.connector_id}).")
        if remote.connector_id and (s.status.id != remote.connector_id or s.status.pending_create is not None):
            await s.created(remote.connector_id)

        if not observe_only:
            await _apply_config(s, name, want, versions, remote)
            if (moving := await _follow_state(s, name, remote.status)) is not None:
                return Waiting(moving, f"{moving} connector {name}, as spec.state asks.", after=_wait(s))
        return await _report_state(s, name, remote.status, observe_only)

    # -- delete ----------------------------------------------------------------------------------

    async def delete(self, s: ConnectorSession) -> Outcome:
        name = s.status.connector_name or s.spec.connector_name or s.ref.name
        env, cluster = s.spec.environment, s.spec.kafka_cluster
        if s.status.id is None:
            found = await _find(s, name, fresh=True)
            if found is None or (found.connector_id and await s.holder(found.connector_id) is not None):
                return Ready("Deleted", "Nothing to delete.")
        try:
            await delete_resource(
                lambda: s.client.connectors.delete(env, cluster, name),
                lambda: s.client.connectors.get(env, cluster, name),
            )
        finally:
            s.ctx.shared.invalidate(s.client.credentials.key, _scope(s))
        return Ready("Deleted", f"Connector {name} deleted.")


# -- what the spec points at ---------------------------------------------------------------------


async def _plugin(s: ConnectorSession) -> ResolvedPlugin | Outcome:
    ref = s.spec.plugin
    if ref.name is None:
        return await _plugin_by_id(s, str(ref.id), ref.version)
    ns = s.ref.namespace
    found = await s.dependency(CONNECTOR_PLUGIN, ref.name)
    if found is None:
        return Waiting(
            "WaitingForPlugin",
            f"ConnectorPlugin {ref.name} (spec.plugin.name) does not exist in namespace {ns}.",
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    try:
        spec = ConnectorPluginSpec.model_validate(found.spec)
        status = ConnectorPluginStatus.model_validate(found.status)
    except ValidationError:
        return Waiting(
            "WaitingForPlugin",
            f"ConnectorPlugin {ref.name} is not valid: see its status.",
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    if spec.legacy is not None:
        if ref.version is not None:
            return Terminal(
                "InvalidPlugin",
                f"ConnectorPlugin {ref.name} is a legacy plugin, which has no versions: remove spec.plugin.version.",
            )
        if status.id is None or not found.is_ready:
            return _waiting_for(s, f"ConnectorPlugin {ref.name} is not Ready yet{found.why()}")
        return ResolvedPlugin(
            status.id, None, tuple(spec.legacy.sensitive_config_properties), f"ConnectorPlugin {ref.name}"
        )
    if spec.environment != s.spec.environment:
        return Terminal(
            "InvalidPlugin",
            f"ConnectorPlugin {ref.name} is in environment {spec.environment} and this connector in "
            f"{s.spec.environment}: a connector runs plugins of its own environment.",
        )
    listed = [v.version for v in spec.versions]
    if ref.version is None:
        return Terminal(
            "PluginVersionRequired",
            f"spec.plugin.version: name the version of ConnectorPlugin {ref.name} to run "
            f"({', '.join(listed) or 'it lists none yet'}).",
        )
    wanted = next((v for v in spec.versions if v.version == ref.version), None)
    if wanted is None:
        return Waiting(
            "WaitingForPluginVersion",
            f"ConnectorPlugin {ref.name} lists no version {ref.version} "
            f"({'it lists ' + ', '.join(listed) if listed else 'it lists none'}): add it to its spec.versions.",
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    entry = next((v for v in status.versions if v.version == ref.version), None)
    if status.id is None or entry is None or entry.phase != "READY":
        phase = entry.phase if entry is not None and entry.phase else "not created yet"
        return _waiting_for(s, f"Version {ref.version} of ConnectorPlugin {ref.name} is {phase}")
    return ResolvedPlugin(
        status.id,
        ref.version,
        tuple(wanted.sensitive_config_properties),
        f"ConnectorPlugin {ref.name} {ref.version}",
    )


async def _plugin_by_id(s: ConnectorSession, plugin_id: str, version: str | None) -> ResolvedPlugin | Outcome:
    env = s.spec.environment
    try:
        versions = await s.shared_read(
            ("plugin-versions", env, plugin_id), lambda: s.client.plugin_versions.list(plugin_id, env)
        )
    except NotFound:
        versions = None
    if versions is None:
        try:
            legacy = await s.client.custom_plugins.get(plugin_id)
        except NotFound:
            return _waiting_for(s, f"Plugin {plugin_id} (spec.plugin.id) does not exist in Confluent Cloud", False)
        if version is not None:
            return Terminal(
                "InvalidPlugin",
                f"Plugin {plugin_id} is a legacy custom plugin, which has no versions: remove spec.plugin.version.",
            )
        return ResolvedPlugin(plugin_id, None, tuple(legacy.sensitive_config_properties), f"plugin {plugin_id}")
    if version is None:
        return Terminal(
            "PluginVersionRequired",
            f"spec.plugin.version: name the version of plugin {plugin_id} to run "
            f"({', '.join(v.spec.version for v in versions) or 'it has none'}).",
        )
    have = next((v for v in versions if v.spec.version == version), None)
    if have is None or have.phase != "READY":
        phase = have.phase if have is not None else "not in Confluent"
        return _waiting_for(s, f"Version {version} of plugin {plugin_id} is {phase}", have is not None)
    return ResolvedPlugin(plugin_id, version, tuple(have.spec.sensitive_config_properties), f"plugin {plugin_id}")


def _waiting_for(s: ConnectorSession, what: str, synced: bool = False) -> Waiting:
    # The plugin's Ready turning True wakes this connector; the wait is only the safety net.
    return Waiting(
        "WaitingForPlugin", f"{what}: nothing is sent to Confluent until it is.", after=_poll(s), synced=synced
    )


def _poll(s: ConnectorSession) -> float:
    return min(s.ctx.settings.resync_seconds, s.ctx.settings.wait_seconds * 20)


def _sensitive_message(keys: list[str], plugin: ResolvedPlugin) -> str:
    first = keys[0]
    return (
        f"{', '.join(f'config.{k}' for k in keys)}: {plugin.label} declares {'it' if len(keys) == 1 else 'them'} "
        "sensitive, so the value must come from a Secret. Remove it from spec.config and add to "
        f"spec.sensitiveConfig: - {{name: {first}, secretKeyRef: {{name: <secret>, key: <key>}}}}"
    )


async def _inputs(s: ConnectorSession, plugin: ResolvedPlugin) -> tuple[Inputs, dict[str, str]] | Waiting:
    """The Kafka identity and the Secret values, with the resourceVersion of each Secret read."""
    ns = s.ref.namespace
    versions: dict[str, str] = {}
    secrets = {}

    async def value(secret_name: str, key: str, where: str) -> str | Waiting:
        if secret_name not in secrets:
            secrets[secret_name] = await s.ctx.kube.read_secret(ns, secret_name)
        secret = secrets[secret_name]
        if secret is None:
            return Waiting(
                "WaitingForSecret",
                f"Secret {secret_name} ({where}) does not exist in namespace {ns}: nothing is sent until it does.",
                after=s.ctx.settings.resync_seconds,
                synced=False,
            )
        versions[secret_name] = secret.resource_version
        found = secret.data.get(key)
        if found is None:
            return Waiting(
                "WaitingForSecret",
                f"Secret {secret_name} has no key {key} ({where}): nothing is sent until it has.",
                after=s.ctx.settings.resync_seconds,
                synced=False,
            )
        return found

    service_account_id = api_key = api_secret = None
    auth = s.spec.kafka_auth
    if auth.service_account is not None:
        found_sa = await _service_account(s, auth.service_account.name)
        if isinstance(found_sa, Waiting):
            return found_sa
        service_account_id = found_sa
    elif auth.api_key_secret is not None:
        where = "spec.kafkaAuth.apiKeySecret"
        key = await value(auth.api_key_secret.name, "key", where)
        if isinstance(key, Waiting):
            return key
        secret = await value(auth.api_key_secret.name, "secret", where)
        if isinstance(secret, Waiting):
            return secret
        api_key, api_secret = key, secret
    sensitive = {}
    for entry in s.spec.sensitive_config:
        got = await value(entry.secret_key_ref.name, entry.secret_key_ref.key, f"spec.sensitiveConfig[{entry.name}]")
        if isinstance(got, Waiting):
            return got
        sensitive[entry.name] = got
    inputs = Inputs(
        plugin_id=plugin.id,
        plugin_version=plugin.version,
        service_account_id=service_account_id,
        api_key=api_key,
        api_secret=api_secret,
        sensitive=sensitive,
    )
    return inputs, versions


async def _service_account(s: ConnectorSession, name: str) -> str | Waiting:
    found = await s.dependency(SERVICE_ACCOUNT, name)
    if found is None or found.id is None or not found.is_ready:
        what = "does not exist" if found is None else f"is not Ready yet{found.why()}"
        return Waiting(
            "WaitingForServiceAccount",
            f"ServiceAccount {name} (spec.kafkaAuth.serviceAccount) {what}: nothing is sent until it is Ready.",
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    return found.id


# -- Confluent ------------------------------------------------------------------------------------


def _scope(s: ConnectorSession) -> tuple[str, str, str]:
    return ("connectors", s.spec.environment, s.spec.kafka_cluster)


def _unsettled(s: ConnectorSession) -> bool:
    """Whether this connector is in motion (new, changing, failing): then only a fresh read will do."""
    ready = s.condition(READY)
    return (
        s.status.id is None
        or s.status.pending_create is not None
        or ready is None
        or ready.status != "True"
        or ready.observed_generation != s.target.generation
    )


async def _find(s: ConnectorSession, name: str, *, fresh: bool) -> ConnectorExpansion | None:
    """The connector from its cluster's expanded list: one read per cluster shared by all its connectors.

    `fresh`: a list begun at most one wait (`CCLOUD_WAIT_SECONDS`) before this reconcile began (when the
    reconcile that scheduled it ended) and after our own create, if one is pending: shared with every
    connector reconciled meanwhile, so thirty created together cost a few lists, not thirty.
    """
    env, cluster = s.spec.environment, s.spec.kafka_cluster
    newer_than = None
    if fresh:
        newer_than = s.began - s.ctx.settings.wait_seconds
        if (pending := s.status.pending_create) is not None:
            since = dt.datetime.fromisoformat(pending.since.replace("Z", "+00:00"))
            # `since` has whole seconds: a second later is surely after the create was sent.
            sent = s.ctx.shared.now() - (s.ctx.now() - since).total_seconds() + 1.0
            newer_than = max(newer_than, sent)
    listing: dict[str, ConnectorExpansion] = await s.shared_read(
        _scope(s), lambda: s.client.connectors.list(env, cluster), newer_than=newer_than
    )
    return listing.get(name)


async def _create(s: ConnectorSession, name: str, want: dict[str, str], versions: dict[str, str]) -> Outcome | None:
    env, cluster = s.spec.environment, s.spec.kafka_cluster
    earlier = s.status.pending_create is not None
    recreated = s.status.id
    await s.begin_create(name=name)
    try:
        await s.client.connectors.create(env, cluster, name, want)
    except Conflict:
        if not earlier:
            s.status.pending_create = None
            return Terminal(
                "AlreadyExists",
                f"A connector named {name} already exists in cluster {cluster}: set spec.adoptionPolicy: "
                "AdoptOrCreate to adopt it, or choose another spec.connectorName.",
            )
        await s.client.connectors.put_config(env, cluster, name, want)  # ours, from a create whose answer was lost
    if s.spec.state == Desired.PAUSED:
        await s.client.connectors.pause(env, cluster, name)  # in the same reconcile: never left running
    s.status.applied_secrets = versions
    s.status.last_applied_time = s.ctx.timestamp()
    s.status.id = None
    await s.accepted()
    # No invalidation: until it is found, this connector reads only lists begun after its reconcile.
    if recreated is not None:
        await s.event(
            "Normal", "Recreated", f"Connector {name} ({recreated}) was deleted outside Kubernetes: created it again."
        )
    return None


async def _apply_config(
    s: ConnectorSession, name: str, want: dict[str, str], versions: dict[str, str], remote: ConnectorExpansion
) -> None:
    """PUT the whole config when Confluent's differs from the spec's, or a Secret it uses changed."""
    have = remote.info.config if remote.info is not None else {}
    differ = drift(want, have)
    rotated = sorted(k for k, v in versions.items() if s.status.applied_secrets.get(k) != v)
    if not differ and not rotated:
        if s.status.applied_secrets != versions:
            s.status.applied_secrets = versions  # a Secret no longer used
        return
    await s.client.connectors.put_config(s.spec.environment, s.spec.kafka_cluster, name, want)
    s.ctx.shared.invalidate(s.client.credentials.key, _scope(s))
    # Confluent changed behind our back: the spec is what it was when the config was last sent.
    out_of_band = s.status.last_applied_time is not None and s.target.generation == s.status.observed_generation
    s.status.applied_secrets = versions
    s.status.last_applied_time = s.ctx.timestamp()
    await s.checkpoint()
    if differ and out_of_band:
        await s.event(
            "Normal",
            "DriftCorrected",
            f"Connector {name}'s config differed in Confluent ({', '.join(differ[:10])}): put the spec's back.",
        )
    elif rotated and not differ:
        await s.event("Normal", "SecretsApplied", f"Sent the new values of Secret {', '.join(rotated)} to Confluent.")


async def _follow_state(s: ConnectorSession, name: str, status: ConnectorStatus | None) -> str | None:
    """Pause or resume as spec.state says: what it is doing ("Pausing", "Resuming"), or None."""
    env, cluster = s.spec.environment, s.spec.kafka_cluster
    state = status.state if status is not None else ConnectorState.NONE
    if s.spec.state == Desired.PAUSED and state != ConnectorState.PAUSED:
        await s.client.connectors.pause(env, cluster, name)
        moving = "Pausing"
    elif s.spec.state == Desired.RUNNING and state == ConnectorState.PAUSED:
        await s.client.connectors.resume(env, cluster, name)
        moving = "Resuming"
    else:
        return None
    s.ctx.shared.invalidate(s.client.credentials.key, _scope(s))
    return moving


# -- what Confluent says --------------------------------------------------------------------------


async def _report_state(s: ConnectorSession, name: str, status: ConnectorStatus | None, observe_only: bool) -> Outcome:
    if status is None:
        return Waiting("Provisioning", f"Confluent has no status for connector {name} yet.", after=_wait(s))
    state = status.state
    s.status.connector_state = str(state)
    s.status.tasks = [TaskStatus(id=t.id, state=t.state, message=trim(t.msg, 256)) for t in status.tasks]
    failed_tasks = [t.id for t in status.tasks if t.state == "FAILED"]
    failing = state in (ConnectorState.FAILED, ConnectorState.DEGRADED) or bool(failed_tasks)
    s.status.trace = trim(_why(status)) if failing else ""
    if state == ConnectorState.PAUSED:
        s.status.failing_since = None
        return Ready("Paused", f"Connector {name} is PAUSED, as spec.state asks.")
    if not failing:
        s.status.failing_since = None
        if state != ConnectorState.RUNNING:
            return Waiting("Provisioning", f"Connector {name} is {state}.", after=_wait(s))
        restarts = s.status.restarts
        if restarts is not None and _age(s, restarts.last_time) > HEALTHY_RESET_SECONDS:
            s.status.restarts = None
        tasks = len(status.tasks)
        return Ready(
            "Observed" if observe_only else "Running",
            f"Connector {name} is RUNNING with {tasks} task{'s' if tasks != 1 else ''}.",
        )
    if s.status.failing_since is None:
        s.status.failing_since = s.ctx.timestamp()
    what = f"Connector {name} is {state}" + (
        f" (task {', '.join(map(str, failed_tasks))} FAILED)" if failed_tasks else ""
    )
    why = f": {s.status.trace.splitlines()[0]}" if s.status.trace else ""
    grace = s.ctx.settings.failed_grace_seconds
    if _age(s, s.status.last_applied_time) < grace:
        return Waiting(
            "Starting",
            f"{what} while it starts{why}; it counts as failed if it still is {grace:.0f}s after the change.",
            after=min(_wait(s) * 5, grace),
        )
    policy = s.spec.restart_policy
    if observe_only or policy is None or policy.mode == RestartMode.NEVER:
        return Terminal("ConnectorFailed", f"{what}{why}")
    restarts = s.status.restarts or RestartStatus()
    if restarts.count >= policy.max_restarts:
        return Terminal(
            "RestartLimitReached",
            f"{what}{why}. Restarted {restarts.count} times (spec.restartPolicy.maxRestarts); fix the cause, "
            "then change the spec: the count starts again.",
        )
    wait = min(policy.max_backoff_seconds, policy.backoff_seconds * 2**restarts.count)
    due = wait - _age(s, restarts.last_time or s.status.failing_since)
    if due > 0:
        return Waiting("RestartPending", f"{what}{why}. Restarting it in {due:.0f}s.", after=due)
    env, cluster = s.spec.environment, s.spec.kafka_cluster
    if state == ConnectorState.FAILED or not failed_tasks:
        await s.client.connectors.restart(env, cluster, name)
        restarted = "the connector"
    else:
        for task in failed_tasks:
            await s.client.connectors.restart_task(env, cluster, name, task)
        restarted = f"task {', '.join(map(str, failed_tasks))}"
    s.status.restarts = RestartStatus(count=restarts.count + 1, last_time=s.ctx.timestamp(), last=restarted)
    s.ctx.shared.invalidate(s.client.credentials.key, _scope(s))
    await s.event(
        "Warning",
        "Restarted",
        f"{what}{why}: restarted {restarted} ({restarts.count + 1} of {policy.max_restarts}).",
    )
    return Waiting(
        "Restarting",
        f"Restarted {restarted} ({restarts.count + 1} of {policy.max_restarts}){why}.",
        after=_wait(s) * 5,
    )


def _why(status: ConnectorStatus) -> str:
    """Confluent's reason, best first: its parsed errors, the override message, validation, the trace."""
    parts = [e.error for e in status.errors_from_trace if e.error]
    if status.override_message:
        parts.append(status.override_message)
    parts.extend(status.validation_errors)
    if not parts:
        parts.append(status.connector.trace or "")
        parts.extend(t.msg or "" for t in status.tasks if t.state == "FAILED")
    return "\n".join(p.strip() for p in parts if p and p.strip())


def _wait(s: ConnectorSession) -> float:
    return s.ctx.settings.wait_seconds


def _age(s: ConnectorSession, when: str | None) -> float:
    if not when:
        return float("inf")
    then = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return (s.ctx.now() - then).total_seconds()
