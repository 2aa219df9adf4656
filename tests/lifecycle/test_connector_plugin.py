"""ConnectorPlugin end to end: the operator process, an archive served on 127.0.0.1, the emulator."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import socket
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ccloud_emulator import Emulator

from .conftest import CREDS, Confluent, Kube

pytestmark = pytest.mark.e2e
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
KIND = "ConnectorPlugin"
FAST_RESYNC = {"ccloud.operators.dev/resync-interval": "1"}
PAUSED = "ccloud.operators.dev/paused"


def _zip(name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(f"{name}/lib/{name}.jar", b"classes")
    return out.getvalue()


ARCHIVE = _zip("datagen")


def _handler(files: dict[str, bytes], hits: Counter[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] += 1
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def _serving(files: dict[str, bytes], hits: Counter[str] | None = None, port: int = 0) -> Iterator[str]:
    """An archive server on 127.0.0.1 (on `port`, or any free one) for as long as the block runs; its base URL.

    `hits` counts the GETs by path."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(files, Counter() if hits is None else hits))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Archives:
    """What the module's archive server serves (`serve` adds a path), and how often each path was asked for."""

    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def serve(self, name: str, data: bytes) -> str:
        self.files[f"/{name}"] = data
        return f"{self.base}/{name}"


@pytest.fixture(scope="module")
def archives() -> Iterator[Archives]:
    """An archive server on 127.0.0.1, stopped after the module."""
    files: dict[str, bytes] = {}
    hits: Counter[str] = Counter()
    with _serving(files, hits) as base:
        yield Archives(base, files, hits)


@pytest.fixture(scope="module")
def archive_url(archives: Archives) -> str:
    return archives.serve("datagen.zip", ARCHIVE)


def _version(archive: Mapping[str, object], v: str = "0.6.7") -> dict[str, object]:
    return {"version": v, "connectorClasses": [{"className": CLASS, "type": "SOURCE"}], "archive": archive}


def test_a_plugin_from_a_url_reaches_ready_and_deleting_it_leaves_nothing(
    kube: Kube, emulator: Emulator, confluent: Confluent, archive_url: str
) -> None:
    archive = {"url": archive_url, "sha256": hashlib.sha256(ARCHIVE).hexdigest()}
    spec = {"environment": emulator.environment_id, "cloud": "AWS", "versions": [_version(archive)], **CREDS}
    kube.apply("ConnectorPlugin", "datagen", spec)
    kube.wait_condition("ConnectorPlugin", "datagen", timeout=30)
    status = kube.get("ConnectorPlugin", "datagen")["status"]  # type: ignore[index]
    assert status["id"].startswith("ccp-")
    assert [(v["version"], v["phase"]) for v in status["versions"]] == [("0.6.7", "READY")]
    plugin_id = status["id"]
    kube.delete("ConnectorPlugin", "datagen")
    kube.wait_gone("ConnectorPlugin", "datagen", timeout=30)
    found = confluent.http.get(f"/ccpm/v1/plugins/{plugin_id}", params={"environment": emulator.environment_id})
    assert found.status_code == 404


def test_a_configmap_that_arrives_later_wakes_the_plugin(kube: Kube, emulator: Emulator) -> None:
    archive = {"configMapRef": {"name": "archives", "key": "datagen.zip"}}
    spec = {"environment": emulator.environment_id, "cloud": "GCP", "versions": [_version(archive)], **CREDS}
    kube.apply("ConnectorPlugin", "from-map", spec)

    def waiting() -> bool:
        return "archives" in kube.condition("ConnectorPlugin", "from-map", "Synced").get("message", "")

    kube.wait_for("the plugin to say the ConfigMap is missing", waiting, timeout=30)
    import kubernetes

    body = kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name="archives", namespace=kube.namespace),
        binary_data={"datagen.zip": base64.b64encode(ARCHIVE).decode()},
    )
    kube.core.create_namespaced_config_map(kube.namespace, body)
    # Only the ConfigMap's watch can wake it this soon: a missing input waits for its resync (600 s here).
    kube.wait_condition("ConnectorPlugin", "from-map", timeout=15)


# -- Confluent as another client sees it: plugins and versions made and read over REST -----------------


@dataclass
class Ccpm:
    """The ccpm/v1 API of one environment, called the way any other client would (not the operator)."""

    confluent: Confluent
    environment: str

    @property
    def _env(self) -> dict[str, str]:
        return {"environment": self.environment}

    def create_plugin(self, display_name: str, description: str = "", cloud: str = "GCP") -> str:
        spec = {
            "display_name": display_name,
            "description": description,
            "cloud": cloud,
            "environment": {"id": self.environment},
        }
        created = self.confluent.http.post("/ccpm/v1/plugins", json={"spec": spec})
        created.raise_for_status()
        plugin_id: str = created.json()["id"]
        return plugin_id

    def create_version(self, plugin_id: str, version: str, data: bytes = ARCHIVE) -> str:
        """A version of a GCP plugin through the presigned flow (a raw PUT), as the Confluent CLI makes one."""
        presigned = self.confluent.http.post(
            "/ccpm/v1/presigned-upload-url",
            json={"content_format": "ZIP", "cloud": "GCP", "environment": {"id": self.environment}},
        )
        presigned.raise_for_status()
        upload = presigned.json()
        put = self.confluent.http.put(upload["upload_url"], content=data, headers={"Content-Type": "application/zip"})
        put.raise_for_status()
        spec = {
            "version": version,
            "connector_classes": [{"class_name": CLASS, "type": "SOURCE"}],
            "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": upload["upload_id"]},
            "environment": {"id": self.environment},
        }
        created = self.confluent.http.post(f"/ccpm/v1/plugins/{plugin_id}/versions", json={"spec": spec})
        created.raise_for_status()
        version_id: str = created.json()["id"]
        return version_id

    def plugin(self, plugin_id: str) -> dict[str, Any] | None:
        found = self.confluent.http.get(f"/ccpm/v1/plugins/{plugin_id}", params=self._env)
        if found.status_code == 404:
            return None
        found.raise_for_status()
        body: dict[str, Any] = found.json()
        return body

    def named(self, display_name: str) -> list[dict[str, Any]]:
        plugins = self.confluent._all("/ccpm/v1/plugins", **self._env)
        return [p for p in plugins if p["spec"]["display_name"] == display_name]

    def versions(self, plugin_id: str) -> dict[str, dict[str, Any]]:
        """The plugin's versions by version string ({} once the plugin is gone)."""
        listing = self.confluent.http.get(f"/ccpm/v1/plugins/{plugin_id}/versions", params=self._env)
        if listing.status_code == 404:
            return {}
        listing.raise_for_status()
        return {v["spec"]["version"]: v for v in listing.json()["data"]}

    def delete_version(self, plugin_id: str, version_id: str) -> None:
        self.confluent.http.delete(
            f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params=self._env
        ).raise_for_status()


@pytest.fixture
def ccpm(confluent: Confluent, emulator: Emulator) -> Ccpm:
    return Ccpm(confluent, emulator.environment_id)


def _legacy(confluent: Confluent, plugin_id: str) -> dict[str, Any] | None:
    found = confluent.http.get(f"/connect/v1/custom-connector-plugins/{plugin_id}")
    if found.status_code == 404:
        return None
    found.raise_for_status()
    body: dict[str, Any] = found.json()
    return body


def _status(kube: Kube, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (kube.get(KIND, name) or {}).get("status") or {}
    return status


def _versions_in_status(kube: Kube, name: str) -> list[tuple[str, str | None, str | None]]:
    return [(v["version"], v.get("id"), v.get("phase")) for v in _status(kube, name).get("versions", [])]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ccpm_spec(
    emulator: Emulator, display_name: str, versions: list[dict[str, object]], **extra: object
) -> dict[str, Any]:
    return {
        "environment": emulator.environment_id,
        "cloud": "GCP",
        "displayName": display_name,
        "versions": versions,
        **CREDS,
        **extra,
    }


# -- ObserveOnly, pause, adoption ----------------------------------------------------------------------


def test_observe_only_reports_the_plugin_and_never_writes(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archive_url: str
) -> None:
    name = f"{kube.namespace}-observed"
    plugin_id = ccpm.create_plugin(name, "theirs")
    version_id = ccpm.create_version(plugin_id, "0.1.0")
    archive = {"url": archive_url, "sha256": _sha(ARCHIVE)}
    spec = _ccpm_spec(emulator, name, [_version(archive, "0.1.0")], description="ours", managementPolicy="ObserveOnly")
    kube.apply(KIND, "observed", spec)

    ready = kube.wait_condition(KIND, "observed", reason="Observed", timeout=30)
    assert ready["message"] == "Confluent differs from the spec (description); ObserveOnly leaves it."
    status = _status(kube, "observed")
    assert status["id"] == plugin_id
    assert status["displayName"] == name
    assert _versions_in_status(kube, "observed") == [("0.1.0", version_id, "READY")]
    assert ccpm.plugin(plugin_id)["spec"]["description"] == "theirs"  # type: ignore[index]

    # A listed version Confluent lacks is reported, never created: no upload, no version.
    uploads = len(emulator.calls("POST", "/ccpm/v1/presigned-upload-url"))
    kube.patch(KIND, "observed", {"spec": {"versions": [_version(archive, "0.1.0"), _version(archive, "0.2.0")]}})
    cond = kube.wait_condition(KIND, "observed", "False", "VersionProblem", timeout=30)
    assert "version 0.2.0 does not exist in Confluent" in cond["message"]
    assert "0.1.0" not in cond["message"]
    assert list(ccpm.versions(plugin_id)) == ["0.1.0"]
    assert len(emulator.calls("POST", "/ccpm/v1/presigned-upload-url")) == uploads
    assert not emulator.calls("PATCH", f"/ccpm/v1/plugins/{plugin_id}")
    assert len(emulator.calls("POST", f"/ccpm/v1/plugins/{plugin_id}/versions")) == 1  # ours, above

    # Deleting an observer leaves Confluent as it was.
    kube.delete(KIND, "observed")
    kube.wait_gone(KIND, "observed")
    assert ccpm.plugin(plugin_id)["spec"]["description"] == "theirs"  # type: ignore[index]
    assert list(ccpm.versions(plugin_id)) == ["0.1.0"]
    assert not emulator.calls("DELETE", f"/ccpm/v1/plugins/{plugin_id}*")


def test_pause_annotation_holds_a_description_change_until_removed(kube: Kube, emulator: Emulator, ccpm: Ccpm) -> None:
    name = f"{kube.namespace}-paused"
    kube.apply(KIND, "paused", _ccpm_spec(emulator, name, [], description="before"))
    kube.wait_condition(KIND, "paused")
    plugin_id = _status(kube, "paused")["id"]
    assert ccpm.plugin(plugin_id)["spec"]["description"] == "before"  # type: ignore[index]

    kube.patch(KIND, "paused", {"metadata": {"annotations": {PAUSED: "true"}}})
    kube.wait_for(
        "Synced=False ReconcilePaused",
        lambda: kube.condition(KIND, "paused", "Synced").get("reason") == "ReconcilePaused",
    )
    assert PAUSED in kube.condition(KIND, "paused", "Synced")["message"]
    kube.patch(KIND, "paused", {"spec": {"description": "held"}})
    with pytest.raises(AssertionError):
        kube.wait_for(
            "a write while paused",
            lambda: ccpm.plugin(plugin_id)["spec"]["description"] == "held",  # type: ignore[index]
            timeout=3,
        )
    assert kube.condition(KIND, "paused")["status"] == "True"  # pausing is not a failure
    assert not emulator.calls("PATCH", f"/ccpm/v1/plugins/{plugin_id}")

    kube.patch(KIND, "paused", {"metadata": {"annotations": {PAUSED: None}}})
    kube.wait_for(
        "the held change applied",
        lambda: ccpm.plugin(plugin_id)["spec"]["description"] == "held",  # type: ignore[index]
    )
    kube.wait_for("Synced again", lambda: kube.condition(KIND, "paused", "Synced").get("status") == "True")
    assert kube.condition(KIND, "paused")["observedGeneration"] == 2


def test_adopt_by_id_keeps_the_plugin_and_its_other_versions(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archive_url: str
) -> None:
    theirs = f"{kube.namespace}-theirs"
    plugin_id = ccpm.create_plugin(theirs, "made elsewhere")
    other = ccpm.create_version(plugin_id, "0.1.0")
    name = f"{kube.namespace}-byid"
    archive = {"url": archive_url, "sha256": _sha(ARCHIVE)}
    spec = _ccpm_spec(emulator, name, [_version(archive, "0.2.0")], adoptId=plugin_id, description="adopted")
    kube.apply(KIND, "byid", spec)

    kube.wait_condition(KIND, "byid", timeout=30)
    assert _status(kube, "byid")["id"] == plugin_id
    remote = ccpm.plugin(plugin_id)["spec"]  # type: ignore[index]
    assert (remote["display_name"], remote["description"]) == (name, "adopted")  # the spec wins
    versions = ccpm.versions(plugin_id)
    assert sorted(versions) == ["0.1.0", "0.2.0"]
    assert versions["0.1.0"]["id"] == other  # a version the object never listed is left alone
    assert [v for v, _, _ in _versions_in_status(kube, "byid")] == ["0.2.0"]
    assert ccpm.named(theirs) == [] and len(ccpm.named(name)) == 1  # adopted, not created


def test_adoption_by_display_name_needs_adopt_or_create(kube: Kube, emulator: Emulator, ccpm: Ccpm) -> None:
    name = f"{kube.namespace}-taken"
    existing = ccpm.create_plugin(name, "made elsewhere")
    kube.apply(KIND, "taken", _ccpm_spec(emulator, name, []))
    cond = kube.wait_condition(KIND, "taken", "False", "AlreadyExists")
    assert existing in cond["message"] and "adoptionPolicy: AdoptOrCreate" in cond["message"]
    kube.wait_for("the AlreadyExists Event", lambda: "AlreadyExists" in [r for r, _ in kube.events("taken")])

    kube.patch(KIND, "taken", {"spec": {"adoptionPolicy": "AdoptOrCreate"}})
    kube.wait_condition(KIND, "taken")
    assert _status(kube, "taken")["id"] == existing
    assert [p["id"] for p in ccpm.named(name)] == [existing]
    assert ccpm.plugin(existing)["spec"]["description"] == ""  # type: ignore[index]


def test_drift_in_display_name_and_description_is_corrected(kube: Kube, emulator: Emulator, ccpm: Ccpm) -> None:
    name = f"{kube.namespace}-drift"
    kube.apply(KIND, "drift", _ccpm_spec(emulator, name, [], description="mine"), FAST_RESYNC)
    kube.wait_condition(KIND, "drift")
    plugin_id = _status(kube, "drift")["id"]
    ccpm.confluent.http.patch(
        f"/ccpm/v1/plugins/{plugin_id}",
        json={
            "spec": {
                "display_name": f"{name}-renamed",
                "description": "changed by hand",
                "environment": {"id": emulator.environment_id},
            }
        },
    ).raise_for_status()

    def restored() -> bool:
        spec = (ccpm.plugin(plugin_id) or {}).get("spec", {})
        return (spec.get("display_name"), spec.get("description")) == (name, "mine")

    kube.wait_for("the display name and description restored", restored, timeout=15)
    assert _status(kube, "drift")["displayName"] == name


@pytest.mark.parametrize("policy", ["ObserveOnly", "Adopt"])
def test_a_plugin_that_appears_later_is_found_at_the_resync_interval(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, policy: str
) -> None:
    name = f"{kube.namespace}-later"
    extra = {"managementPolicy": "ObserveOnly"} if policy == "ObserveOnly" else {"adoptionPolicy": "Adopt"}
    kube.apply(KIND, "later", _ccpm_spec(emulator, name, [], **extra), FAST_RESYNC)
    cond = kube.wait_condition(KIND, "later", "False", "NotFound")
    assert f'No plugin named "{name}"' in cond["message"]
    plugin_id = ccpm.create_plugin(name)
    # The annotation asks for a look every second; the operator's default (600 s here) must not apply.
    kube.wait_condition(KIND, "later", reason="Observed" if policy == "ObserveOnly" else "Ready", timeout=8)
    assert _status(kube, "later")["id"] == plugin_id


# -- archives that cannot be used ---------------------------------------------------------------------


def test_a_corrupt_archive_is_terminal_and_nothing_is_uploaded(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archives: Archives
) -> None:
    corrupt = b"this is not a zip file, whatever its name says\n" * 64
    url = archives.serve(f"{kube.namespace}-corrupt.zip", corrupt)
    spec = _ccpm_spec(
        emulator, f"{kube.namespace}-corrupt", [_version({"url": url, "sha256": _sha(corrupt)})], cloud="AZURE"
    )
    uploads = len(emulator.calls("PUT", "/_uploads/azure/*"))
    kube.apply(KIND, "corrupt", spec)

    cond = kube.wait_condition(KIND, "corrupt", "False", "ArchiveRejected", timeout=30)
    assert "spec.versions[0.6.7].archive" in cond["message"]
    assert "neither a ZIP nor a JAR" in cond["message"]
    assert kube.condition(KIND, "corrupt", "Synced")["reason"] == "ArchiveRejected"
    plugin_id = _status(kube, "corrupt")["id"]
    assert ccpm.versions(plugin_id) == {}
    assert len(emulator.calls("PUT", "/_uploads/azure/*")) == uploads
    kube.wait_for("the ArchiveRejected Event", lambda: ("ArchiveRejected", cond["message"]) in kube.events("corrupt"))
    # Terminal: fetched once, and not again until something changes (the resync is 600 s here). The watch
    # event of the operator's own finalizer patch on the credentials Secret, which can arrive before the
    # patch's answer, must not wake the plugin for a second download.
    time.sleep(1)
    fetched = archives.hits[f"/{kube.namespace}-corrupt.zip"]
    assert fetched == 1
    with pytest.raises(AssertionError):
        kube.wait_for("another download", lambda: archives.hits[f"/{kube.namespace}-corrupt.zip"] > fetched, timeout=3)
    assert kube.condition(KIND, "corrupt")["reason"] == "ArchiveRejected"


def test_a_wrong_sha256_names_both_digests_and_nothing_is_uploaded(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archive_url: str
) -> None:
    wrong = _sha(b"some other archive")
    spec = _ccpm_spec(
        emulator, f"{kube.namespace}-digest", [_version({"url": archive_url, "sha256": wrong})], cloud="AZURE"
    )
    uploads = len(emulator.calls("PUT", "/_uploads/azure/*"))
    kube.apply(KIND, "digest", spec)

    cond = kube.wait_condition(KIND, "digest", "False", "DigestMismatch", timeout=30)
    assert "spec.versions[0.6.7].archive" in cond["message"]
    assert _sha(ARCHIVE) in cond["message"] and wrong in cond["message"]
    assert "nothing was uploaded" in cond["message"]
    plugin_id = _status(kube, "digest")["id"]
    assert ccpm.versions(plugin_id) == {}
    assert len(emulator.calls("PUT", "/_uploads/azure/*")) == uploads

    # The right digest is the fix: the version is made then.
    kube.patch(KIND, "digest", {"spec": {"versions": [_version({"url": archive_url, "sha256": _sha(ARCHIVE)})]}})
    kube.wait_condition(KIND, "digest", timeout=30)
    assert list(ccpm.versions(plugin_id)) == ["0.6.7"]
    assert _status(kube, "digest")["versions"][0]["sha256"] == _sha(ARCHIVE)


def test_an_unreachable_url_is_retried_until_it_answers(kube: Kube, emulator: Emulator, ccpm: Ccpm) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/late.zip"
    kube.apply(
        KIND, "late", _ccpm_spec(emulator, f"{kube.namespace}-late", [_version({"url": url, "sha256": _sha(ARCHIVE)})])
    )

    cond = kube.wait_condition(KIND, "late", "False", "ArchiveUnreachable", timeout=30)
    assert "spec.versions[0.6.7].archive" in cond["message"] and url in cond["message"]
    assert kube.condition(KIND, "late", "Synced")["reason"] == "ArchiveUnreachable"
    plugin_id = _status(kube, "late")["id"]
    assert ccpm.versions(plugin_id) == {}

    with _serving({"/late.zip": ARCHIVE}, port=port):
        # No change to the object: the retry (with backoff capped at 3 s here) finds the archive.
        kube.wait_condition(KIND, "late", timeout=30)
    assert list(ccpm.versions(plugin_id)) == ["0.6.7"]
    assert _versions_in_status(kube, "late")[0][2] == "READY"
    assert kube.condition(KIND, "late")["observedGeneration"] == 1


# -- the legacy shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "survives"), [("Orphan", True), ("Delete", False)], ids=["orphan-keeps", "delete-removes"]
)
def test_legacy_plugin_create_update_and_delete(
    kube: Kube, emulator: Emulator, confluent: Confluent, archive_url: str, policy: str, survives: bool
) -> None:
    name = f"{kube.namespace}-legacy"
    legacy = {
        "connectorClass": CLASS,
        "connectorType": "SOURCE",
        "sensitiveConfigProperties": ["password"],
        "documentationLink": "https://example.com/v1",
        "archive": {"url": archive_url, "sha256": _sha(ARCHIVE)},
    }
    spec = {
        "cloud": "AWS",
        "displayName": name,
        "description": "one",
        "deletionPolicy": policy,
        "legacy": legacy,
        **CREDS,
    }
    kube.apply(KIND, "legacy", spec)

    kube.wait_condition(KIND, "legacy", timeout=30)
    status = _status(kube, "legacy")
    plugin_id = status["id"]
    assert status["sha256"] == _sha(ARCHIVE)
    remote = _legacy(confluent, plugin_id)
    assert remote is not None
    assert (remote["display_name"], remote["description"], remote["connector_class"]) == (name, "one", CLASS)
    assert remote["sensitive_config_properties"] == ["password"]

    kube.patch(
        KIND,
        "legacy",
        {
            "spec": {
                "displayName": f"{name}-2",
                "description": "two",
                "legacy": {
                    "documentationLink": "https://example.com/v2",
                    "sensitiveConfigProperties": ["password", "token"],
                },
            }
        },
    )

    def updated() -> bool:
        now = _legacy(confluent, plugin_id) or {}
        have = (
            now.get("display_name"),
            now.get("description"),
            now.get("documentation_link"),
            sorted(now.get("sensitive_config_properties", [])),
        )
        return have == (f"{name}-2", "two", "https://example.com/v2", ["password", "token"])

    kube.wait_for("the legacy plugin updated in Confluent", updated)
    kube.wait_for("observedGeneration 2", lambda: kube.condition(KIND, "legacy")["observedGeneration"] == 2)
    assert _status(kube, "legacy")["id"] == plugin_id  # updated in place, not replaced
    assert _status(kube, "legacy")["displayName"] == f"{name}-2"
    assert not emulator.calls("DELETE", f"/connect/v1/custom-connector-plugins/{plugin_id}")

    kube.delete(KIND, "legacy")
    kube.wait_gone(KIND, "legacy")
    assert (_legacy(confluent, plugin_id) is not None) is survives


# -- versions and deletion ----------------------------------------------------------------------------


def test_versions_deleted_out_of_band_come_back_and_unlisted_ones_are_deleted(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archive_url: str
) -> None:
    archive = {"url": archive_url, "sha256": _sha(ARCHIVE)}
    spec = _ccpm_spec(emulator, f"{kube.namespace}-versions", [_version(archive, "0.1.0"), _version(archive, "0.2.0")])
    kube.apply(KIND, "versions", spec, FAST_RESYNC)
    kube.wait_condition(KIND, "versions", timeout=30)
    plugin_id = _status(kube, "versions")["id"]
    before = {v: str(vid) for v, vid, _ in _versions_in_status(kube, "versions")}
    assert sorted(before) == ["0.1.0", "0.2.0"]
    assert {v: r["id"] for v, r in ccpm.versions(plugin_id).items()} == before

    ccpm.delete_version(plugin_id, before["0.1.0"])

    def recreated() -> str | None:
        have = ccpm.versions(plugin_id).get("0.1.0")
        return have["id"] if have and have["id"] != before["0.1.0"] else None

    new_id = kube.wait_for("version 0.1.0 recreated in Confluent", recreated, timeout=20)
    kube.wait_for(
        "status to show the new version READY",
        lambda: ("0.1.0", new_id, "READY") in _versions_in_status(kube, "versions"),
        timeout=20,
    )
    assert ccpm.versions(plugin_id)["0.2.0"]["id"] == before["0.2.0"]

    kube.patch(KIND, "versions", {"spec": {"versions": [_version(archive, "0.1.0")]}})
    kube.wait_for("version 0.2.0 deleted in Confluent", lambda: list(ccpm.versions(plugin_id)) == ["0.1.0"], timeout=20)
    kube.wait_for(
        "status without 0.2.0",
        lambda: _versions_in_status(kube, "versions") == [("0.1.0", new_id, "READY")],
        timeout=20,
    )
    kube.wait_condition(KIND, "versions")
    assert any(reason == "VersionDeleted" and before["0.2.0"] in message for reason, message in kube.events("versions"))


@pytest.mark.parametrize(
    ("policy", "survives"), [("Orphan", True), ("Delete", False)], ids=["orphan-keeps", "delete-removes"]
)
def test_ccpm_deletion_policy(
    kube: Kube, emulator: Emulator, ccpm: Ccpm, archive_url: str, policy: str, survives: bool
) -> None:
    archive = {"url": archive_url, "sha256": _sha(ARCHIVE)}
    spec = _ccpm_spec(emulator, f"{kube.namespace}-{policy.lower()}", [_version(archive)], deletionPolicy=policy)
    kube.apply(KIND, "doomed", spec)
    kube.wait_condition(KIND, "doomed", timeout=30)
    plugin_id = _status(kube, "doomed")["id"]
    [(_, version_id, _)] = _versions_in_status(kube, "doomed")

    kube.delete(KIND, "doomed")
    kube.wait_gone(KIND, "doomed", timeout=30)
    if survives:
        assert ccpm.plugin(plugin_id) is not None
        assert ccpm.versions(plugin_id)["0.6.7"]["id"] == version_id
        assert not emulator.calls("DELETE", f"/ccpm/v1/plugins/{plugin_id}*")
    else:
        assert ccpm.plugin(plugin_id) is None
        # One DELETE of the plugin, which takes its versions with it: none is deleted on its own.
        assert len(emulator.calls("DELETE", f"/ccpm/v1/plugins/{plugin_id}")) == 1
        assert not emulator.calls("DELETE", f"/ccpm/v1/plugins/{plugin_id}/versions/*")
        assert version_id not in emulator.core.state.ccpm_versions
