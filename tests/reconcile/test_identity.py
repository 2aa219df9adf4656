"""IdentityProvider and IdentityPool against the emulator and the real apiserver, one reconcile at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.kinds import RECONCILERS
from ccloud_operator.reconcile.kinds.identity_pool import IdentityPoolReconciler
from ccloud_operator.reconcile.kinds.identity_provider import IdentityProviderReconciler
from ccloud_operator.reconcile.outcome import Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import ObjectKey, Role
from ccloud_operator.resources import KINDS
from ccloud_operator.resources.identity import IDENTITY_POOL, IDENTITY_PROVIDER

from .conftest import Harness
from .test_access import delete_delete, events, http, patch, status

pytestmark = pytest.mark.e2e
PROVIDER, POOL = IdentityProviderReconciler(), IdentityPoolReconciler()
PROVIDERS = "/iam/v2/identity-providers"
ISSUER = "https://oidc.example.com/clusters/prod"
JWKS = "https://oidc.example.com/clusters/prod/openid/v1/jwks"
OPERATOR = 'claims.sub == "system:serviceaccount:ccloud-operator:ccloud-operator" && "confluent" in claims.aud'


class Recorded(httpx.AsyncBaseTransport):
    """The emulator's transport, keeping the body of every write: what a PATCH carried."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = httpx.ASGITransport(app=emulator.app)
        self.writes: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "PATCH", "PUT"):
            self.writes.append((request.method, request.url.path, json.loads(request.content or b"null")))
        return await self.inner.handle_async_request(request)

    def patches(self) -> list[tuple[str, Any]]:
        return [(path, body) for method, path, body in self.writes if method == "PATCH"]


class ListedReferences:
    """Who refers to what, from a fresh listing of our objects (what the handlers' kopf index holds)."""

    def __init__(self, h: Harness) -> None:
        self.h = h

    def referrers(self, target: ObjectKey, roles: Iterable[Role]) -> set[ObjectKey]:
        wanted, found = set(roles), set()
        custom = kubernetes.client.CustomObjectsApi(self.h.api)
        for kind in KINDS:
            listing = custom.list_namespaced_custom_object(kind.group, kind.version, self.h.namespace, kind.plural)
            for obj in listing["items"]:
                name = obj["metadata"]["name"]
                refs = engine.references_of(self.h.ctx, RECONCILERS[kind.plural], self.h.namespace, name, obj["spec"])
                if any(ref.role in wanted and ref.target == target for ref in refs):
                    found.add(ObjectKey(kind.plural, self.h.namespace, name))
        return found


@pytest.fixture
def recorded(emulator: Emulator) -> Recorded:
    return Recorded(emulator)


@pytest.fixture
def h(harness: Harness, recorded: Recorded) -> Harness:
    harness.ctx.transport = recorded
    harness.ctx.references = ListedReferences(harness)
    return harness


def provider_spec(h: Harness, **more: Any) -> dict[str, Any]:
    return {
        "displayName": f"{h.namespace}-k8s",
        "description": "ServiceAccount tokens of the prod cluster",
        "issuer": ISSUER,
        "jwksUri": JWKS,
        **more,
    }


def pool_spec(provider: dict[str, str], **more: Any) -> dict[str, Any]:
    return {
        "identityProvider": provider,
        "description": "the operator's own ServiceAccount",
        "identityClaim": "claims.sub",
        "filter": OPERATOR,
        **more,
    }


async def remote(emulator: Emulator, path: str) -> dict[str, Any]:
    async with http(emulator) as c:
        found = await c.get(path)
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body


async def gone(emulator: Emulator, path: str) -> bool:
    async with http(emulator) as c:
        return (await c.get(path)).status_code == 404


async def made(emulator: Emulator, path: str, body: dict[str, Any]) -> str:
    async with http(emulator) as c:
        created = await c.post(path, json=body)
        assert created.status_code == 201, created.text
        found: str = created.json()["id"]
        return found


async def changed(emulator: Emulator, path: str, body: dict[str, Any]) -> None:
    async with http(emulator) as c:
        done = await c.patch(path, json=body)
        assert done.status_code == 200, done.text


async def ready_provider(h: Harness, name: str = "this-cluster", **more: Any) -> str:
    h.create(IDENTITY_PROVIDER, name, provider_spec(h, **more))
    assert await h.reconcile(PROVIDER, name) == Ready("Ready")
    found: str = (await status(h, IDENTITY_PROVIDER, name))["id"]
    return found


async def test_a_provider_is_made_as_the_spec_says_and_rests_on_one_read(h: Harness, emulator: Emulator) -> None:
    provider = await ready_provider(h)
    found = await status(h, IDENTITY_PROVIDER, "this-cluster")
    assert provider.startswith("op-")
    assert (found["displayName"], found["state"]) == (f"{h.namespace}-k8s", "ENABLED")
    there = await remote(emulator, f"{PROVIDERS}/{provider}")
    assert (there["display_name"], there["issuer"], there["jwks_uri"], there["description"]) == (
        f"{h.namespace}-k8s",
        ISSUER,
        JWKS,
        "ServiceAccount tokens of the prod cluster",
    )
    emulator.clear_requests()
    assert await h.reconcile(PROVIDER, "this-cluster") == Ready("Ready")
    assert [(r.method, r.path) for r in emulator.requests] == [("GET", f"{PROVIDERS}/{provider}")]


async def test_a_pool_waits_for_its_provider_then_is_made_in_it(h: Harness, emulator: Emulator) -> None:
    h.create(IDENTITY_POOL, "ccloud-operator", pool_spec({"name": "this-cluster"}))
    outcome = await h.reconcile(POOL, "ccloud-operator")
    assert isinstance(outcome, Waiting) and outcome.reason == "WaitingForIdentityProvider"
    assert "IdentityProvider this-cluster (spec.identityProvider) does not exist" in outcome.message
    assert "id" not in await status(h, IDENTITY_POOL, "ccloud-operator")
    provider = await ready_provider(h)
    assert await h.reconcile(POOL, "ccloud-operator") == Ready("Ready")
    found = await status(h, IDENTITY_POOL, "ccloud-operator")
    assert found["id"].startswith("pool-") and found["identityProviderId"] == provider
    assert (found["displayName"], found["state"]) == ("ccloud-operator", "ENABLED")
    there = await remote(emulator, f"{PROVIDERS}/{provider}/identity-pools/{found['id']}")
    assert (there["display_name"], there["identity_claim"], there["filter"]) == (
        "ccloud-operator",
        "claims.sub",
        OPERATOR,
    )
    ready = next(c for c in found["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


async def test_drift_made_in_confluent_is_put_back_by_patching_only_what_differs(
    h: Harness, emulator: Emulator, recorded: Recorded
) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "this-cluster"}))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    pool = (await status(h, IDENTITY_POOL, "ops"))["id"]
    pool_path = f"{PROVIDERS}/{provider}/identity-pools/{pool}"
    await changed(emulator, f"{PROVIDERS}/{provider}", {"jwks_uri": "https://elsewhere.example.com/keys"})
    await changed(emulator, pool_path, {"filter": "true", "description": "anyone at all"})
    recorded.writes.clear()
    assert await h.reconcile(PROVIDER, "this-cluster") == Ready("Ready")
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    assert recorded.patches() == [
        (f"{PROVIDERS}/{provider}", {"jwks_uri": JWKS}),
        (pool_path, {"description": "the operator's own ServiceAccount", "filter": OPERATOR}),
    ]
    assert (await remote(emulator, f"{PROVIDERS}/{provider}"))["jwks_uri"] == JWKS
    back = await remote(emulator, pool_path)
    assert (back["filter"], back["description"]) == (OPERATOR, "the operator's own ServiceAccount")
    # Put back, it rests: no write.
    recorded.writes.clear()
    assert await h.reconcile(PROVIDER, "this-cluster") == Ready("Ready")
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    assert recorded.writes == []


async def test_a_spec_change_reaches_confluent_in_place(h: Harness, emulator: Emulator, recorded: Recorded) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"id": provider}))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    pool = (await status(h, IDENTITY_POOL, "ops"))["id"]
    moved = {"issuer": "https://oidc.example.com/clusters/blue", "displayName": f"{h.namespace}-blue"}
    patch(h, IDENTITY_PROVIDER, "this-cluster", {"spec": moved})
    patch(h, IDENTITY_POOL, "ops", {"spec": {"identityClaim": "claims.email", "displayName": "operators"}})
    recorded.writes.clear()
    assert await h.reconcile(PROVIDER, "this-cluster") == Ready("Ready")
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    assert [method for method, _, _ in recorded.writes] == ["PATCH", "PATCH"]  # never a new one
    there = await remote(emulator, f"{PROVIDERS}/{provider}")
    assert (there["issuer"], there["display_name"]) == (moved["issuer"], moved["displayName"])
    assert (await status(h, IDENTITY_PROVIDER, "this-cluster"))["displayName"] == moved["displayName"]
    back = await remote(emulator, f"{PROVIDERS}/{provider}/identity-pools/{pool}")
    assert (back["identity_claim"], back["display_name"]) == ("claims.email", "operators")
    assert (await status(h, IDENTITY_POOL, "ops"))["id"] == pool


async def test_a_pool_cannot_move_to_another_provider(h: Harness) -> None:
    await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "this-cluster"}))
    with pytest.raises(ApiException) as refused:
        patch(h, IDENTITY_POOL, "ops", {"spec": {"identityProvider": {"name": "another"}}})
    assert refused.value.status == 422
    assert "identityProvider cannot be changed" in refused.value.body


async def test_an_existing_provider_and_pool_are_adopted_by_display_name_within_the_provider(
    h: Harness, emulator: Emulator, recorded: Recorded
) -> None:
    name = f"{h.namespace}-theirs"
    theirs = await made(
        emulator, PROVIDERS, {"display_name": name, "description": "", "issuer": ISSUER, "jwks_uri": JWKS}
    )
    other = {"display_name": f"{name}-2", "description": "", "issuer": f"{ISSUER}-2", "jwks_uri": JWKS}
    elsewhere = await made(emulator, PROVIDERS, other)
    body = {"display_name": "ops", "description": "", "identity_claim": "claims.sub", "filter": "true"}
    decoy = await made(emulator, f"{PROVIDERS}/{elsewhere}/identity-pools", body)
    pool = await made(emulator, f"{PROVIDERS}/{theirs}/identity-pools", body)
    h.create(IDENTITY_PROVIDER, "theirs", provider_spec(h, displayName=name, description="", adoptionPolicy="Adopt"))
    recorded.writes.clear()
    assert await h.reconcile(PROVIDER, "theirs") == Ready("Ready")
    assert (await status(h, IDENTITY_PROVIDER, "theirs"))["id"] == theirs
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "theirs"}, displayName="ops", adoptionPolicy="AdoptOrCreate"))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    found = await status(h, IDENTITY_POOL, "ops")
    assert (found["id"], found["identityProviderId"]) == (pool, theirs)
    # Adopted, then made to match the spec; nothing created.
    assert [method for method, _, _ in recorded.writes] == ["PATCH"]
    assert (await remote(emulator, f"{PROVIDERS}/{theirs}/identity-pools/{pool}"))["filter"] == OPERATOR
    assert (await remote(emulator, f"{PROVIDERS}/{elsewhere}/identity-pools/{decoy}"))["filter"] == "true"


async def test_adopt_id_takes_that_provider_and_a_missing_one_says_so(h: Harness, emulator: Emulator) -> None:
    theirs = await made(
        emulator, PROVIDERS, {"display_name": "by-id", "description": "", "issuer": ISSUER, "jwks_uri": JWKS}
    )
    h.create(IDENTITY_PROVIDER, "by-id", provider_spec(h, displayName="by-id", adoptId=theirs, deletionPolicy="Orphan"))
    assert await h.reconcile(PROVIDER, "by-id") == Ready("Ready")
    assert (await status(h, IDENTITY_PROVIDER, "by-id"))["id"] == theirs
    assert await delete_delete(h, PROVIDER, IDENTITY_PROVIDER, "by-id") == "Orphaned"
    assert not await gone(emulator, f"{PROVIDERS}/{theirs}")
    h.create(IDENTITY_PROVIDER, "nowhere", provider_spec(h, displayName="nowhere", adoptId="op-Nope00"))
    outcome = await h.reconcile(PROVIDER, "nowhere")
    assert outcome == Terminal("NotFound", "spec.adoptId: no identity provider op-Nope00 in Confluent Cloud.")


async def test_observe_only_reports_and_never_writes(h: Harness, emulator: Emulator, recorded: Recorded) -> None:
    theirs = await made(
        emulator, PROVIDERS, {"display_name": "watched", "description": "", "issuer": ISSUER, "jwks_uri": JWKS}
    )
    h.create(IDENTITY_PROVIDER, "watched", provider_spec(h, displayName="watched", managementPolicy="ObserveOnly"))
    recorded.writes.clear()
    assert await h.reconcile(PROVIDER, "watched") == Ready(
        "Observed", "Confluent differs from the spec (description); ObserveOnly leaves it."
    )
    assert (await status(h, IDENTITY_PROVIDER, "watched"))["id"] == theirs
    assert recorded.writes == []
    assert await delete_delete(h, PROVIDER, IDENTITY_PROVIDER, "watched") == "Orphaned"


async def test_a_provider_is_not_deleted_while_a_pool_names_it(h: Harness, emulator: Emulator) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "this-cluster"}))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    pool = (await status(h, IDENTITY_POOL, "ops"))["id"]
    obj = await h.object(IDENTITY_PROVIDER, "this-cluster")
    outcome = await engine.delete(h.ctx, PROVIDER, h.target(obj, IDENTITY_PROVIDER))
    assert isinstance(outcome, Waiting) and outcome.reason == "DependentsExist"
    assert "IdentityPool ops still uses this IdentityProvider" in outcome.message
    assert not await gone(emulator, f"{PROVIDERS}/{provider}")
    # The pool goes first (from its own provider), then the provider may.
    assert await delete_delete(h, POOL, IDENTITY_POOL, "ops") == "Deleted"
    assert await gone(emulator, f"{PROVIDERS}/{provider}/identity-pools/{pool}")
    kubernetes.client.CustomObjectsApi(h.api).delete_namespaced_custom_object(
        IDENTITY_POOL.group, IDENTITY_POOL.version, h.namespace, IDENTITY_POOL.plural, "ops"
    )
    assert await delete_delete(h, PROVIDER, IDENTITY_PROVIDER, "this-cluster") == "Deleted"
    assert await gone(emulator, f"{PROVIDERS}/{provider}")


async def test_a_pool_deleted_outside_kubernetes_is_made_again(h: Harness, emulator: Emulator) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "this-cluster"}))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    old = (await status(h, IDENTITY_POOL, "ops"))["id"]
    async with http(emulator) as c:
        assert (await c.delete(f"{PROVIDERS}/{provider}/identity-pools/{old}")).status_code in (200, 204)
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    new = (await status(h, IDENTITY_POOL, "ops"))["id"]
    assert new != old and not await gone(emulator, f"{PROVIDERS}/{provider}/identity-pools/{new}")
    assert any(reason == "Recreated" and old in message for reason, message in events(h, "ops"))


async def test_a_lost_create_answer_is_found_in_its_provider_not_duplicated(h: Harness, emulator: Emulator) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"name": "this-cluster"}))
    emulator.fail_next("POST", f"{PROVIDERS}/*/identity-pools", drop=True, after_processing=True)
    first = await h.reconcile(POOL, "ops")
    assert not isinstance(first, Ready), first
    lost = await status(h, IDENTITY_POOL, "ops")
    assert (lost["pendingCreate"]["name"], lost["identityProviderId"]) == ("ops", provider)
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    listed = (await remote(emulator, f"{PROVIDERS}/{provider}/identity-pools"))["data"]
    assert [p["display_name"] for p in listed] == ["ops"]
    found = await status(h, IDENTITY_POOL, "ops")
    assert found["id"] == listed[0]["id"] and "pendingCreate" not in found


@pytest.mark.parametrize(("policy", "survives"), [("Delete", False), ("Orphan", True)], ids=["deleted", "orphaned"])
async def test_deletion_policy_for_pools(h: Harness, emulator: Emulator, policy: str, survives: bool) -> None:
    provider = await ready_provider(h)
    h.create(IDENTITY_POOL, "ops", pool_spec({"id": provider}, deletionPolicy=policy))
    assert await h.reconcile(POOL, "ops") == Ready("Ready")
    pool = (await status(h, IDENTITY_POOL, "ops"))["id"]
    assert await delete_delete(h, POOL, IDENTITY_POOL, "ops") == ("Orphaned" if survives else "Deleted")
    assert (not await gone(emulator, f"{PROVIDERS}/{provider}/identity-pools/{pool}")) is survives


async def test_a_provider_that_conflicts_says_whether_to_adopt_or_what_to_change(
    h: Harness, emulator: Emulator
) -> None:
    name = f"{h.namespace}-taken"
    await made(emulator, PROVIDERS, {"display_name": name, "description": "", "issuer": ISSUER, "jwks_uri": JWKS})
    h.create(IDENTITY_PROVIDER, "same-name", provider_spec(h, displayName=name, issuer=f"{ISSUER}-2"))
    outcome = await h.reconcile(PROVIDER, "same-name")
    assert isinstance(outcome, Terminal) and outcome.reason == "AlreadyExists"
    assert "set spec.adoptionPolicy: AdoptOrCreate to adopt it" in outcome.message
    # Another name, the same issuer: adopting by name would find nothing, so Confluent's reason is given.
    h.create(
        IDENTITY_PROVIDER, "same-issuer", provider_spec(h, displayName=f"{name}-2", adoptionPolicy="AdoptOrCreate")
    )
    outcome = await h.reconcile(PROVIDER, "same-issuer")
    assert isinstance(outcome, Terminal) and outcome.reason == "AlreadyExists"
    assert "though none has this spec.displayName: HTTP 409" in outcome.message
    assert ISSUER in outcome.message and "AdoptOrCreate" not in outcome.message
    assert "pendingCreate" not in await status(h, IDENTITY_PROVIDER, "same-issuer")


async def test_a_pool_whose_provider_never_existed_is_deleted_at_once(h: Harness, emulator: Emulator) -> None:
    h.create(IDENTITY_POOL, "orphan", pool_spec({"id": "op-nothere"}))
    assert not isinstance(await h.reconcile(POOL, "orphan"), Ready)  # the provider answers 404
    obj = await h.object(IDENTITY_POOL, "orphan")
    assert "pendingCreate" not in obj["status"]  # the 404 refused the create: nothing can have been made
    emulator.clear_requests()
    outcome = await engine.delete(h.ctx, POOL, h.target(obj, IDENTITY_POOL))
    assert isinstance(outcome, Ready) and outcome.reason == "Deleted" and emulator.requests == []
