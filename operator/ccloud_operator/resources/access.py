"""The access kinds a platform team manages: RoleBinding, IpGroup, IpFilter and Invitation (iam/v2).

A role binding is how a principal may do anything at all; IP groups and filters say from where the
organisation may be reached; an invitation brings a person in. Confluent never changes a role
binding, so a changed one is replaced (the new binding first, so access never lapses).
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
    LocalObjectReference,
    exactly_one,
    immutable,
)
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = [
    "INVITATION",
    "IP_FILTER",
    "IP_GROUP",
    "OPERATION_GROUPS",
    "ROLE_BINDING",
    "AuthType",
    "BindingScope",
    "InvitationSpec",
    "InvitationStatus",
    "IpFilterSpec",
    "IpFilterStatus",
    "IpGroupRef",
    "IpGroupSpec",
    "IpGroupStatus",
    "Principal",
    "ResourceGroup",
    "RoleBindingSpec",
    "RoleBindingStatus",
]

CRN = r"^crn://confluent\.cloud/organization=[^/]+(/[a-z-]+=[^/]+)*$"
# Unicode letters and digits, the space and `[ ] | & + - _ / . ,` (iam/v2 IP filtering: names ≤ 64).
IP_NAME = r"^[\p{L}\p{N} \[\]|&+\-_/.,]+$"
# An IPv4 CIDR (Confluent's IP filtering is IPv4 only).
CIDR = (
    r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    r"/(3[0-2]|[12]?[0-9])$"
)
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _adoption(what: str, key: str) -> str:
    return (
        f"What to do when {what} with this {key} already exists: CreateOnly reports a conflict, "
        "AdoptOrCreate adopts it (or creates one), Adopt adopts it and never creates."
    )


# -- RoleBinding ------------------------------------------------------------------------------------


class Principal(CamelModel):
    model_config = exactly_one("serviceAccount", "id", "principal takes one of serviceAccount or id")

    service_account: LocalObjectReference | None = Field(
        default=None, description="A ServiceAccount in this namespace. The binding waits until it is Ready."
    )
    id: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^(User|Group):.+$",
        description='A principal managed elsewhere: "User:sa-…", "User:u-…" or "Group:…".',
    )


class BindingScope(CamelModel):
    """What the role applies to, from which the operator builds the CRN pattern."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.topic) && !has(self.group) && !has(self.transactionalId) || has(self.kafkaCluster)",
                    "message": "a topic, group or transactionalId is in a Kafka cluster: set kafkaCluster too",
                },
                {
                    "rule": "(has(self.topic) ? 1 : 0) + (has(self.group) ? 1 : 0) + (has(self.transactionalId) ? 1 : 0) <= 1",
                    "message": "a scope names at most one of topic, group or transactionalId",
                },
                {
                    "rule": "!has(self.prefix) || !self.prefix || has(self.topic) || has(self.group) || has(self.transactionalId)",
                    "message": "prefix applies to a topic, group or transactionalId",
                },
            ]
        }
    )

    environment: str = Field(pattern=r"^env-[a-z0-9]+$", description="The environment (env-…).")
    kafka_cluster: str | None = Field(
        default=None, pattern=r"^lkc-[a-z0-9]+$", description="A Kafka cluster (lkc-…) in it, or the whole environment."
    )
    topic: str | None = Field(default=None, min_length=1, max_length=249, description="A topic (or prefix).")
    group: str | None = Field(default=None, min_length=1, max_length=255, description="A consumer group (or prefix).")
    transactional_id: str | None = Field(
        default=None, min_length=1, max_length=255, description="A transactional ID (or prefix)."
    )
    prefix: bool = Field(default=False, description="The name is a prefix: every topic (group …) starting with it.")


class RoleBindingSpec(CommonSpec):
    model_config = exactly_one("crnPattern", "scope", "give one of crnPattern or scope")

    principal: Principal = Field(description="Who gets the role.")
    role_name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="The role, such as DeveloperWrite, DeveloperRead, CloudClusterAdmin or EnvironmentAdmin.",
    )
    crn_pattern: str | None = Field(
        default=None,
        max_length=1024,
        pattern=CRN,
        description=(
            "Where the role applies, as a CRN pattern: crn://confluent.cloud/organization=<id>/environment=env-…/"
            "cloud-cluster=lkc-…/kafka=lkc-…/topic=orders-* (a trailing * is a prefix)."
        ),
    )
    scope: BindingScope | None = Field(
        default=None, description="Where the role applies, instead of crnPattern: the operator builds the CRN."
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("a binding", "principal, role and pattern")
    )


class RoleBindingStatus(CommonStatus):
    principal: str | None = Field(default=None, description="The principal bound (User:sa-…).")
    crn_pattern: str | None = Field(default=None, description="The CRN pattern bound.")
    role_name: str | None = Field(default=None, description="The role bound.")
    replacing: str | None = Field(
        default=None, description="A binding being replaced: deleted once its successor exists (never before)."
    )


ROLE_BINDING = Kind(
    kind="RoleBinding",
    plural="rolebindings",
    short_names=("ccrb",),
    description=(
        "A Confluent Cloud role binding (iam/v2): a role for a principal on a CRN pattern. Confluent never "
        "changes one, so a change replaces it, the new binding first."
    ),
    spec=RoleBindingSpec,
    status=RoleBindingStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Principal", ".status.principal", "The principal bound."),
        PrinterColumn("Role", ".spec.roleName", "The role."),
        PrinterColumn("Pattern", ".status.crnPattern", "Where the role applies.", priority=1),
        AGE,
        MESSAGE,
    ),
)


# -- IpGroup ----------------------------------------------------------------------------------------


class IpGroupSpec(CommonSpec):
    group_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=IP_NAME,
        description="The group's name in Confluent Cloud. Defaults to metadata.name.",
    )
    cidr_blocks: list[str] = Field(
        min_length=1,
        max_length=25,
        description='The IPv4 networks in the group, as CIDRs ("203.0.113.0/24").',
        json_schema_extra={"items": {"type": "string", "maxLength": 18, "pattern": CIDR}},
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("an IP group", "name")
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=r"^ipg-[a-z0-9]+$",
        description="The ID (ipg-…) of an existing IP group to adopt.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class IpGroupStatus(CommonStatus):
    group_name: str | None = Field(default=None, description="The name Confluent reports.")


IP_GROUP = Kind(
    kind="IpGroup",
    plural="ipgroups",
    short_names=("ccig",),
    description="A Confluent Cloud IP group (iam/v2): named IPv4 networks that IP filters allow.",
    spec=IpGroupSpec,
    status=IpGroupStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("CIDRs", ".spec.cidrBlocks", "The networks."),
        AGE,
        MESSAGE,
    ),
)


# -- IpFilter ---------------------------------------------------------------------------------------


class ResourceGroup(StrEnum):
    MANAGEMENT = "management"
    MULTIPLE = "multiple"


# The operation groups Confluent documents; the list grows, so the schema takes any such word.
OPERATION_GROUPS = ("MANAGEMENT", "SCHEMA", "FLINK", "KAFKA_MANAGEMENT", "KAFKA_DATA", "KAFKA_DISCOVERY", "KSQL")


class IpGroupRef(CamelModel):
    model_config = exactly_one("name", "id", "an ipGroups entry takes one of name or id")

    name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=OBJECT_NAME, description="An IpGroup in this namespace."
    )
    id: str | None = Field(
        default=None, pattern=r"^ipg-[a-z0-9]+$", description="An IP group's ID (ipg-…), managed elsewhere."
    )


FILTER_RULES: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "self.resourceGroup == 'multiple' || !has(self.operationGroups) || size(self.operationGroups) == 0",
            "message": "operationGroups needs resourceGroup: multiple",
        }
    ]
}


class IpFilterSpec(CommonSpec):
    model_config = ConfigDict(json_schema_extra=FILTER_RULES)

    filter_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=IP_NAME,
        description="The filter's name in Confluent Cloud. Defaults to metadata.name.",
    )
    resource_group: ResourceGroup = Field(
        default=ResourceGroup.MANAGEMENT,
        description="management (the Cloud management APIs), or multiple with operationGroups.",
    )
    operation_groups: list[str] = Field(
        default_factory=list,
        max_length=20,
        description=f"With resourceGroup multiple: the operation groups the filter covers ({', '.join(OPERATION_GROUPS)}).",
        json_schema_extra={"x-kubernetes-list-type": "set", "items": {"type": "string", "pattern": "^[A-Z][A-Z_]*$"}},
    )
    resource_scope: str | None = Field(
        default=None,
        max_length=1024,
        pattern=CRN,
        description="The organisation or environment CRN the filter applies to; the whole organisation if omitted.",
    )
    ip_groups: list[IpGroupRef] = Field(
        min_length=1, max_length=25, description="The IP groups allowed: IpGroups here by name, or IDs."
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("an IP filter", "name")
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=r"^ipf-[a-z0-9]+$",
        description="The ID (ipf-…) of an existing IP filter to adopt.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class IpFilterStatus(CommonStatus):
    filter_name: str | None = Field(default=None, description="The name Confluent reports.")
    ip_group_ids: list[str] = Field(default_factory=list, description="The IDs of the IP groups it allows.")


IP_FILTER = Kind(
    kind="IpFilter",
    plural="ipfilters",
    short_names=("ccif",),
    description="A Confluent Cloud IP filter (iam/v2): which IP groups may reach the organisation's APIs.",
    spec=IpFilterSpec,
    status=IpFilterStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Resource Group", ".spec.resourceGroup", "management or multiple."),
        AGE,
        MESSAGE,
    ),
)


# -- Invitation -------------------------------------------------------------------------------------


class AuthType(StrEnum):
    LOCAL = "AUTH_TYPE_LOCAL"
    SSO = "AUTH_TYPE_SSO"


class InvitationSpec(CommonSpec):
    email: str = Field(
        max_length=254,
        pattern=EMAIL,
        description="Who is invited.",
        json_schema_extra=immutable("email cannot be changed: create a new Invitation instead"),
    )
    auth_type: AuthType = Field(
        default=AuthType.LOCAL,
        description="AUTH_TYPE_LOCAL (a password) or AUTH_TYPE_SSO (the organisation's identity provider).",
        json_schema_extra=immutable("authType cannot be changed: create a new Invitation instead"),
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("an invitation", "e-mail")
    )


class InvitedUser(CamelModel):
    id: str | None = Field(default=None, description="The user's ID (u-…).")


class InvitationStatus(CommonStatus):
    invitation_status: str | None = Field(
        default=None, description="INVITE_STATUS_SENT, _ACCEPTED, _EXPIRED or _DEACTIVATED, as Confluent says."
    )
    user: InvitedUser | None = Field(default=None, description="The user the invitation made.")
    expires_at: str | None = Field(default=None, description="When the invitation expires (RFC 3339).")
    accepted_at: str | None = Field(default=None, description="When it was accepted (RFC 3339).")


INVITATION = Kind(
    kind="Invitation",
    plural="invitations",
    short_names=("ccinv",),
    description="An invitation to the Confluent Cloud organisation (iam/v2), and the user it makes.",
    spec=InvitationSpec,
    status=InvitationStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Email", ".spec.email", "Who is invited."),
        PrinterColumn("Invitation", ".status.invitationStatus", "Sent, accepted, expired …"),
        PrinterColumn("User", ".status.user.id", "The user it made."),
        AGE,
        MESSAGE,
    ),
)
