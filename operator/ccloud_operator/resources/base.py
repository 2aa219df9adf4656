"""What every kind shares: the API group, policies, references, conditions and the status base."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "API_VERSION",
    "GROUP",
    "POOL_ID",
    "VERSION",
    "AdoptionPolicy",
    "CamelModel",
    "CommonSpec",
    "CommonStatus",
    "Condition",
    "ConditionStatus",
    "CredentialsSpec",
    "DeletionPolicy",
    "LocalObjectReference",
    "ManagementPolicy",
    "PendingCreate",
    "WorkloadIdentityCredentials",
    "exactly_one",
    "immutable",
]

GROUP = "ccloud.operators.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class CamelModel(BaseModel):
    """A model whose JSON names are camelCase, as Kubernetes APIs spell them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def exactly_one(first: str, second: str, message: str) -> ConfigDict:
    """A model's config whose CEL rule asks for exactly one of two fields (by their camelCase names)."""
    rule: JsonDict = {"rule": f"has(self.{first}) != has(self.{second})", "message": message}
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": [rule]})


def immutable(message: str) -> JsonDict:
    """A CEL rule that rejects any change to the field once it is set."""
    return {"x-kubernetes-validations": [{"rule": "self == oldSelf", "message": message}]}


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    ORPHAN = "Orphan"


class ManagementPolicy(StrEnum):
    FULL = "Full"
    OBSERVE_ONLY = "ObserveOnly"


class AdoptionPolicy(StrEnum):
    CREATE_ONLY = "CreateOnly"
    ADOPT_OR_CREATE = "AdoptOrCreate"
    ADOPT = "Adopt"


# A Kubernetes object's name (a DNS subdomain): anything else the apiserver refuses to look up.
OBJECT_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class LocalObjectReference(CamelModel):
    name: str = Field(
        min_length=1, max_length=253, pattern=OBJECT_NAME, description="Name of the object in this namespace."
    )


POOL_ID = r"^pool-[A-Za-z0-9]+$"
_ONE_CREDENTIAL = "give credentialsSecretRef (a Cloud API key) or credentials.workloadIdentity, not both"


class WorkloadIdentityCredentials(CamelModel):
    identity_pool_id: str | None = Field(
        default=None,
        pattern=POOL_ID,
        max_length=64,
        description=(
            "The Confluent identity pool (pool-…) whose access the operator takes on for this resource, by "
            "exchanging its Kubernetes ServiceAccount token. Omit it to use the operator's default pool "
            "(CCLOUD_DEFAULT_IDENTITY_POOL)."
        ),
    )


class CredentialsSpec(CamelModel):
    workload_identity: WorkloadIdentityCredentials = Field(
        description=(
            "Authenticate with the operator's own Kubernetes identity: its ServiceAccount token is exchanged "
            "at Confluent's Security Token Service for short-lived access tokens. No API key is stored."
        ),
    )


class CommonSpec(CamelModel):
    """Fields every kind has: which credentials, what to do on delete, how much to manage."""

    credentials_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret in this namespace holding the Confluent Cloud API key (keys `apiKey` and `apiSecret`). "
            "Omit it to use the operator's default credentials, where the platform team allows them."
        ),
    )
    credentials: CredentialsSpec | None = Field(
        default=None,
        description=(
            "Credentials without a Secret: workloadIdentity. Give this or credentialsSecretRef, not both; "
            "omit both for the operator's default (a Secret or an identity pool)."
        ),
    )
    deletion_policy: DeletionPolicy | None = Field(
        default=None,
        description=(
            "What deleting this resource does in Confluent Cloud: Delete removes it, Orphan leaves it. "
            "Omit it to use the operator-wide default (Delete unless configured otherwise)."
        ),
    )
    management_policy: ManagementPolicy = Field(
        default=ManagementPolicy.FULL,
        description=(
            "Full creates, updates and deletes the Confluent resource; ObserveOnly only reads an existing one "
            "(found by adoptId or its natural key) and reports it in status."
        ),
    )

    @model_validator(mode="after")
    def _one_credential(self) -> CommonSpec:
        if self.credentials_secret_ref is not None and self.credentials is not None:
            raise ValueError(_ONE_CREDENTIAL)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """Every kind's spec gets the one-credential rule, beside whatever rules the kind adds."""
        schema = handler(core)
        target: dict[str, Any] = handler.resolve_ref_schema(schema)
        rule = {"rule": "!(has(self.credentialsSecretRef) && has(self.credentials))", "message": _ONE_CREDENTIAL}
        rules = list(target.get("x-kubernetes-validations", []))  # a copy: kinds share rule lists
        target["x-kubernetes-validations"] = rules if rule in rules else [*rules, rule]
        return schema


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(CamelModel):
    """A Kubernetes condition (the metav1.Condition shape)."""

    type: str = Field(description="Condition type, such as Ready or Synced.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word for the cause.")
    message: str = Field(default="", description="What happened and, when something is wrong, what to fix.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed from."
    )
    last_transition_time: str | None = Field(default=None, description="When the status last changed (RFC 3339).")


class PendingCreate(CamelModel):
    """Written before a create call, cleared after the ID is recorded: a crash in between is found."""

    since: str = Field(description="When the first create call that may have landed was about to be sent (RFC 3339).")
    name: str | None = Field(default=None, description="The natural key the create used, to find what it made.")
    accepted: bool = Field(
        default=False,
        description="Confluent accepted the create; its ID is not known yet (it comes from a later read).",
    )


class CommonStatus(CamelModel):
    """Status fields every kind has."""

    model_config = ConfigDict(extra="ignore")

    CONDITIONS_SCHEMA: ClassVar[JsonDict] = {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    }

    id: str | None = Field(default=None, description="The Confluent Cloud ID of the resource.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last reconciled."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Synced and kind-specific conditions.",
        json_schema_extra=CONDITIONS_SCHEMA,
    )
    pending_create: PendingCreate | None = Field(
        default=None,
        description="Set while a create call may have reached Confluent without its result being recorded.",
    )
    last_synced_time: str | None = Field(
        default=None, description="When the operator last read the resource from Confluent Cloud."
    )
