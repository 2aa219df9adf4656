"""End to end: the operator as a process, on the real kube-apiserver, against the emulator over a socket.

The emulator is served through a tap: an ASGI wrapper that can run a hook after Confluent has
answered a call and before the operator hears the answer (to kill the operator at exactly that point).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import kubernetes
import pytest
import uvicorn
from kubernetes.client.exceptions import ApiException

from ccloud_emulator import Emulator, Timing
from ccloud_testenv.controlplane import ControlPlane
from ccloud_testenv.operator_process import OperatorProcess

GROUP, VERSION = "ccloud.operators.dev", "v1alpha1"
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


@dataclass
class Tap:
    """Wraps the emulator's ASGI app; `after(method, glob, hook)` runs hook once the response is ready."""

    app: ASGIApp
    hooks: list[tuple[str, str, Callable[[], None]]] = field(default_factory=list)

    def after(self, method: str, path: str, hook: Callable[[], None]) -> None:
        self.hooks.append((method, path, hook))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hits = [h for h in self.hooks if h[0] == scope["method"] and fnmatch.fnmatch(scope["path"], h[1])]
        if not hits:
            await self.app(scope, receive, send)
            return
        held: list[Any] = []

        async def hold(message: Any) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        for hook in hits:
            self.hooks.remove(hook)
            await asyncio.to_thread(hook[2])
        for message in held:
            await send(message)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own
        pass


@pytest.fixture(scope="module")
def emulator() -> Emulator:
    return Emulator(timing=Timing(connector_provisioning=0.5, plugin_version_processing=0.5, api_key_propagation=1.0))


@pytest.fixture(scope="module")
def tap(emulator: Emulator) -> Iterator[tuple[Tap, str]]:
    tap = Tap(emulator.app)
    server = _Server(uvicorn.Config(tap, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield tap, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


OPERATOR_SETTINGS = {
    "CCLOUD_WAIT_SECONDS": "0.3",
    "CCLOUD_RETRY_CAP_SECONDS": "3",
    "CCLOUD_RESYNC_SECONDS": "600",
    "CCLOUD_LOG_LEVEL": "DEBUG",
    "CCLOUD_METRICS_PORT": "0",  # operators a test starts beside the fixture's must not fight over a port
}


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, crds: None, tap: tuple[Tap, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with socket.socket() as sock:  # a free port for /metrics, kept across restarts
        sock.bind(("127.0.0.1", 0))
        metrics = {"CCLOUD_METRICS_HOST": "127.0.0.1", "CCLOUD_METRICS_PORT": str(sock.getsockname()[1])}
    settings = {**OPERATOR_SETTINGS, **metrics, "CCLOUD_API_URL": tap[1]}
    process = OperatorProcess(control_plane.kubeconfig, log, settings)
    with process:
        yield process


@dataclass
class Kube:
    """What the tests ask of the apiserver, with the admin's credentials."""

    api: kubernetes.client.ApiClient
    namespace: str

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    def apply(self, kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace, "annotations": annotations or {}},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, _plural(kind), body)

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, _plural(kind), name, patch)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, _plural(kind), name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def delete(self, kind: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, _plural(kind), name)

    def condition(self, kind: str, name: str, type_: str = "Ready") -> dict[str, Any]:
        obj = self.get(kind, name) or {}
        for cond in (obj.get("status") or {}).get("conditions", []):
            if cond["type"] == type_:
                found: dict[str, Any] = cond
                return found
        return {}

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def wait_condition(
        self, kind: str, name: str, status: str = "True", reason: str | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            cond = self.condition(kind, name)
            ok = cond.get("status") == status and (reason is None or cond.get("reason") == reason)
            return cond if ok else None

        try:
            found: dict[str, Any] = self.wait_for(f"{kind} {name} Ready={status} {reason or ''}", check, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last status: {(self.get(kind, name) or {}).get('status')}") from None
        return found

    def wait_gone(self, kind: str, name: str, timeout: float = 20.0) -> None:
        self.wait_for(f"{kind} {name} to be deleted", lambda: self.get(kind, name) is None, timeout)

    def secret(self, name: str) -> dict[str, str] | None:
        import base64

        try:
            found = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}

    def put_secret(self, name: str, data: dict[str, str]) -> None:
        body = kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=self.namespace), string_data=data
        )
        self.core.create_namespaced_secret(self.namespace, body)

    def events(self, name: str) -> list[tuple[str, str]]:
        listing = self.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}")
        return [(e.reason, e.message) for e in listing.items]


def _plural(kind: str) -> str:
    plurals = {"ServiceAccount": "serviceaccounts", "ApiKey": "apikeys", "ConnectorPlugin": "connectorplugins"}
    more = {"CustomConnector": "customconnectors", "RoleBinding": "rolebindings", "IpGroup": "ipgroups"}
    identity = {"IdentityProvider": "identityproviders", "IdentityPool": "identitypools"}
    return {**plurals, **more, **identity, "IpFilter": "ipfilters", "Invitation": "invitations"}[kind]


@contextlib.contextmanager
def namespace_with_credentials(control_plane: ControlPlane, emulator: Emulator) -> Iterator[Kube]:
    """A fresh namespace with the emulator's Cloud API key in Secret `ccloud-credentials`.

    Its objects are deleted before the namespace, while an operator still runs to take finalizers off.
    """
    api = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(api)
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=namespace)))
    k = Kube(api, namespace)
    k.put_secret("ccloud-credentials", {"apiKey": emulator.api_key, "apiSecret": emulator.api_secret})
    try:
        yield k
    finally:
        dependents_first = ("customconnectors", "rolebindings", "ipfilters", "invitations", "apikeys", "identitypools")
        for plural in (*dependents_first, "connectorplugins", "ipgroups", "serviceaccounts", "identityproviders"):
            for obj in k.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]:
                with contextlib.suppress(ApiException):
                    k.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, obj["metadata"]["name"])
        with contextlib.suppress(ApiException):  # a test may have deleted it already
            core.delete_namespace(namespace)
        api.close()


@pytest.fixture
def kube(control_plane: ControlPlane, operator: OperatorProcess, emulator: Emulator) -> Iterator[Kube]:
    with namespace_with_credentials(control_plane, emulator) as k:
        yield k


CREDS = {"credentialsSecretRef": {"name": "ccloud-credentials"}}


@dataclass
class Confluent:
    """Confluent Cloud as a user sees it: plain REST calls to the emulator, as any other client makes."""

    http: httpx.Client

    def _all(self, path: str, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: dict[str, str] | None = {**params, "page_size": "100"}
        while url:
            page = self.http.get(url, params=query)
            page.raise_for_status()
            items += page.json()["data"]
            url, query = page.json().get("metadata", {}).get("next"), None
        return items

    def service_accounts(self, display_name: str) -> list[dict[str, Any]]:
        return [sa for sa in self._all("/iam/v2/service-accounts") if sa["display_name"] == display_name]

    def create_service_account(self, display_name: str, description: str = "") -> str:
        created = self.http.post(
            "/iam/v2/service-accounts", json={"display_name": display_name, "description": description}
        )
        created.raise_for_status()
        sa_id: str = created.json()["id"]
        return sa_id

    def update_service_account(self, sa_id: str, **fields: str) -> None:
        self.http.patch(f"/iam/v2/service-accounts/{sa_id}", json=fields).raise_for_status()

    def delete_service_account(self, sa_id: str) -> None:
        self.http.delete(f"/iam/v2/service-accounts/{sa_id}").raise_for_status()

    def api_keys(self, owner: str) -> list[dict[str, Any]]:
        return self._all("/iam/v2/api-keys", **{"spec.owner": owner})

    def create_api_key(self, owner: str, resource: str, environment: str | None = None) -> tuple[str, str]:
        spec: dict[str, Any] = {"owner": {"id": owner}, "resource": {"id": resource}}
        if environment:
            spec["resource"]["environment"] = environment
        created = self.http.post("/iam/v2/api-keys", json={"spec": spec})
        created.raise_for_status()
        return created.json()["id"], created.json()["spec"]["secret"]

    def delete_api_key(self, key_id: str) -> None:
        self.http.delete(f"/iam/v2/api-keys/{key_id}").raise_for_status()

    def identity_providers(self) -> dict[str, dict[str, Any]]:
        return {p["id"]: p for p in self._all("/iam/v2/identity-providers")}

    def identity_pools(self, provider_id: str) -> list[dict[str, Any]]:
        return self._all(f"/iam/v2/identity-providers/{provider_id}/identity-pools")


@pytest.fixture(scope="module")
def confluent(emulator: Emulator, tap: tuple[Tap, str]) -> Iterator[Confluent]:
    with httpx.Client(base_url=tap[1], auth=(emulator.api_key, emulator.api_secret), timeout=10) as http:
        yield Confluent(http)
