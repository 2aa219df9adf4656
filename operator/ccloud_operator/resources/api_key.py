"""The ApiKey kind: an iam/v2 API key owned by a ServiceAccount, with its secret in a Kubernetes Secret."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic.config import JsonDict

from ccloud_operator.resources.base import (
    OBJECT_NAME,
    CamelModel,
    CommonSpec,
    CommonStatus,
    LocalObjectReference,
    immutable,
)
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = [
    "API_KEY",
    "TEMPLATE_FIELDS",
    "ApiKeyResource",
    "ApiKeyResourceKind",
    "ApiKeySpec",
    "ApiKeyStatus",
    "OutputSecret",
]

API_KEY_ID_PATTERN = r"^[A-Z0-9]{16}$"
TEMPLATE_FIELDS = ("key", "secret", "bootstrapServers", "clusterId", "environment")


class ApiKeyResourceKind(StrEnum):
    KAFKA_CLUSTER = "KafkaCluster"
    CLOUD = "Cloud"


class ApiKeyResource(CamelModel):
    kind: ApiKeyResourceKind = Field(
        description="KafkaCluster for a key that authenticates to one Kafka cluster; Cloud for a Cloud API key."
    )
    id: str | None = Field(
        default=None,
        pattern=r"^lkc-[a-z0-9]+$",
        description="The Kafka cluster ID (lkc-…), for KafkaCluster.",
    )
    environment: str | None = Field(
        default=None,
        pattern=r"^env-[a-z0-9]+$",
        description="The environment (env-…) of the Kafka cluster, for KafkaCluster.",
    )


RESOURCE_RULES: JsonDict = {
    "x-kubernetes-validations": [
        {"rule": "self == oldSelf", "message": "resource cannot be changed: create a new ApiKey instead"},
        {
            "rule": "self.kind == 'Cloud' ? !has(self.id) && !has(self.environment) "
            ": has(self.id) && has(self.environment)",
            "message": "a KafkaCluster key needs id (lkc-…) and environment (env-…); a Cloud key takes neither",
        },
    ]
}


class OutputSecret(CamelModel):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME,
        description="Name of the Secret (in this namespace) that receives the key. Defaults to the ApiKey's name.",
    )
    template: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra entries for the Secret, each a template where {{ .key }}, {{ .secret }}, "
            "{{ .bootstrapServers }}, {{ .clusterId }} and {{ .environment }} are replaced, "
            'e.g. sasl.jaas.config: \'...PlainLoginModule required username="{{ .key }}" '
            'password="{{ .secret }}";\'. The Secret always has the entries `key` and `secret`.'
        ),
    )


class ApiKeySpec(CommonSpec):
    service_account: LocalObjectReference = Field(
        description="The ServiceAccount (in this namespace) that owns the key. It must be Ready first.",
        json_schema_extra=immutable("serviceAccount cannot be changed: create a new ApiKey instead"),
    )
    resource: ApiKeyResource = Field(
        description="What the key authenticates to: a Kafka cluster or the Confluent Cloud API.",
        json_schema_extra=RESOURCE_RULES,
    )
    display_name: str | None = Field(
        default=None,
        max_length=64,
        description="The key's name in Confluent Cloud. Defaults to <namespace>/<name>.",
    )
    description: str = Field(default="", max_length=128, description="A free-form description.")
    secret: OutputSecret = Field(
        default_factory=OutputSecret,
        description="The Secret the operator writes the key and its secret into, the moment Confluent returns them.",
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=API_KEY_ID_PATTERN,
        description=(
            "The ID of an existing key to adopt. Its secret must already be in the output Secret "
            "(entries `key` and `secret`): Confluent never returns a secret twice."
        ),
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class ApiKeyStatus(CommonStatus):
    owner_id: str | None = Field(default=None, description="The owning service account's ID (sa-…).")
    resource_id: str | None = Field(default=None, description="The resource the key is for (lkc-… or cloud).")
    secret_name: str | None = Field(default=None, description="The Secret holding the key and its secret.")
    resource_name: str | None = Field(default=None, description="The CRN of the API key.")


API_KEY = Kind(
    kind="ApiKey",
    plural="apikeys",
    short_names=("ccak",),
    description="A Confluent Cloud API key (iam/v2) owned by a ServiceAccount; its secret goes into a Kubernetes Secret.",
    spec=ApiKeySpec,
    status=ApiKeyStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Owner", ".spec.serviceAccount.name", "The owning ServiceAccount."),
        PrinterColumn("Resource", ".status.resourceId", "The cluster (lkc-…) or cloud."),
        PrinterColumn("Secret", ".status.secretName", "The Secret with the key."),
        AGE,
        MESSAGE,
    ),
)
