"""Exact "ours": what a create made is adopted after a 409, a lost-create cleanup spares other objects'
keys and is retried until Confluent's list can show what it needs, and throttling shows in status."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import kubernetes
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import ConfluentClient, Credentials, ServerError
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.kinds.api_key import ApiKeyReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler
from ccloud_operator.reconcile.outcome import Ready
from ccloud_operator.reconcile.references import ObjectKey
from ccloud_operator.reconcile.session import Session, ref_for
from ccloud_operator.resources import API_KEY, GROUP, SERVICE_ACCOUNT, VERSION

from .conftest import Harness

pytestmark = pytest.mark.e2e
SA, KEY = ServiceAccountReconciler(), ApiKeyReconciler()


class HidesFromLists(httpx.AsyncBaseTransport):
    """Answers the next `times` list calls of `path` without the items `hide` picks: a list that lags."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, hide: object, times: int = 1) -> None:
        self.inner, self.path, self.hide, self.times = inner, path, hide, times
        self.hidden = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or request.url.path != self.path or self.times <= 0:
            return response
        self.times -= 1
        body = json.loads(await response.aread())
        kept = [item for item in body.get("data", []) if not self.hide(item)]  # type: ignore[operator]
        self.hidden += len(body.get("data", [])) - len(kept)
        body["data"] = kept
        return httpx.Response(response.status_code, headers=dict(response.headers), json=body)


class Holders:
    """Which objects hold which Confluent IDs: what the operator's watch index would say."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], ObjectKey] = {}

    def holders(self, plural: str, confluent_id: str) -> set[ObjectKey]:
        found = self.held.get((plural, confluent_id))
        return {found} if found else set()

    def referrers(self, target: ObjectKey, roles: object) -> set[ObjectKey]:
        return set()


def confluent(emulator: Emulator) -> ConfluentClient:
    return ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=emulator.app),
    )


async def mark_pending(harness: Harness, kind: object, name: str, since: dt.datetime) -> None:
    """What a crash right after the create call leaves: the mark, and nothing else."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    await harness.ctx.kube.patch_status(ref_for(kind, harness.namespace, name), {"pendingCreate": {"since": stamp}})  # type: ignore[arg-type]


async def test_a_409_after_a_pending_create_adopts_what_that_create_made(harness: Harness, emulator: Emulator) -> None:
    async with confluent(emulator) as client:
        made = await client.service_accounts.create(f"{harness.namespace}-landed")
    harness.create(SERVICE_ACCOUNT, "landed", {"displayName": f"{harness.namespace}-landed"})
    await mark_pending(harness, SERVICE_ACCOUNT, "landed", dt.datetime.now(dt.UTC))
    # The list has not caught up with the create yet: the second create is answered 409.
    lagging = HidesFromLists(
        httpx.ASGITransport(app=emulator.app), "/iam/v2/service-accounts", lambda sa: sa["id"] == made.id
    )
    harness.ctx.transport = lagging

    outcome = await harness.reconcile(SA, "landed")

    assert outcome == Ready("Ready")
    assert lagging.hidden == 1
    assert len(emulator.calls("POST", "/iam/v2/service-accounts")) == 2  # ours before the crash, and the 409
    status = (await harness.object(SERVICE_ACCOUNT, "landed"))["status"]
    assert status["id"] == made.id and "pendingCreate" not in status


async def test_a_409_without_a_pending_create_is_a_conflict_that_suggests_adoption(
    harness: Harness, emulator: Emulator
) -> None:
    async with confluent(emulator) as client:
        made = await client.service_accounts.create(f"{harness.namespace}-theirs")
    harness.create(SERVICE_ACCOUNT, "theirs", {"displayName": f"{harness.namespace}-theirs"})
    outcome = await harness.reconcile(SA, "theirs")
    assert outcome.reason == "AlreadyExists"
    assert made.id in outcome.message and "adoptionPolicy" in outcome.message  # type: ignore[union-attr]


async def ready_owner(harness: Harness) -> str:
    harness.create(SERVICE_ACCOUNT, "owner", {"displayName": f"{harness.namespace}-owner"})
    assert isinstance(await harness.reconcile(SA, "owner"), Ready)
    owner: str = (await harness.object(SERVICE_ACCOUNT, "owner"))["status"]["id"]
    return owner


async def test_lost_create_cleanup_spares_another_objects_key_and_waits_until_the_list_shows_ours(
    harness: Harness, emulator: Emulator
) -> None:
    known: set[str] = set()
    # The key lists lag behind: the next three do not show the key this reconcile is about to create.
    lagging = HidesFromLists(
        httpx.ASGITransport(app=emulator.app), "/iam/v2/api-keys", lambda key: key["id"] not in known, times=3
    )
    harness.ctx.transport = lagging
    owner = await ready_owner(harness)
    spec = {"serviceAccount": {"name": "owner"}, "resource": {"kind": "Cloud"}, "displayName": "shared name"}
    harness.create(API_KEY, "mine", spec)
    crashed_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    async with confluent(emulator) as client:
        lost = await client.api_keys.create(owner, "cloud", display_name="shared name")  # ours, secret lost
        theirs = await client.api_keys.create(owner, "cloud", display_name="shared name")  # another ApiKey's
    known.update((lost.id, theirs.id))
    holders = Holders()
    holders.held[(API_KEY.plural, theirs.id)] = ObjectKey(API_KEY.plural, harness.namespace, "theirs")
    harness.ctx.ids = holders
    await mark_pending(harness, API_KEY, "mine", crashed_at)

    outcomes = [await harness.reconcile(KEY, "mine") for _ in range(4)]

    assert [o.reason for o in outcomes] == ["CheckingForLostKeys"] * 3 + ["Ready"], outcomes
    assert lagging.hidden == 2  # the second and third lists lacked the new key, so the mark stayed
    async with confluent(emulator) as client:
        left = {k.id for k in await client.api_keys.list(owner=owner)}
    status = (await harness.object(API_KEY, "mine"))["status"]
    assert theirs.id in left, "the cleanup deleted a key another ApiKey holds"
    assert lost.id not in left, "the key the crash lost was left behind"
    assert left == {theirs.id, status["id"]}
    assert "pendingCreate" not in status


async def test_work_waiting_on_the_rate_limit_says_so_in_status(harness: Harness, emulator: Emulator) -> None:
    harness.ctx.settings = harness.ctx.settings.model_copy(update={"throttle_report_seconds": 0.3})
    harness.create(SERVICE_ACCOUNT, "patient", {"displayName": f"{harness.namespace}-patient"})
    emulator.set_rate_limit(0.5, burst=1)
    # Another caller of the same credential has just spent the budget; this reconcile must wait ~2 s.
    harness.ctx.client(Credentials(key=emulator.api_key, secret=emulator.api_secret))
    client = harness.ctx.client(Credentials(key=emulator.api_key, secret=emulator.api_secret))
    await client.environments.list()

    seen: list[dict[str, str]] = []

    async def watch() -> None:
        while True:
            status = (await harness.object(SERVICE_ACCOUNT, "patient")).get("status") or {}
            seen.extend(c for c in status.get("conditions", []) if c["type"] == "Synced")
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        outcome = await harness.reconcile(SA, "patient")
    finally:
        watcher.cancel()
    assert outcome == Ready("Ready")
    throttled = [c for c in seen if c["reason"] == "Throttled"]
    assert throttled, "no Throttled condition while the reconcile waited on the rate limit"
    assert throttled[0]["status"] == "False" and emulator.api_key in throttled[0]["message"]
    assert "rate limit" in throttled[0]["message"]
    final = (await harness.object(SERVICE_ACCOUNT, "patient"))["status"]["conditions"]
    assert [c["reason"] for c in final if c["type"] == "Synced"] == ["Synced"]


async def test_keys_of_one_cluster_share_one_cluster_read(harness: Harness, emulator: Emulator) -> None:
    await ready_owner(harness)
    resource = {"kind": "KafkaCluster", "id": emulator.kafka_cluster_id, "environment": emulator.environment_id}
    template = {"bootstrap.servers": "{{ .bootstrapServers }}"}
    for name in ("first", "second", "third"):
        harness.create(
            API_KEY, name, {"serviceAccount": {"name": "owner"}, "resource": resource, "secret": {"template": template}}
        )
    emulator.clear_requests()
    outcomes = await asyncio.gather(*(harness.reconcile(KEY, n) for n in ("first", "second", "third")))
    assert all(isinstance(o, Ready) for o in outcomes), outcomes
    reads = emulator.calls("GET", f"/cmk/v2/clusters/{emulator.kafka_cluster_id}")
    assert len(reads) == 1, "each key read the cluster itself (templates and propagation probe)"


async def test_deletion_never_skips_a_create_that_may_have_landed(harness: Harness, emulator: Emulator) -> None:
    name = f"{harness.namespace}-maybe"
    async with confluent(emulator) as client:
        landed = await client.service_accounts.create(name)  # the create landed; the crash lost its answer
    harness.create(SERVICE_ACCOUNT, "maybe", {"displayName": name})
    await mark_pending(harness, SERVICE_ACCOUNT, "maybe", dt.datetime.now(dt.UTC))
    obj = await harness.object(SERVICE_ACCOUNT, "maybe")
    assert "id" not in obj["status"]

    outcome = await engine.delete(harness.ctx, SA, harness.target(obj))

    assert outcome.reason == "Deleted" and landed.id in outcome.message  # type: ignore[union-attr]
    async with confluent(emulator) as client:
        assert await client.service_accounts.find_by_display_name(name) is None


async def test_the_checkpoint_api_records_each_step_as_it_goes(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "steps", {"displayName": f"{harness.namespace}-steps"})
    target = harness.target(await harness.object(SERVICE_ACCOUNT, "steps"))
    spec = SA.spec_model.model_validate(target.spec)
    status = SA.status_model.model_validate(dict(target.status))
    client = harness.ctx.client(Credentials(key=emulator.api_key, secret=emulator.api_secret))
    s = Session(ctx=harness.ctx, target=target, spec=spec, status=status, client=client, baseline=dict(target.status))

    async def stored() -> dict[str, object]:
        found: dict[str, object] = (await harness.object(SERVICE_ACCOUNT, "steps")).get("status") or {}
        return found

    await s.begin_create(name="by-this-name")
    first = (await stored())["pendingCreate"]
    assert first["name"] == "by-this-name" and first["since"]  # type: ignore[index]
    await s.begin_create()
    assert (await stored())["pendingCreate"]["since"] == first["since"]  # type: ignore[index]  # earliest kept

    await s.accepted()  # Confluent took it; its ID comes later (a connector's, from the expanded list)
    assert (await stored())["pendingCreate"]["accepted"] is True  # type: ignore[index]
    assert SA.may_exist(s.status) and s.status.id is None  # so deleting looks, never shortcuts

    await s.created("sa-late01", settled=False)
    assert (await stored())["id"] == "sa-late01" and "pendingCreate" in await stored()
    await s.created("sa-late01")
    assert "pendingCreate" not in await stored()


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_a_create_confluent_refused_leaves_no_mark_and_the_delete_asks_nothing(
    harness: Harness, emulator: Emulator, status: int
) -> None:
    harness.create(SERVICE_ACCOUNT, "refused", {"displayName": f"{harness.namespace}-refused"})
    emulator.fail_next("POST", "/iam/v2/service-accounts", status=status)

    outcome = await harness.reconcile(SA, "refused")

    obj = await harness.object(SERVICE_ACCOUNT, "refused")
    assert not isinstance(outcome, Ready), outcome
    assert "pendingCreate" not in obj["status"] and "id" not in obj["status"]
    emulator.clear_requests()
    deleted = await engine.delete(harness.ctx, SA, harness.target(obj))
    assert (deleted.reason, emulator.requests) == ("Deleted", [])


async def test_a_create_that_may_have_landed_keeps_its_mark(harness: Harness, emulator: Emulator) -> None:
    harness.create(SERVICE_ACCOUNT, "unsure", {"displayName": f"{harness.namespace}-unsure"})
    emulator.fail_next("POST", "/iam/v2/service-accounts", status=503)

    await harness.reconcile(SA, "unsure")

    assert "pendingCreate" in (await harness.object(SERVICE_ACCOUNT, "unsure"))["status"]


class Remembers:
    """A references index that still names dependents, as the watch's would after missing their deletion."""

    def __init__(self, *dependents: ObjectKey) -> None:
        self.dependents = set(dependents)

    def referrers(self, target: ObjectKey, roles: object) -> set[ObjectKey]:
        return set(self.dependents)

    def holders(self, plural: str, confluent_id: str) -> set[ObjectKey]:
        return set()


async def test_a_dependent_the_index_remembers_but_kubernetes_deleted_does_not_hold_a_deletion(
    harness: Harness, emulator: Emulator
) -> None:
    harness.create(SERVICE_ACCOUNT, "owner", {"displayName": f"{harness.namespace}-owner"})
    assert isinstance(await harness.reconcile(SA, "owner"), Ready)
    alive = ObjectKey(API_KEY.plural, harness.namespace, "alive")
    ghost = ObjectKey(API_KEY.plural, harness.namespace, "ghost")  # deleted while the watch was away
    harness.create(API_KEY, "alive", {"serviceAccount": {"name": "owner"}, "resource": {"kind": "Cloud"}})
    harness.ctx.references = Remembers(alive, ghost)

    waiting = await engine.delete(harness.ctx, SA, harness.target(await harness.object(SERVICE_ACCOUNT, "owner")))
    assert waiting.reason == "DependentsExist" and "alive" in waiting.message and "ghost" not in waiting.message

    harness.ctx.references = Remembers(ghost)
    deleted = await engine.delete(harness.ctx, SA, harness.target(await harness.object(SERVICE_ACCOUNT, "owner")))
    assert deleted.reason == "Deleted", deleted
    async with confluent(emulator) as client:
        assert await client.service_accounts.find_by_display_name(f"{harness.namespace}-owner") is None


async def test_work_held_while_confluent_is_down_says_so_in_status(harness: Harness, emulator: Emulator) -> None:
    harness.ctx.settings = harness.ctx.settings.model_copy(update={"throttle_report_seconds": 0.3})
    harness.create(SERVICE_ACCOUNT, "held", {"displayName": f"{harness.namespace}-held"})
    outage = emulator.fail("*", "*", status=503)
    client = harness.ctx.client(Credentials(key=emulator.api_key, secret=emulator.api_secret))
    # Six failures in a row engage the brake; two failed probes after them space the next one out by
    # a second or more, time enough to see the condition before Confluent comes back.
    for _ in range(8):
        with pytest.raises(ServerError):
            await client.environments.list()
    assert client.governor.snapshot().unavailable

    seen: list[dict[str, str]] = []

    async def watch() -> None:
        while True:
            status = (await harness.object(SERVICE_ACCOUNT, "held")).get("status") or {}
            seen.extend(c for c in status.get("conditions", []) if c["type"] == "Synced")
            if any(c["reason"] == "ConfluentUnavailable" for c in seen):
                emulator.remove_fault(outage.id)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        outcome = await asyncio.wait_for(harness.reconcile(SA, "held"), timeout=30)
    finally:
        watcher.cancel()
    assert outcome == Ready("Ready")
    held = [c for c in seen if c["reason"] == "ConfluentUnavailable"]
    assert held and held[0]["status"] == "False" and "has not answered" in held[0]["message"]
    assert not client.governor.snapshot().unavailable


async def waiting_key(harness: Harness, emulator: Emulator, name: str, propagation: float) -> str:
    """An ApiKey just made, whose key Confluent takes `propagation` seconds to make usable: its ID."""
    emulator.timing.api_key_propagation = propagation
    await ready_owner(harness)
    harness.create(API_KEY, name, {"serviceAccount": {"name": "owner"}, "resource": {"kind": "Cloud"}})
    assert (await harness.reconcile(KEY, name)).reason == "WaitingForPropagation"
    key_id: str = (await harness.object(API_KEY, name))["status"]["id"]
    return key_id


async def test_a_new_key_waiting_to_propagate_is_probed_not_read_again(harness: Harness, emulator: Emulator) -> None:
    key_id = await waiting_key(harness, emulator, "fresh", propagation=0.5)
    emulator.clear_requests()
    await asyncio.sleep(0.6)

    assert await harness.reconcile(KEY, "fresh") == Ready("Ready")

    # The new key's own call says it exists: nothing with the operator's key, only the probe with the new one.
    assert [(r.method, r.api_key) for r in emulator.requests] == [("GET", key_id)]
    propagated = next(
        c for c in (await harness.object(API_KEY, "fresh"))["status"]["conditions"] if c["type"] == "Propagated"
    )
    assert (propagated["status"], propagated["reason"]) == ("True", "KeyUsable")


async def test_a_key_that_never_propagates_is_read_again_after_a_while(harness: Harness, emulator: Emulator) -> None:
    key_id = await waiting_key(harness, emulator, "stuck", propagation=3600.0)
    async with confluent(emulator) as client:
        await client.api_keys.delete(key_id)  # deleted by someone else while it propagated
    emulator.clear_requests()
    assert (await harness.reconcile(KEY, "stuck")).reason == "WaitingForPropagation"
    assert [r.api_key for r in emulator.requests] == [key_id]  # trusted a while on its probe alone

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31 * harness.ctx.settings.wait_seconds)
    harness.ctx.now = lambda: later
    emulator.clear_requests()
    await harness.reconcile(KEY, "stuck")
    status = (await harness.object(API_KEY, "stuck"))["status"]
    assert ("GET", f"/iam/v2/api-keys/{key_id}", emulator.api_key) in [
        (r.method, r.path, r.api_key) for r in emulator.requests
    ]
    assert status["id"] != key_id  # found gone, and made again


async def test_a_holder_the_index_remembers_but_kubernetes_deleted_does_not_block_adoption(
    harness: Harness, emulator: Emulator
) -> None:
    async with confluent(emulator) as client:
        account = await client.service_accounts.create(f"{harness.namespace}-kept")
    holders = Holders()
    holders.held[(SERVICE_ACCOUNT.plural, account.id)] = ObjectKey(SERVICE_ACCOUNT.plural, harness.namespace, "alive")
    harness.ctx.ids = holders
    harness.create(SERVICE_ACCOUNT, "alive", {"displayName": "someone-else"})  # never reconciled: exists only
    harness.create(SERVICE_ACCOUNT, "adopter", {"adoptId": account.id})

    held = await harness.reconcile(SA, "adopter")
    assert held.reason == "AlreadyManaged" and "alive" in held.message  # type: ignore[union-attr]

    # The holder is deleted while the watch is away: the index still names it.
    kubernetes.client.CustomObjectsApi(harness.api).delete_namespaced_custom_object(
        GROUP, VERSION, harness.namespace, SERVICE_ACCOUNT.plural, "alive"
    )
    assert await harness.reconcile(SA, "adopter") == Ready("Ready")
    assert (await harness.object(SERVICE_ACCOUNT, "adopter"))["status"]["id"] == account.id
