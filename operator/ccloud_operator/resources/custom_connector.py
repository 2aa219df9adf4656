"""The CustomConnector kind: a connect/v1 custom connector running a ConnectorPlugin's archive.

The config Confluent gets is built from this spec alone: the typed fields set their keys, `config`
adds the rest, `sensitiveConfig` adds values read from Secrets. A key given twice (by a typed field
and in `config`, or in `config` and `sensitiveConfig`) is refused at admission, naming both.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonValue

from ccloud_operator.resources.base import (
    OBJECT_NAME,
    AdoptionPolicy,
    CamelModel,
    CommonSpec,
    CommonStatus,
    LocalObjectReference,
    exactly_one,
    immutable,
)
from ccloud_operator.resources.connector_plugin import JAVA_CLASS, PROPERTY, SecretKeyRef
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = [
    "CUSTOM_CONNECTOR",
    "TYPED_KEYS",
    "ConnectorState",
    "CustomConnectorSpec",
    "CustomConnectorStatus",
    "KafkaAuth",
    "PluginRef",
    "PluginRunning",
    "RestartMode",
    "RestartPolicy",
    "RestartStatus",
    "Runtime",
    "SensitiveValue",
    "TaskStatus",
]

# Unicode letters, digits and marks and `. , & _ + | [ ] -`, at most 64 (CONTRACT.md 2.1).
CONNECTOR_NAME = r"^[\p{L}\p{N}\p{M}.,&_+|\[\] -]+$"
ENDPOINT = r"^[A-Za-z0-9.-]+:[0-9]{1,5}:TCP$"
MAX_TASKS = 5  # custom connectors run at most five tasks (CONTRACT.md 2.1)

# The config keys the typed fields set, and the field that sets each: `config` must not set them too.
TYPED_KEYS: dict[str, str] = {
    "name": "spec.connectorName",
    "connector.class": "spec.connectorClass",
    "tasks.max": "spec.tasksMax",
    "confluent.connector.type": "the operator, which always sends CUSTOM,",
    "confluent.custom.plugin.id": "spec.plugin",
    "confluent.custom.plugin.version": "spec.plugin.version",
    "kafka.auth.mode": "spec.kafkaAuth",
    "kafka.service.account.id": "spec.kafkaAuth.serviceAccount",
    "kafka.api.key": "spec.kafkaAuth.apiKeySecret",
    "kafka.api.secret": "spec.kafkaAuth.apiKeySecret",
    "confluent.custom.connection.endpoints": "spec.connectionEndpoints",
    "confluent.custom.schema.registry.auto": "spec.schemaRegistryAuto",
    "confluent.custom.connect.plugin.runtime": "spec.runtime.pluginRuntime",
    "confluent.custom.connect.java.version": "spec.runtime.javaVersion",
}


class ConnectorState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"


class PluginRef(CamelModel):
    """The plugin the connector runs: a ConnectorPlugin in this namespace, or a plugin by Confluent ID."""

    model_config = exactly_one("name", "id", "plugin takes exactly one of name or id")

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME,
        description="A ConnectorPlugin in this namespace.",
    )
    id: str | None = Field(
        default=None,
        pattern=r"^ccp-[a-z0-9]+$",
        description="A plugin's Confluent ID (ccp-…), for a plugin this namespace does not manage.",
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        description=(
            "The version of a CCPM plugin to run; it must be READY first. Required for a CCPM plugin named by "
            "name; leave it out for a legacy plugin, whose single archive has no version."
        ),
    )


class KafkaAuth(CamelModel):
    """How the connector authenticates to its Kafka cluster: as a service account, or with an API key."""

    model_config = exactly_one(
        "serviceAccount", "apiKeySecret", "kafkaAuth takes exactly one of serviceAccount or apiKeySecret"
    )

    service_account: LocalObjectReference | None = Field(
        default=None,
        description="A ServiceAccount in this namespace (SERVICE_ACCOUNT mode). It must be Ready first.",
    )
    api_key_secret: LocalObjectReference | None = Field(
        default=None,
        description=(
            "A Secret in this namespace with keys `key` and `secret` (KAFKA_API_KEY mode), such as the one an "
            "ApiKey writes."
        ),
    )


class SensitiveValue(CamelModel):
    name: str = Field(
        min_length=1, max_length=255, pattern=PROPERTY, description="The config key, such as database.password."
    )
    secret_key_ref: SecretKeyRef = Field(description="The Secret key in this namespace whose value is sent.")


class Runtime(CamelModel):
    plugin_runtime: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="The Connect runtime to run on, as /connect/v1/custom-connector-runtimes lists them (3.9.0).",
    )
    java_version: str | None = Field(
        default=None, pattern=r"^[0-9]{1,2}$", description="The Java version to run on, such as 17."
    )


class RestartMode(StrEnum):
    NEVER = "Never"
    ON_FAILURE = "OnFailure"


class RestartPolicy(CamelModel):
    """Restarting what failed: the FAILED tasks, or the connector when it failed itself."""

    mode: RestartMode = Field(
        default=RestartMode.ON_FAILURE,
        description="OnFailure restarts failed tasks, or the connector, with backoff; Never only reports.",
    )
    max_restarts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Restarts in a row before giving up; the count resets once the connector has run an hour.",
    )
    backoff_seconds: int = Field(
        default=30, ge=1, le=3600, description="The wait before the first restart; doubled after each."
    )
    max_backoff_seconds: int = Field(default=900, ge=1, le=86400, description="The longest wait between restarts.")


def _typed_key_rules() -> list[JsonValue]:
    """CEL rules refusing a key given twice: by a typed field and in config, or in config and sensitiveConfig."""
    rules: list[JsonValue] = []
    for key, field in TYPED_KEYS.items():
        rules.append(
            {
                "rule": f"!has(self.config) || !('{key}' in self.config)",
                "message": f"config must not set {key}: {field} does",
            }
        )
    typed = ", ".join(f"'{key}'" for key in TYPED_KEYS)
    rules.append(
        {
            "rule": "!has(self.config) || !has(self.sensitiveConfig) "
            "|| self.sensitiveConfig.all(s, !(s.name in self.config))",
            "message": "a key is in both config and sensitiveConfig: give each key once",
        }
    )
    rules.append(
        {
            "rule": f"!has(self.sensitiveConfig) || self.sensitiveConfig.all(s, !(s.name in [{typed}]))",
            "message": "sensitiveConfig must not set a key a typed field sets (kafka.api.secret comes from kafkaAuth)",
        }
    )
    return rules


class CustomConnectorSpec(CommonSpec):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _typed_key_rules()})

    environment: str = Field(
        pattern=r"^env-[a-z0-9]+$",
        description="The environment (env-…) of the Kafka cluster.",
        json_schema_extra=immutable("environment cannot be changed: create a new CustomConnector instead"),
    )
    kafka_cluster: str = Field(
        pattern=r"^lkc-[a-z0-9]+$",
        description="The Kafka cluster (lkc-…) the connector runs in.",
        json_schema_extra=immutable("kafkaCluster cannot be changed: create a new CustomConnector instead"),
    )
    connector_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=CONNECTOR_NAME,
        description="The connector's name in Confluent Cloud, unique in the cluster. Defaults to metadata.name.",
        json_schema_extra=immutable("connectorName cannot be changed: create a new CustomConnector instead"),
    )
    plugin: PluginRef = Field(description="The plugin (and, for a CCPM plugin, the version) the connector runs.")
    connector_class: str = Field(
        min_length=1, max_length=150, pattern=JAVA_CLASS, description="The connector class, one the plugin provides."
    )
    tasks_max: int = Field(default=1, ge=1, le=MAX_TASKS, description="The most tasks to run (1 to 5).")
    state: ConnectorState = Field(
        default=ConnectorState.RUNNING,
        description="RUNNING or PAUSED. A connector declared PAUSED is paused as it is created, never left running.",
    )
    kafka_auth: KafkaAuth = Field(description="How the connector authenticates to Kafka.")
    config: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The connector's own config, strings only. Secret values go in sensitiveConfig: a property the plugin "
            "declares sensitive is refused here."
        ),
        json_schema_extra={"maxProperties": 200},
    )
    sensitive_config: list[SensitiveValue] = Field(
        default_factory=list,
        max_length=50,
        description="Config values read from Secrets. A changed Secret reaches Confluent within seconds.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    connection_endpoints: list[str] = Field(
        default_factory=list,
        max_length=50,
        description='Endpoints the connector may reach, each "host:port:TCP" (s3.us-east-1.amazonaws.com:443:TCP).',
        json_schema_extra={"items": {"type": "string", "maxLength": 260, "pattern": ENDPOINT}},
    )
    schema_registry_auto: bool = Field(
        default=False, description="Let the connector reach the environment's Schema Registry without its own key."
    )
    runtime: Runtime | None = Field(default=None, description="The Connect runtime and Java version to run on.")
    restart_policy: RestartPolicy | None = Field(
        default=None,
        description="Restart failed tasks or the connector with backoff, up to a limit. None: report only.",
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY,
        description=(
            "What to do when a connector with this name already exists in the cluster: CreateOnly reports a "
            "conflict, AdoptOrCreate adopts it (or creates one), Adopt adopts it and never creates."
        ),
    )

    @model_validator(mode="after")
    def _each_key_once(self) -> CustomConnectorSpec:
        for key in self.config:
            if key in TYPED_KEYS:
                raise ValueError(f"config must not set {key}: {TYPED_KEYS[key]} does")
        for entry in self.sensitive_config:
            if entry.name in self.config:
                raise ValueError(f"{entry.name} is in both config and sensitiveConfig: give it once")
            if entry.name in TYPED_KEYS:
                raise ValueError(f"sensitiveConfig must not set {entry.name}: {TYPED_KEYS[entry.name]} does")
        return self


class TaskStatus(CamelModel):
    id: int = Field(description="The task number.")
    state: str = Field(description="RUNNING, FAILED, PAUSED, UNASSIGNED …, as Confluent says.")
    message: str = Field(default="", description="Confluent's message for the task, trimmed.")


class PluginRunning(CamelModel):
    id: str | None = Field(default=None, description="The plugin's Confluent ID (ccp-…).")
    version: str | None = Field(default=None, description="The plugin version the connector runs.")


class RestartStatus(CamelModel):
    count: int = Field(default=0, description="Restarts in a row the operator made.")
    last_time: str | None = Field(default=None, description="When the operator last restarted something (RFC 3339).")
    last: str | None = Field(default=None, description="What it restarted: the connector, or task N.")


class CustomConnectorStatus(CommonStatus):
    connector_name: str | None = Field(default=None, description="The connector's name in Confluent Cloud.")
    connector_state: str | None = Field(
        default=None, description="PROVISIONING, RUNNING, DEGRADED, FAILED or PAUSED, as Confluent says."
    )
    tasks: list[TaskStatus] = Field(default_factory=list, description="Each task's state.")
    trace: str = Field(default="", description="Confluent's trace for a failed connector, trimmed.")
    plugin: PluginRunning | None = Field(default=None, description="The plugin and version the connector runs.")
    applied_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="The resourceVersion of each Secret whose values were last sent (never the values).",
    )
    last_applied_time: str | None = Field(
        default=None, description="When the operator last sent the connector's config (RFC 3339)."
    )
    failing_since: str | None = Field(
        default=None, description="When Confluent first reported the connector FAILED (RFC 3339)."
    )
    restarts: RestartStatus | None = Field(default=None, description="What the restart policy did.")


CUSTOM_CONNECTOR = Kind(
    kind="CustomConnector",
    plural="customconnectors",
    short_names=("cccc",),
    description=(
        "A Confluent Cloud custom connector (connect/v1) running a ConnectorPlugin, its config built from this "
        "spec and its secret values read from Kubernetes Secrets."
    ),
    spec=CustomConnectorSpec,
    status=CustomConnectorStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("State", ".status.connectorState", "The connector's state in Confluent."),
        PrinterColumn("Plugin", ".spec.plugin.name", "The ConnectorPlugin it runs."),
        PrinterColumn("Version", ".status.plugin.version", "The plugin version it runs."),
        AGE,
        MESSAGE,
    ),
)
