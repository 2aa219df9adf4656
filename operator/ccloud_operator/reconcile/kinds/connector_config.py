"""A CustomConnector's config, built from its spec alone, and the only comparison that counts as drift.

The config sent to Confluent never comes from a read: a read has masked values and keys Confluent
added. Drift is what Confluent has that differs from what the spec builds, ignoring those two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ccloud_operator.confluent.connectors import is_masked
from ccloud_operator.resources.custom_connector import CustomConnectorSpec

__all__ = ["Inputs", "build_config", "drift", "plain_sensitive", "trim"]

# Keys Confluent adds to what it returns (CONTRACT.md 2.1): never drift.
SERVER_KEYS = frozenset(
    {
        "cloud.environment",
        "cloud.provider",
        "kafka.endpoint",
        "kafka.region",
        "connector.crn",
        "kafka.dedicated",
        "kafka.max.partition.validation.disable",
        "schema.registry.url",
        "valid.kafka.api.key",
        "confluent.custom.plugin.type",
        "confluent.resource.connector.tier",
    }
)
SERVER_PREFIXES = ("config.internal.",)


@dataclass(frozen=True)
class Inputs:
    """What the spec points at, resolved: the plugin, the Kafka identity and the Secret values."""

    plugin_id: str
    plugin_version: str | None
    service_account_id: str | None = None
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    sensitive: Mapping[str, str] = field(default_factory=dict, repr=False)


def build_config(spec: CustomConnectorSpec, name: str, inputs: Inputs) -> dict[str, str]:
    """The whole config to PUT: typed fields first, then `config`, then the values from Secrets."""
    config = {
        "name": name,
        "connector.class": spec.connector_class,
        "tasks.max": str(spec.tasks_max),
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": inputs.plugin_id,
    }
    if inputs.plugin_version is not None:
        config["confluent.custom.plugin.version"] = inputs.plugin_version
    if inputs.service_account_id is not None:
        config["kafka.auth.mode"] = "SERVICE_ACCOUNT"
        config["kafka.service.account.id"] = inputs.service_account_id
    else:
        config["kafka.auth.mode"] = "KAFKA_API_KEY"
        config["kafka.api.key"] = inputs.api_key or ""
        config["kafka.api.secret"] = inputs.api_secret or ""
    if spec.connection_endpoints:
        config["confluent.custom.connection.endpoints"] = ";".join(spec.connection_endpoints)
    config["confluent.custom.schema.registry.auto"] = "TRUE" if spec.schema_registry_auto else "FALSE"
    if spec.runtime is not None and spec.runtime.plugin_runtime:
        config["confluent.custom.connect.plugin.runtime"] = spec.runtime.plugin_runtime
    if spec.runtime is not None and spec.runtime.java_version:
        config["confluent.custom.connect.java.version"] = spec.runtime.java_version
    config.update(spec.config)
    config.update(inputs.sensitive)
    return config


def _servers(key: str) -> bool:
    return key in SERVER_KEYS or key.startswith(SERVER_PREFIXES)


def drift(want: Mapping[str, str], have: Mapping[str, str]) -> list[str]:
    """The keys (never values) whose value in Confluent differs from the spec's, or that only one side has.

    A masked value cannot be compared: a change to a secret is known from its Secret's resourceVersion.
    """
    differ = []
    for key, value in want.items():
        theirs = have.get(key)
        if theirs is None or (not is_masked(theirs) and theirs != value and not _same_flag(theirs, value)):
            differ.append(key)
    # A masked key the spec does not send is Confluent's too (a service account connector shows
    # masked kafka.api.key and kafka.api.secret it made for itself).
    differ.extend(key for key, value in have.items() if key not in want and not _servers(key) and not is_masked(value))
    return sorted(differ)


def _same_flag(a: str, b: str) -> bool:
    """TRUE and true are one value to Confluent (it echoes either)."""
    return a.lower() == b.lower() and a.lower() in {"true", "false"}


def plain_sensitive(spec: CustomConnectorSpec, declared: Iterable[str]) -> list[str]:
    """Keys in plain `config` that the plugin declares sensitive: they belong in `sensitiveConfig`."""
    sensitive = set(declared)
    return sorted(key for key in spec.config if key in sensitive)


def trim(text: str | None, limit: int = 1024) -> str:
    """A trace as status shows it: the first lines up to `limit` characters (the cause comes first)."""
    if not text:
        return ""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
