"""ConnectorPlugin end to end: the operator process, an archive served on 127.0.0.1, the emulator."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator

import pytest

from ccloud_emulator import Emulator

from .conftest import CREDS, Confluent, Kube

pytestmark = pytest.mark.e2e
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"


def _zip(name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(f"{name}/lib/{name}.jar", b"classes")
    return out.getvalue()


ARCHIVE = _zip("datagen")


@pytest.fixture(scope="module")
def archive_url() -> Iterator[str]:
    """An archive server on 127.0.0.1, stopped after the module."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/datagen.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(ARCHIVE)))
            self.end_headers()
            self.wfile.write(ARCHIVE)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/datagen.zip"
    server.shutdown()
    thread.join(timeout=5)


def _version(archive: dict[str, object], v: str = "0.6.7") -> dict[str, object]:
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
