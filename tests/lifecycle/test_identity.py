"""The workload identity kinds end to end: the operator process on the real apiserver, against the emulator."""

from __future__ import annotations

import pytest

from .conftest import CREDS, Confluent, Kube

pytestmark = pytest.mark.e2e

ISSUER = "https://oidc.example.com/clusters/prod"
JWKS = "https://oidc.example.com/clusters/prod/openid/v1/jwks"
OPERATOR = 'claims.sub == "system:serviceaccount:ccloud-operator:ccloud-operator" && "confluent" in claims.aud'


def test_a_pool_made_with_its_provider_follows_it_and_holds_it(kube: Kube, confluent: Confluent) -> None:
    kube.apply(
        "IdentityPool",
        "ccloud-operator",
        {
            "identityProvider": {"name": "this-cluster"},
            "identityClaim": "claims.sub",
            "filter": OPERATOR,
            **CREDS,
        },
    )
    kube.wait_condition("IdentityPool", "ccloud-operator", "False", "WaitingForIdentityProvider", timeout=15)
    spec = {"displayName": f"{kube.namespace}-k8s", "issuer": ISSUER, "jwksUri": JWKS, **CREDS}
    kube.apply("IdentityProvider", "this-cluster", spec)
    # The provider turning Ready wakes the pool (the resync is 600 s here).
    kube.wait_condition("IdentityPool", "ccloud-operator", timeout=15)
    provider = kube.get("IdentityProvider", "this-cluster")["status"]  # type: ignore[index]
    pool = kube.get("IdentityPool", "ccloud-operator")["status"]  # type: ignore[index]
    assert provider["state"] == "ENABLED" and pool["identityProviderId"] == provider["id"]
    listed = confluent.identity_pools(provider["id"])
    assert [(p["id"], p["filter"]) for p in listed] == [(pool["id"], OPERATOR)]
    # An edit reaches Confluent in place.
    kube.patch("IdentityProvider", "this-cluster", {"spec": {"description": "prod tokens"}})
    kube.wait_for(
        "the description to reach Confluent",
        lambda: confluent.identity_providers()[provider["id"]]["description"] == "prod tokens",
        timeout=15,
    )
    # The provider is not deleted from under its pool: it waits, naming it.
    kube.delete("IdentityProvider", "this-cluster")
    cond = kube.wait_condition("IdentityProvider", "this-cluster", "False", "DependentsExist")
    assert "IdentityPool ccloud-operator still uses this IdentityProvider" in cond["message"]
    assert provider["id"] in confluent.identity_providers()
    kube.delete("IdentityPool", "ccloud-operator")
    kube.wait_gone("IdentityPool", "ccloud-operator")
    kube.wait_gone("IdentityProvider", "this-cluster")
    assert provider["id"] not in confluent.identity_providers()
