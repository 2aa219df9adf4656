"""The workload identity kinds' schemas on the real apiserver: the issue's YAML is accepted, bad input
refused at admission with the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

CREDS = {"credentialsSecretRef": {"name": "ccloud-credentials"}}
PROVIDER = {
    "displayName": "k8s-prod",
    "description": "ServiceAccount tokens of the prod cluster",
    "issuer": "https://kubernetes.default.svc",
    "jwksUri": "https://kubernetes.default.svc/openid/v1/jwks",
    **CREDS,
}
OPERATOR = 'claims.sub == "system:serviceaccount:ccloud-operator:ccloud-operator" && "confluent" in claims.aud'
POOL = {
    "identityProvider": {"name": "this-cluster"},
    "displayName": "ccloud-operator",
    "description": "the operator's own ServiceAccount",
    "identityClaim": "claims.sub",
    "filter": OPERATOR,
    **CREDS,
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "50-identity-provider.yaml"
URL_FIX = "must be an absolute https:// URL (http:// only for localhost or 127.0.0.1)"


@pytest.fixture
def crd(crds: None) -> None:
    """The operator's CRDs, the identity kinds' among them."""


def apply(control_plane: ControlPlane, namespace: str, kind: str, name: str, spec: dict[str, Any]) -> tuple[bool, str]:
    body = {
        "apiVersion": "ccloud.operators.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    done = control_plane.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    return done.returncode == 0, done.stdout + done.stderr


def without(spec: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != field}


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("IdentityProvider", PROVIDER),
        ("IdentityProvider", without(without(PROVIDER, "displayName"), "description")),
        ("IdentityProvider", {**PROVIDER, "issuer": "https://login.microsoftonline.com/tenant-1/v2.0"}),
        ("IdentityProvider", {**PROVIDER, "identityClaim": "claims.sub", "adoptId": "op-Vq4xL"}),
        (
            "IdentityProvider",
            {**PROVIDER, "issuer": "http://127.0.0.1:8443", "jwksUri": "http://localhost:8443/openid/v1/jwks"},
        ),
        ("IdentityPool", POOL),
        ("IdentityPool", {**POOL, "identityProvider": {"id": "op-Vq4xL"}, "adoptId": "pool-W5Qe"}),
        ("IdentityPool", without(without(POOL, "displayName"), "description")),
        ("IdentityPool", {**POOL, "filter": "x" * 300}),
    ],
    ids=[
        "the issue's provider",
        "a provider named after its resource",
        "an issuer with a path",
        "a provider adopted by ID",
        "a local issuer over http",
        "the issue's pool",
        "a pool of a provider by ID, adopted by ID",
        "a pool named after its resource",
        "a filter of 300 characters",
    ],
)
def test_the_api_users_write_is_accepted(
    control_plane: ControlPlane, crd: None, namespace: str, kind: str, spec: dict[str, Any]
) -> None:
    ok, said = apply(control_plane, namespace, kind, "it", spec)
    assert ok, said


@pytest.mark.parametrize(
    ("kind", "spec", "says"),
    [
        ("IdentityProvider", {**PROVIDER, "issuer": "http://kubernetes.default.svc"}, f"issuer {URL_FIX}"),
        ("IdentityProvider", {**PROVIDER, "jwksUri": "kubernetes.default.svc/keys"}, f"jwksUri {URL_FIX}"),
        ("IdentityProvider", {**PROVIDER, "jwksUri": "/openid/v1/jwks"}, f"jwksUri {URL_FIX}"),
        ("IdentityProvider", {**PROVIDER, "issuer": "ftp://kubernetes.default.svc"}, f"issuer {URL_FIX}"),
        ("IdentityProvider", {**PROVIDER, "issuer": "https://"}, f"issuer {URL_FIX}"),
        ("IdentityProvider", without(PROVIDER, "issuer"), "spec.issuer: Required value"),
        ("IdentityProvider", without(PROVIDER, "jwksUri"), "spec.jwksUri: Required value"),
        ("IdentityProvider", {**PROVIDER, "displayName": ""}, "spec.displayName"),
        ("IdentityProvider", {**PROVIDER, "adoptId": "pool-W5Qe"}, "spec.adoptId"),
        ("IdentityPool", {**POOL, "filter": ""}, "spec.filter"),
        ("IdentityPool", {**POOL, "filter": "x" * 301}, "spec.filter: Too long"),
        ("IdentityPool", without(POOL, "filter"), "spec.filter: Required value"),
        ("IdentityPool", without(POOL, "identityClaim"), "spec.identityClaim: Required value"),
        ("IdentityPool", without(POOL, "identityProvider"), "spec.identityProvider: Required value"),
        ("IdentityPool", {**POOL, "identityProvider": {}}, "identityProvider takes one of name or id"),
        (
            "IdentityPool",
            {**POOL, "identityProvider": {"name": "this-cluster", "id": "op-Vq4xL"}},
            "identityProvider takes one of name or id",
        ),
        ("IdentityPool", {**POOL, "identityProvider": {"id": "pool-W5Qe"}}, "spec.identityProvider.id"),
        ("IdentityPool", {**POOL, "adoptId": "op-Vq4xL"}, "spec.adoptId"),
    ],
    ids=[
        "an issuer over plain http",
        "a JWKS URI without a scheme",
        "a JWKS URI that is only a path",
        "an issuer of another scheme",
        "an issuer without a host",
        "no issuer",
        "no JWKS URI",
        "an empty display name",
        "a provider adopting a pool's ID",
        "an empty filter",
        "a filter past 300 characters",
        "no filter",
        "no identity claim",
        "no provider",
        "a provider by neither name nor ID",
        "a provider by name and ID",
        "a provider ID that is no provider's",
        "a pool adopting a provider's ID",
    ],
)
def test_admission_refuses_bad_input_with_a_message(
    control_plane: ControlPlane, crd: None, namespace: str, kind: str, spec: dict[str, Any], says: str
) -> None:
    ok, said = apply(control_plane, namespace, kind, "bad", spec)
    assert not ok
    assert says in said, said


def test_a_pool_stays_with_its_provider_and_its_adopt_id(
    control_plane: ControlPlane, crd: None, namespace: str
) -> None:
    ok, said = apply(control_plane, namespace, "IdentityPool", "ops", {**POOL, "adoptId": "pool-W5Qe"})
    assert ok, said
    moved = {**POOL, "adoptId": "pool-W5Qe", "identityProvider": {"id": "op-Vq4xL"}}
    ok, said = apply(control_plane, namespace, "IdentityPool", "ops", moved)
    assert not ok
    assert "identityProvider cannot be changed: a pool lives in its provider; create a new IdentityPool instead" in said
    ok, said = apply(control_plane, namespace, "IdentityPool", "ops", {**POOL, "adoptId": "pool-Other1"})
    assert not ok
    assert "adoptId cannot be changed" in said
    # Everything else changes in place.
    ok, said = apply(
        control_plane, namespace, "IdentityPool", "ops", {**POOL, "adoptId": "pool-W5Qe", "filter": "true"}
    )
    assert ok, said


def test_a_provider_changes_in_place(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    ok, said = apply(control_plane, namespace, "IdentityProvider", "it", PROVIDER)
    assert ok, said
    moved = {**PROVIDER, "issuer": "https://oidc.example.com/blue", "jwksUri": "https://oidc.example.com/blue/keys"}
    ok, said = apply(control_plane, namespace, "IdentityProvider", "it", {**moved, "displayName": "k8s-blue"})
    assert ok, said


def test_short_names_columns_and_the_category(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    for kind, spec in (("IdentityProvider", PROVIDER), ("IdentityPool", POOL)):
        ok, said = apply(control_plane, namespace, kind, "listed", spec)
        assert ok, said
    for short, kind in (("ccidp", "identityprovider"), ("ccpool", "identitypool")):
        shown = control_plane.kubectl("get", short, "-n", namespace, "-o", "name").stdout
        assert f"{kind}.ccloud.operators.dev/listed" in shown, (short, shown)
    table = control_plane.kubectl("get", "ccidp", "-n", namespace).stdout.splitlines()[0].split()
    assert table[:5] == ["NAME", "READY", "STATUS", "ID", "STATE"], table
    wide = control_plane.kubectl("get", "ccpool", "-n", namespace, "-o", "wide").stdout.splitlines()[0].split()
    assert {"PROVIDER", "FILTER"} <= set(wide), wide
    everything = control_plane.kubectl("get", "ccloud", "-n", namespace, "-o", "name").stdout
    assert everything.count("/listed") == 2, everything


def test_the_example_is_accepted(control_plane: ControlPlane, crd: None, namespace: str) -> None:
    manifests = EXAMPLE.read_text().replace("namespace: team-a", f"namespace: {namespace}")
    done = control_plane.kubectl("apply", "-f", "-", input=manifests, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identityprovider.ccloud.operators.dev/this-cluster created" in done.stdout
    assert "identitypool.ccloud.operators.dev/ccloud-operator created" in done.stdout
