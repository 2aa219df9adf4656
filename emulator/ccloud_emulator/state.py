"""The emulator's state: plain dataclasses for every Confluent object, and their JSON form.

It knows nothing of HTTP or time: phases that move with the clock (a connector provisioning, a plugin
version processing, an API key propagating) are stored as timestamps and computed by the API modules.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "AccessToken",
    "ApiKey",
    "CcpmPlugin",
    "CcpmVersion",
    "Cloud",
    "ClusterKind",
    "Connector",
    "ConnectorClass",
    "ConnectorKind",
    "ConnectorState",
    "ContentFormat",
    "Environment",
    "Failure",
    "IdentityPool",
    "IdentityProvider",
    "Invitation",
    "InvitationStatus",
    "IpFilter",
    "IpGroup",
    "KafkaCluster",
    "LegacyPlugin",
    "Organization",
    "RoleBinding",
    "ServiceAccount",
    "State",
    "Upload",
    "UploadApi",
    "User",
    "UserStatus",
    "VersionPhase",
]

STATE_FORMAT = 1


class Cloud(StrEnum):
    AWS = "AWS"
    GCP = "GCP"
    AZURE = "AZURE"


class ClusterKind(StrEnum):
    """A cmk/v2 cluster's `spec.config.kind`."""

    BASIC = "Basic"
    STANDARD = "Standard"
    ENTERPRISE = "Enterprise"
    DEDICATED = "Dedicated"
    FREIGHT = "Freight"


class ContentFormat(StrEnum):
    ZIP = "ZIP"
    JAR = "JAR"


class ConnectorState(StrEnum):
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"


class ConnectorKind(StrEnum):
    MANAGED = "MANAGED"
    CUSTOM = "CUSTOM"


class VersionPhase(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class UploadApi(StrEnum):
    """Which presigned-URL endpoint issued an upload: each plugin API accepts only its own."""

    CONNECT = "connect"
    CCPM = "ccpm"


class UserStatus(StrEnum):
    """Where a user stands: invited and not yet in, in, or gone (an invitation deleted unaccepted)."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    DEACTIVATED = "DEACTIVATED"


class InvitationStatus(StrEnum):
    """What is stored; a SENT invitation past its `expires_at` reads INVITE_STATUS_EXPIRED."""

    SENT = "INVITE_STATUS_SENT"
    ACCEPTED = "INVITE_STATUS_ACCEPTED"


@dataclass
class Organization:
    id: str
    display_name: str
    created_at: float


@dataclass
class User:
    id: str
    org_id: str
    email: str
    full_name: str = ""
    auth_type: str = "AUTH_TYPE_LOCAL"
    status: UserStatus = UserStatus.ACTIVE
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class Invitation:
    id: str
    org_id: str
    email: str
    auth_type: str
    user_id: str
    # who invited: the owner (u-… or sa-…) of the API key that asked
    creator_id: str
    status: InvitationStatus
    created_at: float
    updated_at: float
    expires_at: float
    accepted_at: float | None = None


@dataclass
class RoleBinding:
    id: str
    org_id: str
    principal: str
    role_name: str
    crn_pattern: str
    created_at: float
    updated_at: float


@dataclass
class IpGroup:
    id: str
    org_id: str
    group_name: str
    cidr_blocks: list[str]
    created_at: float
    updated_at: float


@dataclass
class IpFilter:
    id: str
    org_id: str
    filter_name: str
    # "management" or "multiple"
    resource_group: str
    # the organisation's CRN, or an environment's in it
    resource_scope: str
    operation_groups: list[str]
    ip_group_ids: list[str]
    created_at: float
    updated_at: float


@dataclass
class IdentityProvider:
    """An OIDC identity provider: tokens it issues carry `iss` == `issuer` and are signed by the
    keys published at `jwks_uri`."""

    id: str
    org_id: str
    display_name: str
    description: str
    issuer: str
    jwks_uri: str
    # optional at the provider; each pool has its own
    identity_claim: str
    created_at: float
    updated_at: float


@dataclass
class IdentityPool:
    """A group of a provider's identities: the tokens whose claims match `filter`."""

    id: str
    org_id: str
    provider_id: str
    display_name: str
    description: str
    identity_claim: str
    filter: str
    created_at: float
    updated_at: float


@dataclass
class AccessToken:
    """An access token the STS issued. Only its SHA-256 is kept (`digest`, the table's key): the
    token itself is in no table, no file and no log."""

    digest: str
    pool_id: str
    org_id: str
    issued_at: float
    expires_at: float


@dataclass
class Environment:
    id: str
    org_id: str
    display_name: str
    created_at: float
    updated_at: float
    stream_governance: str = "ESSENTIALS"


@dataclass
class KafkaCluster:
    id: str
    env_id: str
    display_name: str
    cloud: Cloud
    region: str
    created_at: float
    updated_at: float
    availability: str = "SINGLE_ZONE"
    kind: ClusterKind = ClusterKind.BASIC
    deletion_protection: bool = False

    @property
    def bootstrap(self) -> str:
        suffix = self.id.removeprefix("lkc-")
        return f"SASL_SSL://pkc-{suffix}.{self.region}.{self.cloud.lower()}.confluent.cloud:9092"

    @property
    def network_id(self) -> str:
        # one network per cluster, named after it, so the ID needs no place in the state file
        return "n-" + self.id.removeprefix("lkc-")


@dataclass
class ServiceAccount:
    id: str
    org_id: str
    display_name: str
    description: str
    created_at: float
    updated_at: float


@dataclass
class ApiKey:
    id: str
    secret: str = field(repr=False)
    org_id: str
    owner_id: str
    # "cloud", "global", "tableflow" or a Kafka cluster id
    resource_id: str
    display_name: str
    description: str
    created_at: float
    updated_at: float
    usable_at: float


@dataclass
class Upload:
    id: str
    org_id: str
    api: UploadApi
    cloud: Cloud
    content_format: ContentFormat
    env_id: str | None
    created_at: float
    received_at: float | None = None
    size: int = 0
    sha256: str = ""
    valid_archive: bool = False
    # the plugin or version created from it: an upload makes one object, once
    used_by: str = ""


@dataclass
class LegacyPlugin:
    id: str
    org_id: str
    display_name: str
    description: str
    documentation_link: str
    connector_class: str
    connector_type: str
    cloud: Cloud
    sensitive_config_properties: list[str]
    content_format: ContentFormat
    runtime_language: str
    created_at: float
    updated_at: float


@dataclass
class CcpmPlugin:
    id: str
    org_id: str
    env_id: str
    display_name: str
    description: str
    cloud: Cloud
    created_at: float
    updated_at: float


@dataclass
class ConnectorClass:
    class_name: str
    type: str


@dataclass
class CcpmVersion:
    id: str
    plugin_id: str
    env_id: str
    version: str
    sensitive_config_properties: list[str]
    documentation_link: str
    content_format: ContentFormat
    connector_classes: list[ConnectorClass]
    # empty when the archive is good; otherwise the message the version fails with
    failure: str
    created_at: float
    ready_at: float


@dataclass
class Failure:
    """A failure a test made: of the connector itself (`task` None) or of one task.

    `heals_after` counts the restarts (of the connector, or of that task) still needed: the one that
    brings it to 0 heals it; None means no restart does.
    """

    trace: str
    task: int | None = None
    errors_from_trace: list[str] = field(default_factory=list)
    validation_errors: list[str] = field(default_factory=list)
    override_message: str = ""
    heals_after: int | None = 1


@dataclass
class Connector:
    id: str
    env_id: str
    cluster_id: str
    name: str
    config: dict[str, str] = field(repr=False)
    kind: ConnectorKind
    type: str
    sensitive: list[str]
    plugin_id: str
    version_id: str
    created_at: float
    updated_at: float
    provisioned_at: float
    failures: list[Failure] = field(default_factory=list)
    # the state asked for; until `pause_at` the connector still shows `was_paused` (a pause lags)
    paused: bool = False
    was_paused: bool = False
    pause_at: float = 0.0
    # the class the connector runs, which custom connectors may leave out of their config
    connector_class: str = ""

    def fail(self, failure: Failure) -> None:
        """Add a failure, in place of the one the connector (or that task) already had."""
        self.failures = [f for f in self.failures if f.task != failure.task] + [failure]


_NESTED: dict[tuple[type[Any], str], type[Any]] = {
    (CcpmVersion, "connector_classes"): ConnectorClass,
    (Connector, "failures"): Failure,
}
_ENUMS: dict[tuple[type[Any], str], type[StrEnum]] = {
    (User, "status"): UserStatus,
    (Invitation, "status"): InvitationStatus,
    (KafkaCluster, "cloud"): Cloud,
    (KafkaCluster, "kind"): ClusterKind,
    (Upload, "api"): UploadApi,
    (Upload, "cloud"): Cloud,
    (Upload, "content_format"): ContentFormat,
    (LegacyPlugin, "cloud"): Cloud,
    (LegacyPlugin, "content_format"): ContentFormat,
    (CcpmPlugin, "cloud"): Cloud,
    (CcpmVersion, "content_format"): ContentFormat,
    (Connector, "kind"): ConnectorKind,
}


def _upgrade_connector(raw: dict[str, Any]) -> dict[str, Any]:
    """A connector saved before failures were a list kept its outcome and trace instead."""
    if "failures" in raw or raw.get("outcome") not in (ConnectorState.FAILED, ConnectorState.DEGRADED):
        return raw
    task = None if raw["outcome"] == ConnectorState.FAILED else 0
    return {**raw, "failures": [{"trace": raw.get("trace", ""), "task": task}]}


def _load(cls: type[Any], raw: dict[str, Any]) -> Any:
    if cls is Connector:
        raw = _upgrade_connector(raw)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if (cls, f.name) in _NESTED:
            value = [_NESTED[cls, f.name](**item) for item in value]
        elif (cls, f.name) in _ENUMS:
            value = _ENUMS[cls, f.name](value)
        values[f.name] = value
    return cls(**values)


@dataclass
class State:
    """Everything a restart must keep. Tables are keyed by ID (connectors by `cluster/name`)."""

    organizations: dict[str, Organization] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    clusters: dict[str, KafkaCluster] = field(default_factory=dict)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    legacy_plugins: dict[str, LegacyPlugin] = field(default_factory=dict)
    ccpm_plugins: dict[str, CcpmPlugin] = field(default_factory=dict)
    ccpm_versions: dict[str, CcpmVersion] = field(default_factory=dict)
    connectors: dict[str, Connector] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    role_bindings: dict[str, RoleBinding] = field(default_factory=dict)
    ip_groups: dict[str, IpGroup] = field(default_factory=dict)
    ip_filters: dict[str, IpFilter] = field(default_factory=dict)
    identity_providers: dict[str, IdentityProvider] = field(default_factory=dict)
    identity_pools: dict[str, IdentityPool] = field(default_factory=dict)
    # keyed by the token's SHA-256
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    # IDs of deleted objects, never given again (the real API answers 403 for deleted service
    # accounts and API keys, not 404)
    tombstones: set[str] = field(default_factory=set)
    # the seeded defaults: organization_id, user_id, environment_id, kafka_cluster_id, api_key
    defaults: dict[str, str] = field(default_factory=dict)

    _TABLES = {
        "organizations": Organization,
        "users": User,
        "environments": Environment,
        "clusters": KafkaCluster,
        "service_accounts": ServiceAccount,
        "api_keys": ApiKey,
        "uploads": Upload,
        "legacy_plugins": LegacyPlugin,
        "ccpm_plugins": CcpmPlugin,
        "ccpm_versions": CcpmVersion,
        "connectors": Connector,
        "invitations": Invitation,
        "role_bindings": RoleBinding,
        "ip_groups": IpGroup,
        "ip_filters": IpFilter,
        "identity_providers": IdentityProvider,
        "identity_pools": IdentityPool,
        "access_tokens": AccessToken,
    }

    def copy(self) -> State:
        return copy.deepcopy(self)

    def has_id(self, candidate: str) -> bool:
        """Whether any object, live or deleted, has this ID."""
        if candidate in self.tombstones or any(candidate in getattr(self, name) for name in self._TABLES):
            return True
        return candidate.startswith(("lcc-", "clcc-")) and any(c.id == candidate for c in self.connectors.values())

    def connectors_using(self, *, plugin_id: str = "", version_id: str = "") -> list[str]:
        """The names of the connectors that run this plugin or this plugin version, sorted."""
        return sorted(
            c.name
            for c in self.connectors.values()
            if (plugin_id and c.plugin_id == plugin_id) or (version_id and c.version_id == version_id)
        )

    def filters_using(self, group_id: str) -> list[IpFilter]:
        """The IP filters that name this IP group, by name."""
        return sorted((f for f in self.ip_filters.values() if group_id in f.ip_group_ids), key=lambda f: f.filter_name)

    def delete_role_bindings(self, matching: Callable[[RoleBinding], bool]) -> None:
        """Delete the role bindings `matching` picks (those of a deleted principal or scope)."""
        for rb_id in [rb.id for rb in self.role_bindings.values() if matching(rb)]:
            del self.role_bindings[rb_id]
            self.tombstones.add(rb_id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": STATE_FORMAT,
            "tombstones": sorted(self.tombstones),
            "defaults": dict(self.defaults),
        }
        for name in self._TABLES:
            table: dict[str, Any] = getattr(self, name)
            out[name] = {key: dataclasses.asdict(item) for key, item in table.items()}
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> State:
        if raw.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported state file format {raw.get('format')!r}")
        state = cls(tombstones=set(raw.get("tombstones", [])), defaults=dict(raw.get("defaults", {})))
        for name, item_cls in cls._TABLES.items():
            table = getattr(state, name)
            for key, item in raw.get(name, {}).items():
                table[key] = _load(item_cls, item)
        return state

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous file intact."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_json(), handle, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> State:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
