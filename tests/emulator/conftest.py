"""Fixtures for the emulator's tests: an emulator, an httpx client on it, and the spec check.

Every response a test gets through `client` (or any client built with `make_client`) is validated
with openapi-core against the operation's response schema in the matching Confluent spec: the
official ones in ../shared/reference/confluent-cloud/specs (beside the repository, as CI has them;
CCLOUD_SPECS points elsewhere). The specs' server is https://api.confluent.cloud, so operations are
found by path and method; each spec is loaded once per session.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

from ccloud_emulator import Emulator, Timing

SPECS = Path(
    os.environ.get("CCLOUD_SPECS", Path(__file__).resolve().parents[3] / "shared/reference/confluent-cloud/specs")
)
SPEC_SERVER = "https://api.confluent.cloud"
EXPANDED = "/connect/v1/environments/{environment_id}/clusters/{kafka_cluster_id}/connectors?expand=info,status,id"


@dataclass(frozen=True)
class Operation:
    spec: str
    template: str
    method: str
    operation_id: str
    regex: re.Pattern[str]


@dataclass
class Conformance:
    """Finds the spec operation of each response and validates the response against it."""

    apis: dict[str, OpenAPI]
    operations: list[Operation]
    validated: set[str] = field(default_factory=set)
    statuses: set[tuple[str, int]] = field(default_factory=set)
    undeclared: list[tuple[str, int]] = field(default_factory=list)

    def operation(self, method: str, path: str, query: str) -> Operation | None:
        expanded = "expand=" in query
        for op in self.operations:
            if op.method == method and op.regex.fullmatch(path):
                if op.template == EXPANDED.split("?")[0] and expanded:
                    continue
                if op.template == EXPANDED and not expanded:
                    continue
                return op
        return None

    def check(self, response: httpx.Response) -> None:
        request = response.request
        method = request.method.lower()
        op = self.operation(method, request.url.path, request.url.query.decode())
        if op is None:
            return
        mock_request = MockRequest(SPEC_SERVER, method, request.url.path, path_pattern=op.template)
        mock_response = MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", "application/json"),
        )
        try:
            self.apis[op.spec].validate_response(mock_request, mock_response)
        except ResponseNotFound:
            # a status the spec does not list for this operation; tests decide which are allowed
            self.undeclared.append((op.operation_id, response.status_code))
            return
        except Exception as error:
            raise AssertionError(
                f"{request.method} {request.url.path} -> {response.status_code} does not match "
                f"{op.spec} {op.operation_id}: {error}\n{response.text[:2000]}"
            ) from error
        self.validated.add(op.operation_id)
        self.statuses.add((op.operation_id, response.status_code))


def _load_specs() -> Conformance:
    if not sorted(SPECS.glob("*.yaml")):
        pytest.fail(f"no OpenAPI specs in {SPECS}: set CCLOUD_SPECS to the folder of Confluent's specs")
    apis: dict[str, OpenAPI] = {}
    operations: list[Operation] = []
    for path in sorted(SPECS.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            spec = yaml.load(handle, Loader=yaml.CSafeLoader)
        apis[path.name] = OpenAPI.from_dict(spec)
        for template, item in spec["paths"].items():
            bare = template.split("?")[0]
            regex = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(bare)))
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    operations.append(Operation(path.name, template, method, op["operationId"], regex))
    # literal paths before templated ones, so /ccpm/v1/presigned-upload-url never reads as a plugin id
    operations.sort(key=lambda op: op.template.count("{"))
    return Conformance(apis, operations)


@pytest.fixture(scope="session")
def conformance() -> Conformance:
    return _load_specs()


class Clock:
    """A clock the test moves: `Emulator(clock=clock)`, then `clock.advance(seconds)`."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Hold:
    """A sleep the test controls: `Emulator(sleep=hold)` keeps every request in its injected latency
    until `hold.release()`, so tests see requests in flight without racing the wall clock."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._released = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._released.wait()

    def release(self) -> None:
        self._released.set()

    async def holding(self, count: int) -> None:
        """Return once `count` requests have entered their latency (each turn lets the others run)."""
        for _ in range(10_000):
            if len(self.asked) >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"only {len(self.asked)} of {count} requests reached their latency")


@pytest.fixture
def emu() -> Emulator:
    return Emulator(timing=Timing())


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
def make_client(conformance: Conformance) -> ClientFactory:
    """`make_client(emu, auth=(key, secret), base_url=…)`: an in-process client whose every response
    is checked against the specs."""

    async def hook(response: httpx.Response) -> None:
        await response.aread()
        conformance.check(response)

    def make(
        emulator: Emulator,
        auth: tuple[str, str] | None = None,
        base_url: str = SPEC_SERVER,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport or httpx.ASGITransport(app=emulator.app),
            base_url=base_url,
            auth=auth or (emulator.api_key, emulator.api_secret),
            event_hooks={"response": [hook]},
        )

    return make


@pytest.fixture
async def client(emu: Emulator, make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(emu) as c:
        yield c


def archive(files: dict[str, bytes] | None = None) -> bytes:
    """A small valid zip (a connector plugin archive)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in (files or {"lib/connector.jar": b"\xca\xfe\xba\xbe", "manifest.json": b"{}"}).items():
            z.writestr(name, data)
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient, presigned: dict[str, Any], data: bytes, filename: str = "plugin.zip"
) -> httpx.Response:
    """Upload like the Confluent CLI does, per cloud (CONTRACT.md §5)."""
    url = presigned["upload_url"]
    content_type = "application/java-archive" if filename.endswith(".jar") else "application/zip"
    if presigned["cloud"] == "AWS":
        return await client.post(
            url, data=presigned["upload_form_data"], files={"file": (filename, data, content_type)}, auth=None
        )
    headers = {"Content-Type": content_type}
    if presigned["cloud"] == "AZURE":
        headers["x-ms-blob-type"] = "BlockBlob"
    return await client.put(url, content=data, headers=headers, auth=None)


def connectors_path(emu: Emulator, suffix: str = "") -> str:
    return f"/connect/v1/environments/{emu.environment_id}/clusters/{emu.kafka_cluster_id}/connectors{suffix}"


async def ready_ccpm_plugin(
    client: httpx.AsyncClient,
    emu: Emulator,
    *,
    classes: tuple[tuple[str, str], ...] = (("io.example.OrdersSource", "SOURCE"),),
    sensitive: tuple[str, ...] = ("db.secret.value",),
    version: str = "1.0.0",
    name: str = "orders-plugin",
) -> tuple[str, str]:
    """Create a CCPM plugin with one version from a valid upload; returns (plugin id, version id)."""
    env = {"id": emu.environment_id}
    plugin = await client.post(
        "/ccpm/v1/plugins", json={"spec": {"display_name": name, "cloud": "AWS", "environment": env}}
    )
    assert plugin.status_code == 202, plugin.text
    presigned = (
        await client.post(
            "/ccpm/v1/presigned-upload-url", json={"content_format": "ZIP", "cloud": "AWS", "environment": env}
        )
    ).json()
    assert (await upload(client, presigned, archive())).status_code == 204
    created = await client.post(
        f"/ccpm/v1/plugins/{plugin.json()['id']}/versions",
        json={
            "spec": {
                "version": version,
                "connector_classes": [{"class_name": c, "type": t} for c, t in classes],
                "sensitive_config_properties": list(sensitive),
                "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": presigned["upload_id"]},
                "environment": env,
            }
        },
    )
    assert created.status_code == 202, created.text
    return plugin.json()["id"], created.json()["id"]
