"""The ConnectorPlugin kind: a ccpm/v1 plugin (`ccp-…`) with its versions, or a legacy connect/v1
custom connector plugin. Both carry archives that come from a URL (with sha256) or a ConfigMap.

Two shapes, one kind: CCPM (environment-scoped, the default) names `environment` and lists `versions`;
the legacy shape names `legacy` instead. The schema refuses a mixture at admission.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from ccloud_operator.resources.base import (
    OBJECT_NAME,
    AdoptionPolicy,
    CamelModel,
    CommonSpec,
    CommonStatus,
    PendingCreate,
    immutable,
)
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = [
    "CONNECTOR_PLUGIN",
    "Archive",
    "ConfigMapKeyRef",
    "ConnectorClass",
    "ConnectorPluginSpec",
    "ConnectorPluginStatus",
    "ConnectorType",
    "LegacyPlugin",
    "PluginCloud",
    "PluginVersion",
    "SecretKeyRef",
    "VersionPhase",
    "VersionStatus",
]

PLUGIN_ID_PATTERN = r"^ccp-[a-z0-9]+$"
# Java class names and the aliases Confluent accepts for them (CONTRACT.md 3 and 4.2: ≤150 characters).
JAVA_CLASS = r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$"
PROPERTY = r"^[\w\+\.-]+$"
LINK = r"^(http://|https://).+"
SHA256 = r"^[A-Fa-f0-9]{64}$"


class PluginCloud(StrEnum):
    AWS = "AWS"
    GCP = "GCP"
    AZURE = "AZURE"


class ConnectorType(StrEnum):
    SOURCE = "SOURCE"
    SINK = "SINK"


class VersionPhase(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class SecretKeyRef(CamelModel):
    name: str = Field(
        min_length=1, max_length=253, pattern=OBJECT_NAME, description="Name of the Secret in this namespace."
    )
    key: str = Field(min_length=1, max_length=253, description="The key in the Secret whose value is used.")


class ConfigMapKeyRef(CamelModel):
    name: str = Field(
        min_length=1, max_length=253, pattern=OBJECT_NAME, description="Name of the ConfigMap in this namespace."
    )
    key: str = Field(
        min_length=1, max_length=253, description="The key in the ConfigMap's binaryData holding the archive."
    )


ARCHIVE_RULES: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "has(self.url) != has(self.configMapRef)",
            "message": "an archive comes from exactly one of url (with sha256) or configMapRef",
        },
        {"rule": "!has(self.url) || has(self.sha256)", "message": "an archive from a url needs its sha256"},
        {"rule": "!has(self.authSecretRef) || has(self.url)", "message": "authSecretRef goes with url only"},
    ]
}


class Archive(CamelModel):
    """Where a plugin's ZIP or JAR comes from; it is verified against sha256 before any upload."""

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://.+",
        description="An http(s) URL the operator downloads the archive from.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=SHA256,
        description=(
            "The archive's SHA-256 digest in hex. Required with url; with configMapRef it is checked when given. "
            "Nothing is uploaded when the digest differs."
        ),
    )
    auth_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key whose value is sent as the Authorization header when downloading from url.",
    )
    config_map_ref: ConfigMapKeyRef | None = Field(
        default=None, description="A ConfigMap key (binaryData) in this namespace holding the archive."
    )


class ConnectorClass(CamelModel):
    class_name: str = Field(
        min_length=1, max_length=150, pattern=JAVA_CLASS, description="The connector's Java class name."
    )
    type: ConnectorType = Field(description="SOURCE or SINK.")


class PluginVersion(CamelModel):
    """One version of a CCPM plugin. Confluent never changes a version: a different archive or class
    list needs a new version string."""

    version: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$",
        description='The version, SemVer with an optional leading v ("1.2.3", "v1.2.3-rc.1"); unique in the plugin.',
    )
    connector_classes: list[ConnectorClass] = Field(
        min_length=1, max_length=10, description="The connector classes the archive provides (1 to 10)."
    )
    sensitive_config_properties: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Config properties whose values Confluent masks, such as passwords.",
        json_schema_extra={"items": {"type": "string", "maxLength": 150, "pattern": PROPERTY}},
    )
    documentation_link: str | None = Field(
        default=None, max_length=512, pattern=LINK, description="A link to the version's documentation."
    )
    archive: Archive = Field(description="The archive (ZIP or JAR).", json_schema_extra=ARCHIVE_RULES)


class LegacyPlugin(CamelModel):
    """The org-scoped connect/v1 custom connector plugin: one archive, one class, no versions."""

    connector_class: str = Field(
        min_length=1,
        max_length=150,
        pattern=JAVA_CLASS,
        description="The connector's Java class name.",
        json_schema_extra=immutable("connectorClass cannot be changed: create a new ConnectorPlugin instead"),
    )
    connector_type: ConnectorType = Field(
        description="SOURCE or SINK.",
        json_schema_extra=immutable("connectorType cannot be changed: create a new ConnectorPlugin instead"),
    )
    sensitive_config_properties: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Config properties whose values Confluent masks, such as passwords.",
        json_schema_extra={"items": {"type": "string", "maxLength": 150, "pattern": PROPERTY}},
    )
    documentation_link: str | None = Field(
        default=None, max_length=512, pattern=LINK, description="A link to the plugin's documentation."
    )
    archive: Archive = Field(
        description="The archive (ZIP or JAR). Confluent keeps it as uploaded: a new archive needs a new plugin.",
        json_schema_extra={
            **ARCHIVE_RULES,
            "x-kubernetes-validations": [
                *ARCHIVE_RULES["x-kubernetes-validations"],  # type: ignore[misc]
                {"rule": "self == oldSelf", "message": "archive cannot be changed: create a new ConnectorPlugin"},
            ],
        },
    )


SHAPE_RULES: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "has(self.legacy) ? !has(self.environment) && !has(self.versions) : has(self.environment)",
            "message": "a ConnectorPlugin is either CCPM (environment and versions) or legacy (legacy, "
            "without environment or versions), not both",
        },
        {
            "rule": "has(self.legacy) == has(oldSelf.legacy)",
            "message": "a ConnectorPlugin cannot change between the CCPM and the legacy shape: create a new one",
        },
    ]
}


class ConnectorPluginSpec(CommonSpec):
    model_config = ConfigDict(json_schema_extra=SHAPE_RULES)

    environment: str | None = Field(
        default=None,
        pattern=r"^env-[a-z0-9]+$",
        description="The environment (env-…) of a CCPM plugin. Leave it out for the legacy shape.",
        json_schema_extra=immutable("environment cannot be changed: create a new ConnectorPlugin instead"),
    )
    cloud: PluginCloud = Field(
        description="AWS, GCP or AZURE: where connectors using the plugin run.",
        json_schema_extra=immutable("cloud cannot be changed: create a new ConnectorPlugin instead"),
    )
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        description="The plugin's name in Confluent Cloud, unique per environment. Defaults to metadata.name.",
    )
    description: str = Field(default="", max_length=256, description="A free-form description.")
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY,
        description=(
            "What to do when a plugin with this display name already exists: CreateOnly reports a conflict, "
            "AdoptOrCreate adopts it (or creates one), Adopt adopts it and never creates."
        ),
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=PLUGIN_ID_PATTERN,
        description="The ID (ccp-…) of an existing plugin to adopt instead of creating one.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )
    versions: list[PluginVersion] = Field(
        default_factory=list,
        max_length=50,
        description=(
            "The CCPM plugin's versions. A version in the list and not in Confluent is created; one removed "
            "from the list is deleted unless a CustomConnector uses it. Each entry is immutable once created."
        ),
        # Keyed by version: each version string appears once, and server-side apply merges by it.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["version"]},
    )
    legacy: LegacyPlugin | None = Field(
        default=None,
        description="The legacy org-scoped connect/v1 custom connector plugin, instead of environment and versions.",
    )


class VersionStatus(CamelModel):
    version: str = Field(description="The version string.")
    id: str | None = Field(default=None, description="The version's Confluent ID.")
    phase: VersionPhase | None = Field(default=None, description="PROCESSING, READY or FAILED, as Confluent says.")
    sha256: str | None = Field(default=None, description="The digest of the archive uploaded for it.")
    message: str = Field(default="", description="Confluent's message when the version failed.")
    pending_create: PendingCreate | None = Field(
        default=None, description="Set while a create of this version may have reached Confluent unrecorded."
    )
    upload_id: str | None = Field(
        default=None, description="The presigned upload this version's archive went to, until the create is recorded."
    )


class ConnectorPluginStatus(CommonStatus):
    display_name: str | None = Field(default=None, description="The display name Confluent reports.")
    resource_name: str | None = Field(default=None, description="The CRN of the plugin.")
    versions: list[VersionStatus] = Field(default_factory=list, description="Each version as Confluent has it.")
    sha256: str | None = Field(default=None, description="Legacy shape: the digest of the archive uploaded.")


CONNECTOR_PLUGIN = Kind(
    kind="ConnectorPlugin",
    plural="connectorplugins",
    short_names=("cccp",),
    description=(
        "A Confluent Cloud custom connector plugin: a ccpm/v1 plugin with its versions, or a legacy connect/v1 "
        "custom connector plugin, with archives from a URL or a ConfigMap."
    ),
    spec=ConnectorPluginSpec,
    status=ConnectorPluginStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Cloud", ".spec.cloud", "AWS, GCP or AZURE."),
        PrinterColumn("Environment", ".spec.environment", "The environment of a CCPM plugin."),
        PrinterColumn("Versions", ".status.versions[*].version", "The versions in Confluent."),
        AGE,
        MESSAGE,
    ),
)
