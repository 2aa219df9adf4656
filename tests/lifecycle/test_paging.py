"""The operator's watches list in pages: Secrets and ConfigMaps (and our kinds) are never asked for
all at once, as the apiserver's audit log shows."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import OPERATOR_SETTINGS

pytestmark = pytest.mark.e2e
PAGE = 4


@pytest.fixture(scope="module")
def crowded(control_plane: ControlPlane, crds: None) -> Iterator[str]:
    """A namespace with more Secrets and ConfigMaps than three pages hold."""
    namespace = f"pages-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)
    for i in range(3 * PAGE):
        control_plane.kubectl("create", "secret", "generic", f"s{i}", "-n", namespace, f"--from-literal=k={i}")
        control_plane.kubectl("create", "configmap", f"c{i}", "-n", namespace, f"--from-literal=k={i}")
    yield namespace
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_secrets_and_configmaps_are_listed_in_pages(
    control_plane: ControlPlane, crowded: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    settings = {**OPERATOR_SETTINGS, "CCLOUD_API_URL": "http://127.0.0.1:9", "CCLOUD_LIST_PAGE_SIZE": str(PAGE)}
    began = time.time()
    with OperatorProcess(control_plane.kubeconfig, log, settings) as process:
        deadline = time.monotonic() + 60
        while not _ready(process.port):
            assert time.monotonic() < deadline and process.alive(), log.read_text()[-2000:]
            time.sleep(0.2)
    for path in ("/api/v1/secrets", "/api/v1/configmaps"):
        ours = [
            e
            for e in control_plane.listed(path)
            if e["userAgent"].startswith("kopf") and _when(e["requestReceivedTimestamp"]) >= began - 1
        ]
        assert ours, f"no list of {path} by the operator in the audit log"
        uris = [e["requestURI"] for e in ours]
        assert all(f"limit={PAGE}" in uri for uri in uris), uris
        assert any("continue=" in uri for uri in uris), uris  # more than one page was asked for
        assert len(ours) >= 3  # 12 objects and more, 4 a page


def _when(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
