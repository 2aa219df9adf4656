"""connect/v1 connectors of one Kafka cluster: Kafka-Connect-REST style, addressed by name.

The connector ID (`clcc-…`, `lcc-…`) appears only in the expanded list
(`?expand=id,info,status`), so `list` is the way to learn it. A config is a flat map of strings,
always written whole (`put_config` is an idempotent create-or-update); Confluent answers with
sensitive values masked (`is_masked`) and with keys of its own added.

Config values are treated as secrets: they are scrubbed from error texts and kept out of reprs,
except for the few keys that only name things (class, plugin, auth mode).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field, field_validator

from ccloud_operator.confluent.errors import ApiError
from ccloud_operator.confluent.models import ApiModel
from ccloud_operator.confluent.transport import ApiTransport, parse, segment

__all__ = [
    "MASK",
    "Connector",
    "ConnectorExpansion",
    "ConnectorId",
    "ConnectorState",
    "ConnectorStatus",
    "ConnectorStatusDetail",
    "Connectors",
    "Offset",
    "TaskRef",
    "TaskStatus",
    "TraceError",
    "is_masked",
]

MASK = "****************"
_MASKED = re.compile(r"\*{2,}")
# Keys whose values name things rather than hold them; everything else may be a secret.
_PUBLIC_KEYS = frozenset(
    {
        "name",
        "connector.class",
        "tasks.max",
        "kafka.auth.mode",
        "kafka.service.account.id",
        "confluent.connector.type",
        "confluent.custom.plugin.id",
        "confluent.custom.plugin.version",
        "confluent.custom.connect.plugin.runtime",
        "confluent.custom.connect.java.version",
    }
)


def is_masked(value: str | None) -> bool:
    """Whether Confluent replaced this config value by asterisks (it never returns secrets)."""
    return value is not None and _MASKED.fullmatch(value) is not None


class Offset(ApiModel):
    """Where a connector starts: keys are the connector's own (`kafka_partition`, `kafka_offset`, …)."""

    partition: dict[str, str | int] = {}
    offset: dict[str, str | int] = {}


class ConnectorState(StrEnum):
    NONE = "NONE"
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    DELETED = "DELETED"


class TaskRef(ApiModel):
    connector: str = ""
    task: int = 0


class Connector(ApiModel):
    """A connector as `GET …/connectors/{name}` and the expanded list's `info` spell it."""

    name: str
    config: dict[str, str] = Field(default_factory=dict, repr=False)
    tasks: list[TaskRef] = []
    type: str | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): "" if v is None else v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value


class ConnectorStatusDetail(ApiModel):
    # Extensible on Confluent's side: a state it adds later stays a plain string.
    state: ConnectorState | str = ConnectorState.NONE
    worker_id: str | None = None
    trace: str | None = None


class TaskStatus(ApiModel):
    id: int
    state: str = ""
    worker_id: str | None = None
    msg: str | None = None


class TraceError(ApiModel):
    error: str = ""


class ConnectorStatus(ApiModel):
    name: str = ""
    connector: ConnectorStatusDetail = ConnectorStatusDetail()
    tasks: list[TaskStatus] = []
    type: str | None = None
    # Undocumented, but what real clients read to say why a connector failed (CONTRACT.md 2.2).
    errors_from_trace: list[TraceError] = []
    validation_errors: list[str] = []
    override_message: str | None = None

    @property
    def state(self) -> ConnectorState | str:
        return self.connector.state


class ConnectorId(ApiModel):
    id: str
    id_type: str | None = None


class ConnectorExpansion(ApiModel):
    """One entry of the expanded list: the only place Confluent gives a connector's ID."""

    id: ConnectorId | None = None
    info: Connector | None = None
    status: ConnectorStatus | None = None

    @property
    def connector_id(self) -> str | None:
        return self.id.id if self.id else None


class Connectors:
    """`/connect/v1/environments/{env}/clusters/{lkc}/connectors…`."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    @staticmethod
    def _path(environment_id: str, cluster_id: str, name: str | None = None) -> str:
        base = f"/connect/v1/environments/{segment(environment_id)}/clusters/{segment(cluster_id)}/connectors"
        return base if name is None else f"{base}/{segment(name)}"

    async def list(self, environment_id: str, cluster_id: str) -> dict[str, ConnectorExpansion]:
        """Every connector of the cluster by name, with its ID, config and status (one request)."""
        body = await self._api.json("GET", self._path(environment_id, cluster_id), params={"expand": "id,info,status"})
        if not body:  # Confluent may say {} or [] for none
            return {}
        if not isinstance(body, dict):
            raise ApiError(200, "invalid_response", "the expanded connector list is not an object")
        return {name: parse(ConnectorExpansion, item, "GET connectors") for name, item in body.items()}

    async def names(self, environment_id: str, cluster_id: str) -> builtins.list[str]:
        body = await self._api.json("GET", self._path(environment_id, cluster_id))
        return [str(name) for name in body or []]

    async def find(self, environment_id: str, cluster_id: str, name: str) -> ConnectorExpansion | None:
        """The named connector from the expanded list, or None (a new one may lag behind there)."""
        return (await self.list(environment_id, cluster_id)).get(name)

    async def get(self, environment_id: str, cluster_id: str, name: str) -> Connector:
        return await self._api.model(Connector, "GET", self._path(environment_id, cluster_id, name))

    async def status(self, environment_id: str, cluster_id: str, name: str) -> ConnectorStatus:
        return await self._api.model(ConnectorStatus, "GET", f"{self._path(environment_id, cluster_id, name)}/status")

    async def get_config(self, environment_id: str, cluster_id: str, name: str) -> dict[str, str]:
        """The config as Confluent has it: secrets masked, its own keys added."""
        body = await self._api.json("GET", f"{self._path(environment_id, cluster_id, name)}/config")
        return Connector.model_validate({"name": name, "config": body or {}}).config

    async def put_config(self, environment_id: str, cluster_id: str, name: str, config: Mapping[str, str]) -> Connector:
        """Create or replace the whole config (never a patch: leave nothing out)."""
        body = _config(name, config)
        return await self._api.model(
            Connector,
            "PUT",
            f"{self._path(environment_id, cluster_id, name)}/config",
            json=body,
            secrets=_secret_values(body),
        )

    async def create(
        self,
        environment_id: str,
        cluster_id: str,
        name: str,
        config: Mapping[str, str],
        offsets: builtins.list[Offset] | None = None,
    ) -> Connector:
        """Create a connector (POST); `put_config` does the same idempotently, without offsets."""
        body: dict[str, object] = {"name": name, "config": _config(name, config)}
        if offsets is not None:
            body["offsets"] = [o.payload() for o in offsets]
        return await self._api.model(
            Connector, "POST", self._path(environment_id, cluster_id), json=body, secrets=_secret_values(config)
        )

    async def pause(self, environment_id: str, cluster_id: str, name: str) -> None:
        await self._api.request("PUT", f"{self._path(environment_id, cluster_id, name)}/pause")

    async def resume(self, environment_id: str, cluster_id: str, name: str) -> None:
        await self._api.request("PUT", f"{self._path(environment_id, cluster_id, name)}/resume")

    async def restart(self, environment_id: str, cluster_id: str, name: str) -> None:
        await self._api.request("POST", f"{self._path(environment_id, cluster_id, name)}/restart")

    async def restart_task(self, environment_id: str, cluster_id: str, name: str, task: int) -> None:
        await self._api.request("POST", f"{self._path(environment_id, cluster_id, name)}/tasks/{task}/restart")

    async def delete(self, environment_id: str, cluster_id: str, name: str) -> None:
        """Delete it; `NotFound` if it is already gone."""
        await self._api.request("DELETE", self._path(environment_id, cluster_id, name))


def _config(name: str, config: Mapping[str, str]) -> dict[str, str]:
    """The config to send: strings only, and `name` equal to the connector's (Confluent insists)."""
    bad = sorted(k for k, v in config.items() if not isinstance(v, str))
    if bad:
        raise TypeError(f"connector config values must be strings; not for {', '.join(bad)}")
    if config.get("name", name) != name:
        raise ValueError(f"config name {config['name']!r} differs from the connector name {name!r}")
    return {**config, "name": name}


def _secret_values(config: Mapping[str, str]) -> builtins.list[str]:
    return [v for k, v in config.items() if k not in _PUBLIC_KEYS and not is_masked(v)]
