"""The control plane is an OIDC issuer an outside service can rely on: discovery and the JWKS are served
on loopback without credentials, TokenRequest tokens verify against the JWKS with the requested audience,
and rotating the signing key changes the `kid` of new tokens while the old key stays trusted or not.

Rotation restarts kube-apiserver, so those tests run on a control plane of their own, not the shared one.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

AUDIENCE = "confluent-emulator"


# --- what a relying party does, with nothing but base64, JSON and `cryptography` ------------------


def anonymous(cp: ControlPlane) -> httpx.Client:
    """A client without credentials that trusts the control plane's CA, like the emulator would be."""
    return httpx.Client(verify=ssl.create_default_context(cafile=str(cp.ca_cert)), timeout=10.0)


def b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claims(token: str) -> tuple[dict[str, object], dict[str, object]]:
    """The header and payload of a compact JWT, decoded without verifying it."""
    header, payload, _ = token.split(".")
    return json.loads(b64url(header)), json.loads(b64url(payload))


def kid_of(token: str) -> str:
    kid = claims(token)[0]["kid"]
    assert isinstance(kid, str)
    return kid


def jwks_kids(jwks: dict[str, list[dict[str, str]]]) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}


def fetch_jwks(cp: ControlPlane) -> dict[str, list[dict[str, str]]]:
    with anonymous(cp) as client:
        response = client.get(cp.jwks_uri)
    assert response.status_code == 200, response.text
    jwks: dict[str, list[dict[str, str]]] = response.json()
    return jwks


def verify_signature(token: str, jwks: dict[str, list[dict[str, str]]]) -> None:
    """Check the JWT's signature with the JWKS key its `kid` names; raises InvalidSignature if it is wrong."""
    header_segment, payload_segment, signature_segment = token.split(".")
    header, _ = claims(token)
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    signed, signature = f"{header_segment}.{payload_segment}".encode(), b64url(signature_segment)

    def number(name: str) -> int:
        return int.from_bytes(b64url(jwk[name]), "big")

    if header["alg"] == "RS256":
        assert jwk["kty"] == "RSA"
        rsa.RSAPublicNumbers(number("e"), number("n")).public_key().verify(
            signature, signed, padding.PKCS1v15(), hashes.SHA256()
        )
    else:
        assert header["alg"] == "ES256"
        assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
        key = ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))


def authenticated_as(cp: ControlPlane, token: str) -> str | int:
    """Who the apiserver says the bearer of `token` is, or the HTTP status when it says no."""
    with anonymous(cp) as client:
        response = client.post(
            f"{cp.server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            headers={"Authorization": f"Bearer {token}"},
        )
    if response.status_code != 201:
        return response.status_code
    username: str = response.json()["status"]["userInfo"]["username"]
    return username


# --- the shared control plane -------------------------------------------------------------------------


def test_discovery_is_served_without_credentials_and_points_at_the_loopback_jwks(
    control_plane: ControlPlane,
) -> None:
    with anonymous(control_plane) as client:
        discovery = client.get(f"{control_plane.issuer}/.well-known/openid-configuration")
        jwks = client.get(control_plane.jwks_uri)
        # Only the two discovery paths are opened: the rest of the API still refuses anonymous requests.
        namespaces = client.get(f"{control_plane.server}/api/v1/namespaces")
    assert discovery.status_code == 200, discovery.text
    document = discovery.json()
    assert document["issuer"] == control_plane.issuer == control_plane.server
    assert document["jwks_uri"] == control_plane.jwks_uri == f"{control_plane.server}/openid/v1/jwks"
    assert urlsplit(document["jwks_uri"]).hostname == "127.0.0.1"
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert jwks.status_code == 200, jwks.text
    assert jwks_kids(jwks.json()) == set(control_plane.service_account_key_ids)
    assert namespaces.status_code == 403


def test_a_token_request_token_verifies_against_the_jwks_with_the_requested_audience(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl("create", "serviceaccount", "relying", "-n", namespace)
    token = control_plane.service_account_token(namespace, "relying", AUDIENCE, expiration_seconds=900)
    header, payload = claims(token)
    jwks = fetch_jwks(control_plane)
    assert header["kid"] in jwks_kids(jwks)
    assert header["kid"] == control_plane.service_account_key_ids[0]
    verify_signature(token, jwks)
    assert payload["aud"] == [AUDIENCE]
    assert payload["iss"] == control_plane.issuer
    assert payload["sub"] == f"system:serviceaccount:{namespace}:relying"
    assert payload["exp"] - payload["iat"] == 900  # type: ignore[operator]
    # Meant for the emulator, not for the apiserver, whose own audience is the issuer.
    assert authenticated_as(control_plane, token) == 401
    own = control_plane.service_account_token(namespace, "relying", control_plane.issuer)
    assert authenticated_as(control_plane, own) == f"system:serviceaccount:{namespace}:relying"


# --- a control plane of their own, restarted and rotated ------------------------------------------------


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def own_plane() -> Iterator[ControlPlane]:
    """A control plane these tests may restart; stopped afterwards, with every process it ever had."""
    cp = ControlPlane().start()
    pids = set(cp.pids)
    try:
        yield cp
        pids.update(cp.pids)
    finally:
        cp.stop()
    assert cp.processes == []
    assert not [pid for pid in pids if running(pid)]


def default_token(cp: ControlPlane) -> str:
    """A token the apiserver itself accepts: the issuer is its audience."""
    return cp.service_account_token("default", "default", cp.issuer)


def test_restart_apiserver_keeps_the_port_the_issuer_the_keys_and_the_other_processes(
    own_plane: ControlPlane,
) -> None:
    etcd, apiserver, controller_manager = own_plane.processes
    server, jwks, token = own_plane.server, fetch_jwks(own_plane), default_token(own_plane)

    own_plane.restart_apiserver()

    same_etcd, new_apiserver, same_controller_manager = own_plane.processes
    assert (same_etcd, same_controller_manager) == (etcd, controller_manager)
    assert new_apiserver.name == "kube-apiserver"
    assert new_apiserver.pid != apiserver.pid
    assert not running(apiserver.pid)
    assert all(p.alive() for p in own_plane.processes)
    assert own_plane.server == own_plane.issuer == server
    assert fetch_jwks(own_plane) == jwks
    assert authenticated_as(own_plane, token) == "system:serviceaccount:default:default"
    # The controller manager's watches reconnected: it gives a new namespace its default ServiceAccount.
    name = f"after-restart-{uuid.uuid4().hex[:6]}"
    own_plane.kubectl("create", "namespace", name)
    own_plane.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s")


def test_rotation_keeping_the_old_key_signs_with_a_new_kid_and_old_tokens_still_work(
    own_plane: ControlPlane,
) -> None:
    (etcd, *restarted), server = own_plane.processes, own_plane.server
    old_token = default_token(own_plane)
    old_kid = kid_of(old_token)

    new_kid = own_plane.rotate_service_account_key(keep_old=True)

    new_token = default_token(own_plane)
    jwks = fetch_jwks(own_plane)
    assert kid_of(new_token) == new_kid != old_kid
    assert {new_kid, old_kid} <= jwks_kids(jwks)
    assert jwks_kids(jwks) == set(own_plane.service_account_key_ids)
    assert own_plane.service_account_key_ids[0] == new_kid
    verify_signature(new_token, jwks)
    verify_signature(old_token, jwks)
    assert claims(new_token)[1]["iss"] == own_plane.issuer == server
    assert authenticated_as(own_plane, old_token) == "system:serviceaccount:default:default"
    assert authenticated_as(own_plane, new_token) == "system:serviceaccount:default:default"
    # The apiserver and the controller manager were replaced in place; etcd kept running.
    assert [p.name for p in own_plane.processes] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    assert own_plane.processes[0] is etcd
    assert all(p.alive() for p in own_plane.processes)
    assert not any(running(p.pid) for p in restarted)


def test_rotation_dropping_the_old_key_removes_it_from_the_jwks_and_rejects_its_tokens(
    own_plane: ControlPlane,
) -> None:
    old_token = default_token(own_plane)

    new_kid = own_plane.rotate_service_account_key(keep_old=False)

    new_token = default_token(own_plane)
    assert jwks_kids(fetch_jwks(own_plane)) == {new_kid} == {kid_of(new_token)}
    assert own_plane.service_account_key_ids == [new_kid]
    assert kid_of(old_token) != new_kid
    assert authenticated_as(own_plane, old_token) == 401
    assert authenticated_as(own_plane, new_token) == "system:serviceaccount:default:default"
