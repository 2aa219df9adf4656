"""The workload identity kinds: IdentityProvider and IdentityPool (iam/v2 OIDC providers and pools).

A provider tells Confluent to trust the tokens an issuer signs (a Kubernetes cluster's
ServiceAccount tokens, say); a pool of that provider says which of those tokens it admits, by a CEL
filter over their claims, and is the principal role bindings name. Every field of either can be
changed in place but a pool's provider: a pool lives in its provider, so the schema keeps it.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from ccloud_operator.resources.base import OBJECT_NAME, AdoptionPolicy, CamelModel, CommonSpec, CommonStatus, immutable
from ccloud_operator.resources.kinds import AGE, ID, MESSAGE, READY, STATUS, Kind, PrinterColumn

__all__ = [
    "IDENTITY_POOL",
    "IDENTITY_PROVIDER",
    "POOL_ID",
    "PROVIDER_ID",
    "IdentityPoolSpec",
    "IdentityPoolStatus",
    "IdentityProviderRef",
    "IdentityProviderSpec",
    "IdentityProviderStatus",
]

PROVIDER_ID = r"^op-[A-Za-z0-9]+$"
POOL_ID = r"^pool-[A-Za-z0-9]+$"
# Long enough for any real URL; bounded so the apiserver can cost the CEL rule that reads it.
MAX_URL = 2048
FILTER_MAX = 300  # the spec's maxLength of a pool's filter


def _url_rule(field: str) -> JsonDict:
    """An absolute https URL; http only on the loopback host, where a local issuer or emulator serves."""
    rule = (
        "isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || "
        "url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1'])"
    )
    message = f"{field} must be an absolute https:// URL (http:// only for localhost or 127.0.0.1)"
    return {"x-kubernetes-validations": [{"rule": rule, "message": message}]}


def _adoption(what: str, key: str) -> str:
    return (
        f"What to do when {what} with this {key} already exists: CreateOnly reports a conflict, "
        "AdoptOrCreate adopts it (or creates one), Adopt adopts it and never creates."
    )


# -- IdentityProvider -------------------------------------------------------------------------------


class IdentityProviderSpec(CommonSpec):
    display_name: str | None = Field(
        default=None,
        min_length=1,
        description="The provider's name in Confluent Cloud, the key it is adopted by. Defaults to metadata.name.",
    )
    description: str = Field(default="", description="A free-form description shown in Confluent Cloud.")
    issuer: str = Field(
        max_length=MAX_URL,
        description=(
            "The issuer of the tokens Confluent is to trust: the `iss` claim, exactly as the issuer's "
            "/.well-known/openid-configuration says it (`kubectl get --raw /.well-known/openid-configuration` "
            "shows a cluster's). An https URL (http only on localhost or 127.0.0.1)."
        ),
        json_schema_extra=_url_rule("issuer"),
    )
    jwks_uri: str = Field(
        max_length=MAX_URL,
        description=(
            "Where the issuer publishes the keys its tokens are signed with (`jwks_uri` of its "
            "openid-configuration). Confluent must be able to reach it. An https URL (http only on localhost "
            "or 127.0.0.1)."
        ),
        json_schema_extra=_url_rule("jwksUri"),
    )
    identity_claim: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The claim that names the caller in audit logs (claims.sub); a pool's own identityClaim wins. "
            "Omit it to leave Confluent's."
        ),
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("an identity provider", "display name")
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=PROVIDER_ID,
        description="The ID (op-…) of an existing identity provider to adopt.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class IdentityProviderStatus(CommonStatus):
    display_name: str | None = Field(default=None, description="The name Confluent reports.")
    state: str | None = Field(default=None, description="The provider's state as Confluent reports it (ENABLED).")
    resource_name: str | None = Field(default=None, description="The CRN of the identity provider.")


IDENTITY_PROVIDER = Kind(
    kind="IdentityProvider",
    plural="identityproviders",
    short_names=("ccidp",),
    description=(
        "A Confluent Cloud identity provider (iam/v2): an OIDC issuer whose tokens Confluent trusts, "
        "the ground of workload identity. IdentityPools say which of its tokens are admitted."
    ),
    spec=IdentityProviderSpec,
    status=IdentityProviderStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("State", ".status.state", "The state Confluent reports."),
        PrinterColumn("Issuer", ".spec.issuer", "The issuer trusted."),
        AGE,
        MESSAGE,
    ),
)


# -- IdentityPool -----------------------------------------------------------------------------------


class IdentityProviderRef(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.name) != has(self.id)", "message": "identityProvider takes one of name or id"},
                {
                    "rule": "self == oldSelf",
                    "message": "identityProvider cannot be changed: a pool lives in its provider; "
                    "create a new IdentityPool instead",
                },
            ]
        }
    )

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME,
        description="An IdentityProvider in this namespace. The pool waits until it is Ready.",
    )
    id: str | None = Field(
        default=None, pattern=PROVIDER_ID, description="An identity provider's ID (op-…), managed elsewhere."
    )


class IdentityPoolSpec(CommonSpec):
    identity_provider: IdentityProviderRef = Field(description="The provider whose tokens the pool admits.")
    display_name: str | None = Field(
        default=None,
        min_length=1,
        description="The pool's name in Confluent Cloud, the key it is adopted by in its provider. "
        "Defaults to metadata.name.",
    )
    description: str = Field(default="", description="A free-form description shown in Confluent Cloud.")
    identity_claim: str = Field(
        min_length=1, description="The claim that names the caller in audit logs, such as claims.sub."
    )
    filter: str = Field(
        min_length=1,
        max_length=FILTER_MAX,
        description=(
            "Which of the provider's tokens the pool admits: a CEL expression over their claims, such as "
            'claims.sub == "system:serviceaccount:team-a:orders" && "confluent" in claims.aud.'
        ),
    )
    adoption_policy: AdoptionPolicy = Field(
        default=AdoptionPolicy.CREATE_ONLY, description=_adoption("a pool of the provider", "display name")
    )
    adopt_id: str | None = Field(
        default=None,
        pattern=POOL_ID,
        description="The ID (pool-…) of an existing pool of the provider to adopt.",
        json_schema_extra=immutable("adoptId cannot be changed"),
    )


class IdentityPoolStatus(CommonStatus):
    display_name: str | None = Field(default=None, description="The name Confluent reports.")
    identity_provider_id: str | None = Field(default=None, description="The ID (op-…) of the pool's provider.")
    state: str | None = Field(default=None, description="The pool's state as Confluent reports it (ENABLED).")


IDENTITY_POOL = Kind(
    kind="IdentityPool",
    plural="identitypools",
    short_names=("ccpool",),
    description=(
        "A Confluent Cloud identity pool (iam/v2): the tokens of an identity provider that a CEL filter "
        "admits, one principal (User:pool-…) for role bindings."
    ),
    spec=IdentityPoolSpec,
    status=IdentityPoolStatus,
    columns=(
        READY,
        STATUS,
        ID,
        PrinterColumn("Provider", ".status.identityProviderId", "The pool's identity provider."),
        PrinterColumn("Filter", ".spec.filter", "Which tokens it admits.", priority=1),
        AGE,
        MESSAGE,
    ),
)
