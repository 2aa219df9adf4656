"""The ServiceAccount kind: an iam/v2 service account (`sa-…`)."""

from __future__ import annotations

from pydantic import Field

from ccloud_operator.resources.base import AdoptionPolicy, CommonSpec, CommonStatus, immutable
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = ["SERVICE_ACCOUNT", "ServiceAccountSpec", "ServiceAccountStatus"]

SA_ID_PATTERN = r"^sa-[a-z0-9]+$"


class ServiceAccountSpec(CommonSpec):
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description=(
            "The service account's name in Confluent Cloud, unique in the organisation. "
            "Defaults to the resource's metadata.name."
        ),
    )
    description: str = Field(
        default="", max_length=128, description="A free-form description shown in Confluent Cloud."
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY,
        description=(
            "What to do when a service account with this display name already exists in Confluent Cloud: "
            "CreateOnly reports a conflict, AdoptOrCreate adopts it (or creates one when none exists), "
            "Adopt adopts it and never creates."
        ),
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=SA_ID_PATTERN,
        description="The ID (sa-…) of an existing service account to adopt instead of creating one.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class ServiceAccountStatus(CommonStatus):
    display_name: str | None = Field(default=None, description="The display name Confluent reports.")
    resource_name: str | None = Field(default=None, description="The CRN of the service account.")


SERVICE_ACCOUNT = Kind(
    kind="ServiceAccount",
    plural="serviceaccounts",
    short_names=("ccsa",),
    description="A Confluent Cloud service account (iam/v2), an identity for connectors and API keys.",
    spec=ServiceAccountSpec,
    status=ServiceAccountStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Display Name", ".status.displayName", "The name in Confluent Cloud."),
        AGE,
        MESSAGE,
    ),
)
