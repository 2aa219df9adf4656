"""The pure parts of the workload identity kinds: the PATCH a spec asks for, and what the spec refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ccloud_operator.confluent.identity import IdentityPool, IdentityProvider
from ccloud_operator.reconcile.kinds import identity_pool, identity_provider
from ccloud_operator.reconcile.kinds.identity_pool import PoolRequest
from ccloud_operator.reconcile.kinds.identity_provider import ProviderRequest
from ccloud_operator.resources.identity import IdentityPoolSpec, IdentityProviderSpec

ISSUER, JWKS = "https://oidc.example.com", "https://oidc.example.com/keys"
FILTER = 'claims.sub == "system:serviceaccount:a:b"'


def provider(**fields: Any) -> IdentityProvider:
    body = {"id": "op-Ab1", "display_name": "k8s", "description": "", "issuer": ISSUER, "jwks_uri": JWKS}
    return IdentityProvider.model_validate({**body, "state": "ENABLED", **fields})


def pool(**fields: Any) -> IdentityPool:
    body = {"id": "pool-Ab1", "display_name": "ops", "description": "", "identity_claim": "claims.sub"}
    return IdentityPool.model_validate({**body, "filter": FILTER, "principal": "pool-Ab1", **fields})


@pytest.mark.parametrize(
    ("spec", "remote", "expected"),
    [
        ({}, provider(), None),
        ({}, provider(identity_claim="claims.email", keys=[{"kid": "k1", "alg": "RS256"}]), None),
        (
            {"identityClaim": "claims.sub"},
            provider(identity_claim="claims.email"),
            ProviderRequest(identity_claim="claims.sub"),
        ),
        ({"identityClaim": "claims.sub"}, provider(), ProviderRequest(identity_claim="claims.sub")),
        (
            {"jwksUri": "https://elsewhere.example.com/keys"},
            provider(),
            ProviderRequest(jwks_uri="https://elsewhere.example.com/keys"),
        ),
        (
            {"displayName": "k8s-blue", "description": "blue"},
            provider(),
            ProviderRequest(display_name="k8s-blue", description="blue"),
        ),
        ({}, provider(description="set in the console"), ProviderRequest(description="")),
    ],
    ids=[
        "at rest",
        "an identity claim the spec leaves to Confluent, and the keys Confluent reports",
        "a changed identity claim",
        "an identity claim Confluent has none of",
        "a moved JWKS URI, alone",
        "a new name and description",
        "a description added outside Kubernetes is taken back",
    ],
)
def test_provider_update_request(
    spec: dict[str, Any], remote: IdentityProvider, expected: ProviderRequest | None
) -> None:
    parsed = IdentityProviderSpec.model_validate({"issuer": ISSUER, "jwksUri": JWKS, **spec})
    assert identity_provider.update_request(parsed, "k8s", remote) == expected


@pytest.mark.parametrize(
    ("spec", "remote", "expected"),
    [
        ({}, pool(), None),
        ({}, pool(filter="true"), PoolRequest(filter=FILTER)),
        ({"identityClaim": "claims.email"}, pool(), PoolRequest(identity_claim="claims.email")),
        ({"displayName": "operators"}, pool(), PoolRequest(display_name="operators")),
    ],
    ids=["at rest", "a filter widened outside Kubernetes", "a new identity claim", "a new name"],
)
def test_pool_update_request(spec: dict[str, Any], remote: IdentityPool, expected: PoolRequest | None) -> None:
    body = {"identityProvider": {"name": "k8s"}, "identityClaim": "claims.sub", "filter": FILTER, **spec}
    assert identity_pool.update_request(IdentityPoolSpec.model_validate(body), "ops", remote) == expected


def test_a_pool_request_creates_with_every_field_the_create_requires() -> None:
    spec = IdentityPoolSpec.model_validate(
        {"identityProvider": {"id": "op-Ab1"}, "identityClaim": "claims.sub", "filter": FILTER}
    )
    assert identity_pool.create_request(spec, "ops").changes() == {
        "display_name": "ops",
        "description": "",
        "identity_claim": "claims.sub",
        "filter": FILTER,
    }


def test_a_filter_past_the_specs_limit_is_refused_by_the_model_too() -> None:
    with pytest.raises(ValidationError, match="at most 300 characters"):
        IdentityPoolSpec.model_validate(
            {"identityProvider": {"id": "op-Ab1"}, "identityClaim": "claims.sub", "filter": "x" * 301}
        )
