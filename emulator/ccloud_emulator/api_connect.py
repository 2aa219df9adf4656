"""connect/v1 connectors: Kafka-Connect-REST style, addressed by name inside an environment and cluster.

A connector is PROVISIONING until `timing.connector_provisioning` has passed since it was created (or
restarted), then RUNNING, or FAILED / DEGRADED when it carries a failure: one an outcome set for its
next provisioning, or one a test forced on it or on a task (`Emulator.fail_connector`). A restart
counts down the failures of what it restarts (the connector and its tasks, or one task) and heals
those that reach zero. A config update changes the config only: the state stays what it was. A pause
or resume shows after `timing.connector_pause_resume` (a connector still provisioning starts in the
state asked for). Reads mask sensitive values (PASSWORD-like keys and the plugin's sensitive
properties) and add the keys the server owns; a masked value written back keeps the stored one, and
the server's keys written back are not stored. Custom connectors (`clcc-`) must name a plugin that
exists, a READY version, and one of its classes; their names and task counts have Confluent's limits.
The connector ID appears only in the expanded list. Errors use Connect's own shapes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.api_ccpm import version_phase
from ccloud_emulator.core import Caller, Core
from ccloud_emulator.errors import ApiError, ConnectShape
from ccloud_emulator.rest import caller, json_object, json_response
from ccloud_emulator.state import (
    CcpmVersion,
    Connector,
    ConnectorKind,
    ConnectorState,
    Failure,
    KafkaCluster,
    VersionPhase,
)

__all__ = ["MASK", "ConnectApi", "connector_state", "failing", "looks_sensitive", "shows_paused", "tasks_max"]

MASK = "****************"
_MASKED = re.compile(r"^\*{2,}$")
_ALWAYS_SENSITIVE = {
    "kafka.api.key",
    "kafka.api.secret",
    "aws.access.key.id",
    "aws.secret.access.key",
    "gcs.credentials.config",
    "sasl.jaas.config",
}
_SENSITIVE_WORDS = {"password", "passwd", "secret", "credentials", "passphrase", "token"}
# the keys the server adds to every config it returns; written back, they are not stored
_SERVER_KEYS = ("cloud.environment", "cloud.provider", "kafka.endpoint", "kafka.region")
_KAFKA_CREDENTIALS = ("kafka.api.key", "kafka.api.secret")
# Confluent's limits for custom connectors (CONTRACT.md 2.1)
_CUSTOM_NAME_LENGTH = 64
_CUSTOM_NAME_PUNCTUATION = frozenset(".,&_+|[] -")
_CUSTOM_TASKS = 5
_BASE = "/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}"


def looks_sensitive(key: str) -> bool:
    """A PASSWORD-type key by name: the Kafka credentials and anything named like a secret."""
    lowered = key.lower()
    return lowered in _ALWAYS_SENSITIVE or any(w in _SENSITIVE_WORDS for w in re.split(r"[._-]", lowered))


def shows_paused(connector: Connector, now: float) -> bool:
    """Whether the status says paused: what was asked, once the pause or resume has taken effect."""
    return connector.paused if now >= connector.pause_at else connector.was_paused


def failing(connector: Connector) -> list[Failure]:
    """The failures that show: the connector's own first, then its tasks' (of tasks it has) by task."""
    count = tasks_max(connector.config)
    own = [f for f in connector.failures if f.task is None]
    tasks = sorted((f for f in connector.failures if f.task is not None and f.task < count), key=lambda f: f.task or 0)
    return own + tasks


def connector_state(connector: Connector, now: float) -> ConnectorState:
    if now < connector.provisioned_at:
        return ConnectorState.PROVISIONING
    if shows_paused(connector, now):
        return ConnectorState.PAUSED
    failures = failing(connector)
    if not failures:
        return ConnectorState.RUNNING
    # a failed task leaves the connector running, degraded; its own failure fails it and every task
    return ConnectorState.FAILED if failures[0].task is None else ConnectorState.DEGRADED


def _count_restart(failures: list[Failure], restarted: Callable[[Failure], bool]) -> list[Failure]:
    """The failures left after a restart: each one restarted counts down, and is healed at zero."""
    kept: list[Failure] = []
    for failure in failures:
        if restarted(failure) and failure.heals_after is not None:
            failure.heals_after -= 1
            if failure.heals_after <= 0:
                continue
        kept.append(failure)
    return kept


def _custom_name_problem(name: str) -> str | None:
    if len(name) > _CUSTOM_NAME_LENGTH:
        return f"at most {_CUSTOM_NAME_LENGTH} characters"
    for char in name:
        if char not in _CUSTOM_NAME_PUNCTUATION and unicodedata.category(char)[0] not in "LNM":
            return f"no {char!r}: letters, digits, marks and . , & _ + | [ ] - and space only"
    return None


def _semver_key(text: str) -> tuple[int, int, int, int, str]:
    core, _, pre = text.lstrip("v").split("+")[0].partition("-")
    numbers = [int(p) for p in core.split(".")]
    # a release sorts after its pre-releases
    return numbers[0], numbers[1], numbers[2], 0 if pre else 1, pre


def _not_found() -> ApiError:
    return ApiError(404, "resource not found", shape=ConnectShape.FLAT)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def tasks_max(config: dict[str, str]) -> int:
    """How many tasks a config runs: `tasks.max`, at least one."""
    try:
        return max(1, int(config.get("tasks.max", "1")))
    except ValueError:
        return 1


class ConnectApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        one = _BASE + "/connectors/{connector_name}"
        return [
            Route(_BASE + "/connectors", self.list_connectors, methods=["GET"]),
            Route(_BASE + "/connectors", self.create_connector, methods=["POST"]),
            Route(one, self.get_connector, methods=["GET"]),
            Route(one, self.delete_connector, methods=["DELETE"]),
            Route(one + "/config", self.get_config, methods=["GET"]),
            Route(one + "/config", self.put_config, methods=["PUT"]),
            Route(one + "/status", self.get_status, methods=["GET"]),
            Route(one + "/tasks", self.get_tasks, methods=["GET"]),
            Route(one + "/pause", self.pause, methods=["PUT"]),
            Route(one + "/resume", self.resume, methods=["PUT"]),
            Route(one + "/restart", self.restart, methods=["POST"]),
            Route(one + "/tasks/{task_id:int}/restart", self.restart_task, methods=["POST"]),
        ]

    # lookups

    def _cluster(self, who: Caller, request: Request) -> KafkaCluster:
        state = self.core.state
        env = state.environments.get(request.path_params["environment_id"])
        cluster = state.clusters.get(request.path_params["kafka_cluster_id"])
        if env is None or env.org_id != who.org_id or cluster is None or cluster.env_id != env.id:
            raise ApiError(404, "account not found")
        return cluster

    def _connector(self, who: Caller, request: Request) -> tuple[KafkaCluster, Connector]:
        cluster = self._cluster(who, request)
        connector = self.core.state.connectors.get(f"{cluster.id}/{request.path_params['connector_name']}")
        if connector is None:
            raise _not_found()
        return cluster, connector

    # rendering

    def _sensitive(self, connector: Connector) -> set[str]:
        """The plugin's sensitive properties: the version's (immutable), or a legacy plugin's as it is now."""
        names = set(connector.sensitive)
        state = self.core.state
        legacy = state.legacy_plugins.get(connector.plugin_id)
        if legacy is not None:
            names.update(legacy.sensitive_config_properties)
        version = state.ccpm_versions.get(connector.version_id)
        if version is not None:
            names.update(version.sensitive_config_properties)
        return names

    def _config(self, connector: Connector, cluster: KafkaCluster) -> dict[str, str]:
        sensitive = self._sensitive(connector)
        shown = {k: MASK if k in sensitive or looks_sensitive(k) else v for k, v in connector.config.items()}
        if connector.connector_class:
            shown.setdefault("connector.class", connector.connector_class)
        # A service account connector runs on a key the server makes; the schema requires both keys.
        shown.setdefault("kafka.api.key", MASK)
        shown.setdefault("kafka.api.secret", MASK)
        shown.update(
            {
                "cloud.environment": "prod",
                "cloud.provider": cluster.cloud.lower(),
                "kafka.endpoint": cluster.bootstrap,
                "kafka.region": cluster.region,
            }
        )
        return shown

    def _info(self, connector: Connector, cluster: KafkaCluster) -> dict[str, Any]:
        return {
            "name": connector.name,
            "config": self._config(connector, cluster),
            "tasks": [{"connector": connector.name, "task": i} for i in range(tasks_max(connector.config))],
            "type": connector.type,
        }

    def _status(self, connector: Connector, now: float) -> dict[str, Any]:
        state = connector_state(connector, now)
        failures = failing(connector) if state in (ConnectorState.FAILED, ConnectorState.DEGRADED) else []
        own = failures[0] if failures and failures[0].task is None else None
        by_task = {f.task: f for f in failures if f.task is not None}
        tasks: list[dict[str, Any]] = []
        if state is not ConnectorState.PROVISIONING:
            for i in range(tasks_max(connector.config)):
                failure = own or by_task.get(i)
                task_state = "PAUSED" if state is ConnectorState.PAUSED else "FAILED" if failure else "RUNNING"
                tasks.append(
                    {"id": i, "state": task_state, "worker_id": connector.name, "msg": failure.trace if failure else ""}
                )
        return {
            "name": connector.name,
            "connector": {
                "state": state.value,
                "worker_id": connector.name,
                "trace": failures[0].trace if failures else "",
            },
            "tasks": tasks,
            "type": connector.type,
            # Not in the spec; what real status reads carry beside it (CONTRACT.md 2.2).
            "errors_from_trace": [{"error": error} for f in failures for error in f.errors_from_trace],
            "validation_errors": [error for f in failures for error in f.validation_errors],
            "override_message": next((f.override_message for f in failures if f.override_message), ""),
        }

    # validation

    def _resolve(
        self, who: Caller, cluster: KafkaCluster, name: str, raw: object, existing: Connector | None
    ) -> Connector:
        """Check a full config against the rules and the plugin; return the connector it describes."""
        if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise _bad("config must be a map of strings to strings")
        config: dict[str, str] = dict(raw)
        if existing is not None:
            for key, value in config.items():
                if _MASKED.match(value) and key in existing.config:
                    config[key] = existing.config[key]
        # What a read added goes back unstored: the server's own keys, and the masked Kafka
        # credentials it shows for a service account connector (a mask is never a credential).
        for key in _SERVER_KEYS:
            config.pop(key, None)
        for key in _KAFKA_CREDENTIALS:
            if _MASKED.match(config.get(key, "")):
                del config[key]
        config.setdefault("name", name)
        if config["name"] != name:
            raise _bad(f"config 'name' ({config['name']}) must equal the connector name ({name})")
        kind_text = config.get("confluent.connector.type", "MANAGED").upper()
        if kind_text not in ConnectorKind.__members__:
            raise _bad(f"confluent.connector.type must be CUSTOM or MANAGED, not '{kind_text}'")
        kind = ConnectorKind(kind_text)
        if existing is not None and existing.kind is not kind:
            raise _bad("confluent.connector.type cannot be changed")
        if kind is ConnectorKind.CUSTOM:
            problem = _custom_name_problem(name) if existing is None else None
            if problem:
                raise _bad(f"Connector name '{name}' is invalid for a custom connector: {problem}")
            if tasks_max(config) > _CUSTOM_TASKS:
                raise _bad(
                    f"tasks.max ({config['tasks.max']}) is over {_CUSTOM_TASKS}, the most a custom connector runs"
                )
        self._check_kafka_auth(who, config)
        now = self.core.now()
        if kind is ConnectorKind.CUSTOM:
            connector_class, ctype, sensitive, plugin_id, version_id = self._resolve_plugin(who, cluster, config, now)
        else:
            connector_class = config.get("connector.class", "")
            if not connector_class:
                raise _bad('Missing required configuration "connector.class" which has no default value.')
            ctype = "sink" if "sink" in connector_class.lower() else "source"
            sensitive, plugin_id, version_id = [], "", ""
        if existing is None:
            outcome = self.core.take_outcome(cluster.env_id, cluster.id, name)
            first = outcome.failure() if outcome else None
            provisioned_at, failures = now + self.core.timing.connector_provisioning, [first] if first else []
        else:
            # An update is no new provisioning: RUNNING stays RUNNING, PAUSED stays PAUSED, FAILED
            # stays FAILED, and one still provisioning keeps its deadline, as the real read after an
            # update shows.
            provisioned_at, failures = existing.provisioned_at, existing.failures
        return Connector(
            id=existing.id if existing else self.core.new_id("clcc-" if kind is ConnectorKind.CUSTOM else "lcc-"),
            env_id=cluster.env_id,
            cluster_id=cluster.id,
            name=name,
            config=config,
            kind=kind,
            type=ctype,
            sensitive=sensitive,
            plugin_id=plugin_id,
            version_id=version_id,
            created_at=existing.created_at if existing else now,
            updated_at=now,
            provisioned_at=provisioned_at,
            failures=failures,
            paused=existing.paused if existing else False,
            was_paused=existing.was_paused if existing else False,
            pause_at=existing.pause_at if existing else 0.0,
            connector_class=connector_class,
        )

    def _check_kafka_auth(self, who: Caller, config: dict[str, str]) -> None:
        mode = config.get("kafka.auth.mode", "KAFKA_API_KEY").upper()
        if mode == "SERVICE_ACCOUNT":
            sa_id = config.get("kafka.service.account.id", "")
            sa = self.core.state.service_accounts.get(sa_id)
            if sa is None or sa.org_id != who.org_id:
                raise _bad(f"kafka.service.account.id: service account '{sa_id}' was not found")
        elif mode == "KAFKA_API_KEY":
            for key in ("kafka.api.key", "kafka.api.secret"):
                if not config.get(key):
                    raise _bad(f'Missing required configuration "{key}" which has no default value.')
        else:
            raise _bad(f"kafka.auth.mode must be KAFKA_API_KEY or SERVICE_ACCOUNT, not '{mode}'")

    def _resolve_plugin(
        self, who: Caller, cluster: KafkaCluster, config: dict[str, str], now: float
    ) -> tuple[str, str, list[str], str, str]:
        """The class, type, sensitive properties, plugin ID and version ID a custom connector runs."""
        state = self.core.state
        plugin_id = config.get("confluent.custom.plugin.id", "")
        if not plugin_id:
            raise _bad('Missing required configuration "confluent.custom.plugin.id" for a custom connector.')
        connector_class = config.get("connector.class", "")
        legacy = state.legacy_plugins.get(plugin_id)
        if legacy is not None and legacy.org_id == who.org_id:
            if "confluent.custom.plugin.version" in config:
                raise _bad("confluent.custom.plugin.version applies only to plugins of the ccpm/v1 API")
            if connector_class and connector_class != legacy.connector_class:
                raise _bad(f"Connector class '{connector_class}' does not belong to custom plugin {plugin_id}")
            sensitive = list(legacy.sensitive_config_properties)
            return legacy.connector_class, legacy.connector_type.lower(), sensitive, legacy.id, ""
        plugin = state.ccpm_plugins.get(plugin_id)
        if plugin is None or plugin.org_id != who.org_id or plugin.env_id != cluster.env_id:
            raise _bad(f"Custom plugin {plugin_id} was not found in environment {cluster.env_id}")
        version = self._pick_version(plugin_id, config.get("confluent.custom.plugin.version"), now)
        classes = {c.class_name: c.type for c in version.connector_classes}
        if not connector_class:
            if len(classes) != 1:
                raise _bad(f"connector.class is required: plugin {plugin_id} {version.version} has several classes")
            connector_class = next(iter(classes))
        if connector_class not in classes:
            raise _bad(
                f"Connector class '{connector_class}' is not one of the classes of plugin {plugin_id} "
                f"version {version.version}: {', '.join(sorted(classes))}"
            )
        sensitive = list(version.sensitive_config_properties)
        return connector_class, classes[connector_class].lower(), sensitive, plugin.id, version.id

    def _pick_version(self, plugin_id: str, wanted: str | None, now: float) -> CcpmVersion:
        versions = [v for v in self.core.state.ccpm_versions.values() if v.plugin_id == plugin_id]
        if wanted:
            matching = [v for v in versions if v.version.lstrip("v") == wanted.lstrip("v")]
            if not matching:
                raise _bad(f"Version '{wanted}' of custom plugin {plugin_id} was not found")
            version = matching[0]
            phase = version_phase(version, now)
            if phase is not VersionPhase.READY:
                raise _bad(f"Version '{wanted}' of custom plugin {plugin_id} is {phase.value}, not READY")
            return version
        ready = [v for v in versions if version_phase(v, now) is VersionPhase.READY]
        if not ready:
            raise _bad(f"Custom plugin {plugin_id} has no READY version")
        return max(ready, key=lambda v: _semver_key(v.version))

    # handlers

    async def list_connectors(self, request: Request) -> Response:
        who = caller(request)
        wanted: set[str] = set()
        expand = "expand" in request.query_params
        # `expand=info,status,id`, its %2C form, and repeated parameters all mean the same
        for raw in request.query_params.getlist("expand"):
            wanted.update(part.strip() for part in raw.split(","))
        now = self.core.now()
        with self.core.lock:
            cluster = self._cluster(who, request)
            listed = sorted(
                (
                    c
                    for c in self.core.state.connectors.values()
                    if c.cluster_id == cluster.id and now >= c.created_at + self.core.timing.connector_listing
                ),
                key=lambda c: c.name,
            )
            if not expand:
                return json_response([c.name for c in listed])
            body: dict[str, Any] = {}
            for c in listed:
                entry: dict[str, Any] = {}
                if "id" in wanted:
                    entry["id"] = {"id": c.id, "id_type": "ID"}
                if "info" in wanted:
                    entry["info"] = self._info(c, cluster)
                if "status" in wanted:
                    entry["status"] = self._status(c, now)
                entry["extensions"] = {}
                body[c.name] = entry
        return json_response(body)

    async def create_connector(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = body.get("name")
        offsets = body.get("offsets", [])
        with self.core.lock:
            cluster = self._cluster(who, request)
            if not isinstance(name, str) or not name or "/" in name or len(name) > 256:
                raise _bad("name must be a non-empty string without '/'")
            if not isinstance(offsets, list):
                raise _bad("offsets must be a list")
            key = f"{cluster.id}/{name}"
            if key in self.core.state.connectors:
                # Not in the spec; what Kafka Connect answers, in Connect's flat shape.
                raise ApiError(409, f"Connector {name} already exists", shape=ConnectShape.FLAT)
            connector = self._resolve(who, cluster, name, body.get("config"), None)
            self.core.state.connectors[key] = connector
            self.core.commit()
            return json_response({**self._info(connector, cluster), "offsets": offsets}, 201)

    async def get_connector(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            cluster, connector = self._connector(who, request)
            return json_response(self._info(connector, cluster))

    async def delete_connector(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            cluster, connector = self._connector(who, request)
            del self.core.state.connectors[f"{cluster.id}/{connector.name}"]
            self.core.commit()
        return json_response({"error": None})

    async def get_config(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            cluster, connector = self._connector(who, request)
            return json_response(self._config(connector, cluster))

    async def put_config(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = request.path_params["connector_name"]
        with self.core.lock:
            cluster = self._cluster(who, request)
            key = f"{cluster.id}/{name}"
            existing = self.core.state.connectors.get(key)
            connector = self._resolve(who, cluster, name, body, existing)
            self.core.state.connectors[key] = connector
            self.core.commit()
            return json_response(self._info(connector, cluster))

    async def get_status(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            _, connector = self._connector(who, request)
            return json_response(self._status(connector, self.core.now()))

    async def get_tasks(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            cluster, connector = self._connector(who, request)
            config = self._config(connector, cluster)
            tasks = [
                {"id": {"connector": connector.name, "task": i}, "config": config}
                for i in range(tasks_max(connector.config))
            ]
        return json_response(tasks)

    async def pause(self, request: Request) -> Response:
        return self._set_paused(request, paused=True)

    async def resume(self, request: Request) -> Response:
        return self._set_paused(request, paused=False)

    def _set_paused(self, request: Request, *, paused: bool) -> Response:
        who = caller(request)
        with self.core.lock:
            _, connector = self._connector(who, request)
            if connector.paused != paused:
                now = self.core.now()
                connector.was_paused = shows_paused(connector, now)
                connector.paused = paused
                # One still provisioning comes up in the state asked for: paused, it never runs.
                lag = self.core.timing.connector_pause_resume if now >= connector.provisioned_at else 0.0
                connector.pause_at = now + lag
                connector.updated_at = now
                self.core.commit()
        return Response(status_code=202)

    async def restart(self, request: Request) -> Response:
        """Restart the connector and its tasks: it provisions again, and every failure counts a restart."""
        who = caller(request)
        with self.core.lock:
            cluster, connector = self._connector(who, request)
            if not connector.paused:
                now = self.core.now()
                connector.failures = _count_restart(connector.failures, lambda f: True)
                outcome = self.core.take_outcome(cluster.env_id, cluster.id, connector.name)
                failure = outcome.failure() if outcome else None
                if failure is not None:
                    connector.fail(failure)
                connector.provisioned_at = now + self.core.timing.connector_provisioning
                connector.updated_at = now
                self.core.commit()
        return Response(status_code=202)

    async def restart_task(self, request: Request) -> Response:
        """Restart one task: its own failure counts a restart; the connector's failure does not."""
        who = caller(request)
        with self.core.lock:
            _, connector = self._connector(who, request)
            task_id: int = request.path_params["task_id"]
            if not 0 <= task_id < tasks_max(connector.config):
                raise _not_found()
            if not connector.paused:
                connector.failures = _count_restart(connector.failures, lambda f: f.task == task_id)
                connector.updated_at = self.core.now()
                self.core.commit()
        return Response(status_code=202)
