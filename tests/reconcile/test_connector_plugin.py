"""ConnectorPlugin against the emulator and the real apiserver, one reconcile at a time.

Archives are served by a small ASGI app injected as the archive transport.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import httpx
import kubernetes
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator import Emulator, Timing
from ccloud_operator.confluent import ConfluentClient, Credentials, RetryPolicy
from ccloud_operator.reconcile import engine
from ccloud_operator.reconcile.engine import RESYNC_ANNOTATION
from ccloud_operator.reconcile.kinds.connector_plugin import ConnectorPluginReconciler
from ccloud_operator.reconcile.outcome import Outcome, Ready, Retry, Terminal, Waiting
from ccloud_operator.reconcile.shared import SharedReads
from ccloud_operator.resources.connector_plugin import CONNECTOR_PLUGIN

from .conftest import Harness

pytestmark = pytest.mark.e2e
PLUGIN = ConnectorPluginReconciler()
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"


def archive(name: str = "datagen") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(f"{name}/lib/{name}.jar", b"PK\x03\x04 not really a jar, but inside a real zip")
        zf.writestr(f"{name}/manifest.json", b'{"name": "%s"}' % name.encode())
    return out.getvalue()


ARCHIVES = {"/datagen.zip": archive(), "/other.zip": archive("other")}


def confluent(emulator: Emulator) -> ConfluentClient:
    return ConfluentClient(
        Credentials(key=emulator.api_key, secret=emulator.api_secret),
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=emulator.app),
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def serve(request: Request) -> Response:
    data = ARCHIVES.get(request.url.path)
    return Response(data, media_type="application/zip") if data is not None else Response(status_code=404)


ARCHIVE_APP = Starlette(routes=[Route("/{name}", serve)])


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(timing=Timing(api_key_propagation=0.0, plugin_version_processing=0.0))


@pytest.fixture
def h(harness: Harness) -> Harness:
    harness.ctx.archive_transport = httpx.ASGITransport(app=ARCHIVE_APP)
    return harness


def version(v: str = "0.6.7", path: str = "/datagen.zip", digest: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "version": v,
        "connectorClasses": [{"className": CLASS, "type": "SOURCE"}],
        "archive": {"url": f"http://archives.test{path}", "sha256": digest or sha(ARCHIVES[path])},
        **more,
    }


def ccpm(emulator: Emulator, *versions: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"environment": emulator.environment_id, "cloud": "AWS", "versions": list(versions), **more}


async def status(h: Harness, name: str) -> dict[str, Any]:
    found: dict[str, Any] = (await h.object(CONNECTOR_PLUGIN, name)).get("status") or {}
    return found


async def settle(h: Harness, name: str, tries: int = 4) -> Outcome:
    """Reconcile until the outcome is no longer a short wait (a version PROCESSING on the first look)."""
    outcome: Outcome = Waiting("", "", 0)
    for _ in range(tries):
        outcome = await h.reconcile(PLUGIN, name)
        if not isinstance(outcome, Waiting):
            return outcome
    return outcome


def patch(h: Harness, name: str, body: dict[str, Any]) -> None:
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        CONNECTOR_PLUGIN.group, CONNECTOR_PLUGIN.version, h.namespace, CONNECTOR_PLUGIN.plural, name, body
    )


def calls(emulator: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emulator.requests]


async def test_a_ccpm_plugin_and_its_version_reach_ready(h: Harness, emulator: Emulator) -> None:
    h.create(CONNECTOR_PLUGIN, "datagen", ccpm(emulator, version()))
    outcome = await h.reconcile(PLUGIN, "datagen")
    if isinstance(outcome, Waiting):  # PROCESSING on the first look, READY on the next
        outcome = await h.reconcile(PLUGIN, "datagen")
    assert outcome == Ready("Ready"), outcome
    found = await status(h, "datagen")
    assert found["id"].startswith("ccp-")
    [entry] = found["versions"]
    assert (entry["version"], entry["phase"], entry["sha256"]) == ("0.6.7", "READY", sha(ARCHIVES["/datagen.zip"]))
    assert "pendingCreate" not in entry and "uploadId" not in entry
    assert len(emulator.calls("POST", "/ccpm/v1/presigned-upload-url")) == 1
    assert [c["reason"] for c in found["conditions"] if c["type"] == "VersionsReady"] == ["AllReady"]
    # At rest: one more reconcile reads and writes nothing new.
    emulator.clear_requests()
    assert await h.reconcile(PLUGIN, "datagen") == Ready("Ready")
    # Its versions, and its environment's plugin list (shared: see the test of many plugins at rest)
    assert sorted((r.method, r.path) for r in emulator.requests) == [
        ("GET", "/ccpm/v1/plugins"),
        ("GET", f"/ccpm/v1/plugins/{found['id']}/versions"),
    ]


async def test_a_wrong_sha256_names_the_version_and_both_digests_and_uploads_nothing(
    h: Harness, emulator: Emulator
) -> None:
    wrong = "0" * 64
    h.create(CONNECTOR_PLUGIN, "bad-digest", ccpm(emulator, version(digest=wrong)))
    outcome = await h.reconcile(PLUGIN, "bad-digest")
    assert isinstance(outcome, Terminal) and outcome.reason == "DigestMismatch"
    assert "0.6.7" in outcome.message and wrong in outcome.message and sha(ARCHIVES["/datagen.zip"]) in outcome.message
    assert emulator.calls("POST", "/ccpm/v1/presigned-upload-url") == []
    found = await status(h, "bad-digest")
    assert all("pendingCreate" not in v for v in found.get("versions", []))


async def test_an_unreachable_archive_is_retried_and_reported(h: Harness, emulator: Emulator) -> None:
    spec = ccpm(emulator, version())
    spec["versions"][0]["archive"]["url"] = "http://archives.test/missing.zip"
    h.create(CONNECTOR_PLUGIN, "missing", spec)
    outcome = await h.reconcile(PLUGIN, "missing")
    assert isinstance(outcome, Terminal | Retry)
    assert "missing.zip" in outcome.message  # type: ignore[union-attr]


async def test_versions_added_removed_and_deleted_out_of_band(h: Harness, emulator: Emulator) -> None:
    h.create(CONNECTOR_PLUGIN, "growing", ccpm(emulator, version()))
    await h.reconcile(PLUGIN, "growing")
    plugin_id = (await status(h, "growing"))["id"]
    custom = kubernetes.client.CustomObjectsApi(h.api)

    def set_versions(*versions: dict[str, Any]) -> None:
        custom.patch_namespaced_custom_object(
            "ccloud.operators.dev",
            "v1alpha1",
            h.namespace,
            "connectorplugins",
            "growing",
            {"spec": {"versions": list(versions)}},
        )

    async def listed() -> dict[str, str]:
        async with confluent(emulator) as client:
            return {v.spec.version: v.id for v in await client.plugin_versions.list(plugin_id, emulator.environment_id)}

    set_versions(version(), version("0.7.0", "/other.zip"))
    assert await h.reconcile(PLUGIN, "growing") == Ready("Ready")
    assert set(await listed()) == {"0.6.7", "0.7.0"}

    set_versions(version("0.7.0", "/other.zip"))
    assert await h.reconcile(PLUGIN, "growing") == Ready("Ready")
    assert set(await listed()) == {"0.7.0"}
    assert [v["version"] for v in (await status(h, "growing"))["versions"]] == ["0.7.0"]

    gone = (await listed())["0.7.0"]
    async with confluent(emulator) as client:
        await client.plugin_versions.delete(plugin_id, gone, emulator.environment_id)
    assert await h.reconcile(PLUGIN, "growing") == Ready("Ready")
    again = await listed()
    assert set(again) == {"0.7.0"} and again["0.7.0"] != gone, "a version deleted out of band was not recreated"


async def test_changed_classes_on_an_existing_version_ask_for_a_new_version(h: Harness, emulator: Emulator) -> None:
    h.create(CONNECTOR_PLUGIN, "fixed", ccpm(emulator, version()))
    await h.reconcile(PLUGIN, "fixed")
    changed = version(connectorClasses=[{"className": "com.example.Other", "type": "SINK"}])
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        "ccloud.operators.dev", "v1alpha1", h.namespace, "connectorplugins", "fixed", {"spec": {"versions": [changed]}}
    )
    outcome = await h.reconcile(PLUGIN, "fixed")
    assert isinstance(outcome, Terminal) and "add a new version" in outcome.message


async def test_the_legacy_shape_is_created_updated_and_deleted(h: Harness, emulator: Emulator) -> None:
    legacy = {
        "connectorClass": CLASS,
        "connectorType": "SOURCE",
        "archive": {"url": "http://archives.test/datagen.zip", "sha256": sha(ARCHIVES["/datagen.zip"])},
    }
    h.create(CONNECTOR_PLUGIN, "old-style", {"cloud": "AWS", "legacy": legacy})
    assert await h.reconcile(PLUGIN, "old-style") == Ready("Ready")
    plugin_id = (await status(h, "old-style"))["id"]
    assert len(emulator.calls("POST", "/connect/v1/presigned-upload-url")) == 1
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        "ccloud.operators.dev",
        "v1alpha1",
        h.namespace,
        "connectorplugins",
        "old-style",
        {"spec": {"legacy": {"documentationLink": "https://example.com/docs"}}},
    )
    assert await h.reconcile(PLUGIN, "old-style") == Ready("Ready")
    assert len(emulator.calls("PATCH", f"/connect/v1/custom-connector-plugins/{plugin_id}")) == 1
    obj = await h.object(CONNECTOR_PLUGIN, "old-style")
    assert (await engine.delete(h.ctx, PLUGIN, h.target(obj, CONNECTOR_PLUGIN))).reason == "Deleted"


@pytest.mark.parametrize("cloud", ["AWS", "GCP", "AZURE"], ids=["AWS multipart POST", "GCP PUT", "Azure PUT"])
async def test_each_clouds_upload_reaches_a_ready_version(h: Harness, emulator: Emulator, cloud: str) -> None:
    h.create(CONNECTOR_PLUGIN, f"on-{cloud.lower()}", {**ccpm(emulator, version()), "cloud": cloud})
    outcome = await h.reconcile(PLUGIN, f"on-{cloud.lower()}")
    if isinstance(outcome, Waiting):
        outcome = await h.reconcile(PLUGIN, f"on-{cloud.lower()}")
    assert outcome == Ready("Ready"), outcome
    method = "POST" if cloud == "AWS" else "PUT"
    uploads = [r for r in emulator.requests if r.path.startswith(f"/_uploads/{cloud.lower()}/")]
    assert [r.method for r in uploads] == [method]


async def test_an_archive_from_a_configmap(h: Harness, emulator: Emulator) -> None:
    data = ARCHIVES["/other.zip"]
    body = kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name="archives", namespace=h.namespace),
        binary_data={"other.zip": __import__("base64").b64encode(data).decode()},
    )
    kubernetes.client.CoreV1Api(h.api).create_namespaced_config_map(h.namespace, body)
    from_map = {**version(), "archive": {"configMapRef": {"name": "archives", "key": "other.zip"}, "sha256": sha(data)}}
    h.create(CONNECTOR_PLUGIN, "mapped", ccpm(emulator, from_map))
    outcome = await h.reconcile(PLUGIN, "mapped")
    if isinstance(outcome, Waiting):
        outcome = await h.reconcile(PLUGIN, "mapped")
    assert outcome == Ready("Ready"), outcome
    assert (await status(h, "mapped"))["versions"][0]["sha256"] == sha(data)


async def test_a_failed_version_carries_confluents_message(h: Harness, emulator: Emulator) -> None:
    emulator.set_version_outcome("0.6.7", "FAILED", "Version creation failed due to invalid plugin archive.")
    h.create(CONNECTOR_PLUGIN, "failing", ccpm(emulator, version()))
    outcome = await h.reconcile(PLUGIN, "failing")
    if isinstance(outcome, Waiting):
        outcome = await h.reconcile(PLUGIN, "failing")
    assert isinstance(outcome, Terminal)
    assert "0.6.7 FAILED: Version creation failed due to invalid plugin archive." in outcome.message
    [entry] = (await status(h, "failing"))["versions"]
    assert (entry["phase"], entry["message"]) == ("FAILED", "Version creation failed due to invalid plugin archive.")


class LosesVersionCreate(httpx.AsyncBaseTransport):
    """Delivers the first version create, then loses its answer: the version exists, unseen."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.armed = inner, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and request.method == "POST" and request.url.path.endswith("/versions"):
            self.armed = False
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def test_a_crash_between_upload_and_create_makes_no_duplicate_version(h: Harness, emulator: Emulator) -> None:
    lossy = LosesVersionCreate(httpx.ASGITransport(app=emulator.app))
    h.ctx.transport = lossy
    h.create(CONNECTOR_PLUGIN, "crashy", ccpm(emulator, version()))
    first = await h.reconcile(PLUGIN, "crashy")
    assert isinstance(first, Retry) and not lossy.armed, first  # the create landed; its answer did not
    entry = (await status(h, "crashy"))["versions"][0]
    assert entry["pendingCreate"] and entry["uploadId"]  # the checkpoint says a create may have landed
    outcome = await h.reconcile(PLUGIN, "crashy")
    if isinstance(outcome, Waiting):
        outcome = await h.reconcile(PLUGIN, "crashy")
    assert outcome == Ready("Ready"), outcome
    plugin_id = (await status(h, "crashy"))["id"]
    async with confluent(emulator) as client:
        versions = await client.plugin_versions.list(plugin_id, emulator.environment_id)
    assert [v.spec.version for v in versions] == ["0.6.7"]
    assert len(emulator.calls("POST", "/ccpm/v1/presigned-upload-url")) == 1  # no second upload either


async def test_adoption_by_name_and_both_deletion_policies(h: Harness, emulator: Emulator) -> None:
    async with confluent(emulator) as client:
        existing = await client.plugins.create("shared-plugin", "AWS", emulator.environment_id)
    h.create(CONNECTOR_PLUGIN, "adopter", ccpm(emulator, displayName="shared-plugin", adoptionPolicy="AdoptOrCreate"))
    assert await h.reconcile(PLUGIN, "adopter") == Ready("Ready")
    assert (await status(h, "adopter"))["id"] == existing.id
    kubernetes.client.CustomObjectsApi(h.api).patch_namespaced_custom_object(
        "ccloud.operators.dev",
        "v1alpha1",
        h.namespace,
        "connectorplugins",
        "adopter",
        {"spec": {"deletionPolicy": "Orphan"}},
    )
    obj = await h.object(CONNECTOR_PLUGIN, "adopter")
    assert (await engine.delete(h.ctx, PLUGIN, h.target(obj, CONNECTOR_PLUGIN))).reason == "Orphaned"
    async with confluent(emulator) as client:
        assert (await client.plugins.get(existing.id, emulator.environment_id)).id == existing.id

    h.create(CONNECTOR_PLUGIN, "doomed", ccpm(emulator, version()))
    await h.reconcile(PLUGIN, "doomed")
    doomed = await h.object(CONNECTOR_PLUGIN, "doomed")
    await h.reconcile(PLUGIN, "doomed")
    doomed = await h.object(CONNECTOR_PLUGIN, "doomed")
    assert (await engine.delete(h.ctx, PLUGIN, h.target(doomed, CONNECTOR_PLUGIN))).reason == "Deleted"
    async with confluent(emulator) as client:
        assert await client.plugins.find_by_display_name(emulator.environment_id, "doomed") is None


async def test_an_archive_host_that_does_not_answer_is_retried_with_backoff(h: Harness, emulator: Emulator) -> None:
    h.ctx.archive_transport = None  # the real network: a port on 127.0.0.1 where nothing listens
    h.ctx.retry = RetryPolicy(max_attempts=1, base=2.0, rand=lambda: 1.0)  # no jitter: the backoff itself
    spec = ccpm(emulator, version())
    spec["versions"][0]["archive"]["url"] = "http://127.0.0.1:9/datagen.zip"
    h.create(CONNECTOR_PLUGIN, "unanswered", spec)
    delays = []
    for attempt in (1, 2, 3):
        outcome = await h.reconcile(PLUGIN, "unanswered", attempt)
        assert isinstance(outcome, Retry) and outcome.reason == "ArchiveUnreachable", outcome
        assert "127.0.0.1:9/datagen.zip" in outcome.message
        delays.append(outcome.after)
    assert delays[0] < delays[1] < delays[2] <= h.ctx.settings.retry_cap_seconds, delays
    assert emulator.calls("POST", "/ccpm/v1/presigned-upload-url") == []


# -- what each reconcile and deletion costs -----------------------------------------------------------


async def test_at_rest_each_plugin_lists_its_versions_and_they_share_one_plugin_list(
    h: Harness, emulator: Emulator
) -> None:
    names = ["rest-a", "rest-b", "rest-c"]
    for name in names:
        h.create(CONNECTOR_PLUGIN, name, ccpm(emulator, version()))
        assert await settle(h, name) == Ready("Ready")
    ids = [(await status(h, name))["id"] for name in names]
    emulator.clear_requests()
    for name in names:
        assert await h.reconcile(PLUGIN, name) == Ready("Ready")
    # No answer but a plugin's own list carries its versions; the environment's list carries every
    # plugin's fields, so a resync costs one read of its own, not a GET of the plugin as well.
    assert sorted(calls(emulator)) == sorted(
        [("GET", "/ccpm/v1/plugins"), *(("GET", f"/ccpm/v1/plugins/{i}/versions") for i in ids)]
    )


async def test_drift_is_seen_within_one_resync_interval_and_never_acted_on_from_an_old_list(
    h: Harness, emulator: Emulator
) -> None:
    clock = [1000.0]
    h.ctx.shared = SharedReads(ttl=30.0, clock=lambda: clock[0])
    h.create(CONNECTOR_PLUGIN, "drifting", ccpm(emulator, version(), description="mine"))
    h.create(CONNECTOR_PLUGIN, "neighbour", ccpm(emulator, version()))
    assert await settle(h, "drifting") == Ready("Ready")
    assert await settle(h, "neighbour") == Ready("Ready")
    patch(h, "drifting", {"metadata": {"annotations": {RESYNC_ANNOTATION: "5"}}})
    plugin_id = (await status(h, "drifting"))["id"]

    async def described(text: str) -> None:
        async with confluent(emulator) as client:
            await client.plugins.update(plugin_id, emulator.environment_id, description=text)

    await described("changed by hand")
    assert await h.reconcile(PLUGIN, "neighbour") == Ready("Ready")  # the shared list it reads shows the drift
    await described("mine")  # put back by hand, after that list
    clock[0] += 1
    emulator.clear_requests()
    assert await h.reconcile(PLUGIN, "drifting") == Ready("Ready")
    # The shared list said "changed by hand": read by ID before writing, and nothing to write.
    assert calls(emulator) == [
        ("GET", f"/ccpm/v1/plugins/{plugin_id}"),
        ("GET", f"/ccpm/v1/plugins/{plugin_id}/versions"),
    ]

    h.ctx.shared.invalidate(emulator.api_key, ("ccpm-plugins", emulator.environment_id))
    assert await h.reconcile(PLUGIN, "neighbour") == Ready("Ready")  # a shared list that shows "mine"
    await described("changed again")
    clock[0] += 6  # past its resync interval of 5 s, within the shared reads' 30
    emulator.clear_requests()
    assert await h.reconcile(PLUGIN, "drifting") == Ready("Ready")
    assert ("PATCH", f"/ccpm/v1/plugins/{plugin_id}") in calls(emulator)
    assert emulator.core.state.ccpm_plugins[plugin_id].description == "mine"


async def test_a_description_change_is_one_patch_and_the_wake_right_after_reads_no_versions(
    h: Harness, emulator: Emulator
) -> None:
    h.create(CONNECTOR_PLUGIN, "described", ccpm(emulator, version(), description="first"))
    assert await settle(h, "described") == Ready("Ready")
    plugin_id = (await status(h, "described"))["id"]
    patch(h, "described", {"spec": {"description": "second"}})
    emulator.clear_requests()
    assert await h.reconcile(PLUGIN, "described") == Ready("Ready")
    assert calls(emulator) == [
        ("GET", f"/ccpm/v1/plugins/{plugin_id}"),  # by ID: the spec changed
        ("PATCH", f"/ccpm/v1/plugins/{plugin_id}"),
        ("GET", f"/ccpm/v1/plugins/{plugin_id}/versions"),
    ]
    assert emulator.core.state.ccpm_plugins[plugin_id].description == "second"
    # A CustomConnector whose spec changes wakes the plugin whose version it uses, often at once (as
    # the benchmark's update of both does): that reconcile shares the versions list just read.
    emulator.clear_requests()
    assert await h.reconcile(PLUGIN, "described") == Ready("Ready")
    assert calls(emulator) == [("GET", "/ccpm/v1/plugins")]  # after the PATCH, the shared list afresh


async def test_deleting_a_plugin_is_one_delete_that_takes_its_versions(h: Harness, emulator: Emulator) -> None:
    h.create(CONNECTOR_PLUGIN, "two-versions", ccpm(emulator, version(), version("0.7.0", "/other.zip")))
    assert await settle(h, "two-versions") == Ready("Ready")
    plugin_id = (await status(h, "two-versions"))["id"]
    emulator.clear_requests()
    obj = await h.object(CONNECTOR_PLUGIN, "two-versions")
    assert (await engine.delete(h.ctx, PLUGIN, h.target(obj, CONNECTOR_PLUGIN))).reason == "Deleted"
    assert calls(emulator) == [("DELETE", f"/ccpm/v1/plugins/{plugin_id}")]
    assert plugin_id not in emulator.core.state.ccpm_plugins
    assert [v for v in emulator.core.state.ccpm_versions.values() if v.plugin_id == plugin_id] == []


async def test_a_plugin_run_by_a_connector_outside_kubernetes_waits_and_goes_once_it_stops(
    h: Harness, emulator: Emulator
) -> None:
    h.create(CONNECTOR_PLUGIN, "run-outside", ccpm(emulator, version()))
    assert await settle(h, "run-outside") == Ready("Ready")
    plugin_id = (await status(h, "run-outside"))["id"]
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "confluent.custom.plugin.version": "0.6.7",
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
    }
    async with confluent(emulator) as client:
        await client.connectors.create(emulator.environment_id, emulator.kafka_cluster_id, "outside", config)
    obj = await h.object(CONNECTOR_PLUGIN, "run-outside")
    waiting = await engine.delete(h.ctx, PLUGIN, h.target(obj, CONNECTOR_PLUGIN))
    assert isinstance(waiting, Waiting) and waiting.reason == "InUse", waiting
    assert f"Plugin {plugin_id} is in use in Confluent" in waiting.message and "outside" in waiting.message
    assert [v.version for v in emulator.core.state.ccpm_versions.values() if v.plugin_id == plugin_id] == ["0.6.7"]
    async with confluent(emulator) as client:
        await client.connectors.delete(emulator.environment_id, emulator.kafka_cluster_id, "outside")
    obj = await h.object(CONNECTOR_PLUGIN, "run-outside")
    assert (await engine.delete(h.ctx, PLUGIN, h.target(obj, CONNECTOR_PLUGIN))).reason == "Deleted"
    assert plugin_id not in emulator.core.state.ccpm_plugins
