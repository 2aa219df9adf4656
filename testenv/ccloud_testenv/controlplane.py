"""A real local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager on 127.0.0.1.

`ControlPlane` finds (or builds) the Go-built binaries, makes envtest-style PKI, starts the three
processes on free loopback ports in a work folder, waits until the apiserver is ready and the
controller manager works, writes an admin kubeconfig, and stops every process it started. It knows
nothing of the operator, its CRDs or the emulator.

It is also an OIDC issuer for its ServiceAccount tokens: the discovery document and the JWKS are
served to anyone on loopback who trusts `ca_cert`, so an outside service can verify the tokens of
`service_account_token()`; `rotate_service_account_key()` changes the signing key underneath them.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import yaml

from ccloud_testenv.binaries import K8S_VERSION, ensure_binaries
from ccloud_testenv.pki import Pki, ServiceAccountKey, make_pki, make_service_account_key
from ccloud_testenv.processes import ManagedProcess

__all__ = ["CONTROLLERS", "ControlPlane", "ControlPlaneError"]

# Namespaces finish deleting, owner references are collected, namespaces get their default
# ServiceAccount and token Secrets work, aggregated ClusterRoles (admin, edit, view) get their rules.
CONTROLLERS = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "clusterrole-aggregation-controller",
)
_CONTEXT = "ccloud-testenv"
_DISCOVERY_PATH = "/.well-known/openid-configuration"
_JWKS_PATH = "/openid/v1/jwks"
# Binds the built-in ClusterRole that reads the two paths above to anyone without credentials.
_DISCOVERY_BINDING_NAME = "ccloud-testenv:service-account-issuer-discovery"
_DISCOVERY_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": _DISCOVERY_BINDING_NAME},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:service-account-issuer-discovery",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}],
}
_PORT_TAKEN = "address already in use"
_START_ATTEMPTS = 3
# Flags whose values may be secrets: masked when a command appears in an error message.
_SECRET_FLAGS = ("--from-literal=", "--token=", "--password=", "--docker-password=", "--set=", "--set-string=")


class ControlPlaneError(RuntimeError):
    """The control plane failed to start, or a command run against it failed."""


class _PortTaken(Exception):
    """Another process took a port between our pick and the bind: retry with fresh ports."""


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager, started on loopback; a context manager.

    `work_dir` holds the PKI, etcd's data, the logs and the kubeconfigs; without it a temporary
    folder is made and removed by `stop()` (kept when `keep_work_dir` is set or the start failed).
    """

    version = K8S_VERSION

    def __init__(
        self,
        *,
        work_dir: Path | None = None,
        bin_dir: Path | None = None,
        keep_work_dir: bool = False,
        build: bool = True,
        start_timeout: float = 90.0,
    ) -> None:
        self._requested_bin_dir = bin_dir
        self._requested_work_dir = work_dir
        self._keep = keep_work_dir or work_dir is not None
        self._build = build
        self._start_timeout = start_timeout
        self._bin_dir: Path | None = None
        self._work_dir: Path | None = None
        self._pki: Pki | None = None
        self._server: str | None = None
        self._api_port: int | None = None
        self._etcd_url: str | None = None
        self._admin_tls: ssl.SSLContext | None = None
        # The key that signs tokens now, and every key whose tokens the apiserver accepts (it first).
        self._signing_key: ServiceAccountKey | None = None
        self._trusted_keys: list[ServiceAccountKey] = []
        self._rotations = 0
        self._processes: list[ManagedProcess] = []
        self._started = False
        self._failed = False
        self.start_seconds: float | None = None

    # --- what callers use ---------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        """The folder with etcd, kube-apiserver, kube-controller-manager, kubectl and helm."""
        if self._bin_dir is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._bin_dir

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._work_dir

    @property
    def logs_dir(self) -> Path:
        return self.work_dir / "logs"

    @property
    def audit_log(self) -> Path:
        """kube-apiserver's audit log: one JSON event per list request (`requestURI`, `user`, `userAgent`)."""
        return self.logs_dir / "audit.log"

    def listed(self, resource_path: str) -> list[dict[str, Any]]:
        """The audit events of every list of `resource_path` (`/api/v1/secrets`: cluster-wide, or in
        any one namespace) so far, oldest first."""
        if not self.audit_log.exists():
            return []
        prefix, plural = resource_path.rstrip("/").rsplit("/", 1)
        wanted = re.compile(rf"^{re.escape(prefix)}(/namespaces/[^/]+)?/{re.escape(plural)}$")
        events = [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]
        return [e for e in events if e.get("verb") == "list" and wanted.match(e.get("requestURI", "").split("?")[0])]

    def _audit_policy(self) -> Path:
        policy = self.work_dir / "audit-policy.yaml"
        policy.write_text(_AUDIT_POLICY)
        return policy

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (client certificate in group system:masters)."""
        return self.work_dir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        """The apiserver's URL, like https://127.0.0.1:41234."""
        if self._server is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._server

    @property
    def ca_cert(self) -> Path:
        if self._pki is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._pki.ca_cert

    @property
    def issuer(self) -> str:
        """The ServiceAccount token issuer (`iss`), the apiserver's URL; it stays across restarts."""
        return self.server

    @property
    def jwks_uri(self) -> str:
        """Where the apiserver serves the public keys of its ServiceAccount tokens, without credentials."""
        return f"{self.issuer}{_JWKS_PATH}"

    @property
    def discovery_uri(self) -> str:
        """The OIDC discovery document, served without credentials."""
        return f"{self.issuer}{_DISCOVERY_PATH}"

    @property
    def service_account_key_ids(self) -> list[str]:
        """The `kid` of every key the apiserver accepts tokens from, the one signing new tokens first."""
        return [key.kid for key in self._trusted_keys]

    @property
    def processes(self) -> list[ManagedProcess]:
        return list(self._processes)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start everything and wait until it is ready; on any failure stop what was started."""
        if self._started:
            raise ControlPlaneError("the control plane is already started")
        began = time.monotonic()
        self._started = True
        try:
            self._bin_dir = ensure_binaries(self._requested_bin_dir, build=self._build)
            self._work_dir = self._make_work_dir()
            self._pki = make_pki(self.work_dir / "pki")
            self._signing_key = self._pki.service_account_key
            self._trusted_keys = [self._signing_key]
            for attempt in range(1, _START_ATTEMPTS + 1):
                try:
                    self._start_processes(self._pki, deadline=time.monotonic() + self._start_timeout)
                    break
                except _PortTaken:
                    self._stop_processes()
                    shutil.rmtree(self.work_dir / "etcd", ignore_errors=True)
                    if attempt == _START_ATTEMPTS:
                        raise ControlPlaneError(
                            f"ports kept being taken by other processes ({_START_ATTEMPTS} attempts)"
                        ) from None
        except BaseException:
            self._failed = True
            self.stop()
            raise
        atexit.register(self.stop)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop every process started here (SIGTERM, then SIGKILL); safe to call more than once."""
        atexit.unregister(self.stop)
        self._stop_processes()
        if self._work_dir is not None and not self._keep and not self._failed:
            shutil.rmtree(self._work_dir, ignore_errors=True)
        self._started = False

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane (admin unless `kubeconfig` says otherwise)."""
        argv = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            f"--cache-dir={self.work_dir / 'kubectl-cache'}",
            *args,
        ]
        return self._run(argv, _shown("kubectl", args), input=input, check=check, timeout=timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run helm against this control plane as admin, with its config and caches in the work dir."""
        home = self.work_dir / "helm"
        env = {
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        argv = [str(self.bin_dir / "helm"), f"--kubeconfig={self.kubeconfig}", *args]
        return self._run(argv, _shown("helm", args), check=check, timeout=timeout, env=env)

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, path: Path | None = None, *, expiration_seconds: int = 3600
    ) -> Path:
        """Mint a token for the ServiceAccount through TokenRequest and write a kubeconfig using it."""
        token = self.kubectl(
            "create", "token", name, f"--namespace={namespace}", f"--duration={expiration_seconds}s"
        ).stdout.strip()
        target = path or self.work_dir / "kubeconfigs" / f"{namespace}.{name}.kubeconfig"
        _write_kubeconfig(
            target,
            server=self.server,
            ca_cert=self.ca_cert,
            user=f"system:serviceaccount:{namespace}:{name}",
            credentials={"token": token},
            namespace=namespace,
        )
        return target

    def service_account_token(self, namespace: str, name: str, audience: str, expiration_seconds: int = 600) -> str:
        """A TokenRequest token of the ServiceAccount for `audience`; it is never printed or logged.

        Kubernetes wants `expiration_seconds` of at least 600. The apiserver itself accepts the token
        only when `audience` is `issuer` (its API audience).
        """
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/serviceaccounts/{quote(name, safe='')}/token"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": expiration_seconds},
        }
        status = self._api("POST", path, request).get("status")
        token = status.get("token") if isinstance(status, dict) else None
        if not isinstance(token, str) or not token:
            raise ControlPlaneError(f"the TokenRequest for {namespace}/{name} came back without a token")
        return token

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again with the current keys: same port, same issuer.

        etcd and the controller manager keep running; the controller manager reconnects by itself.
        Returns once the apiserver is ready and serves discovery without credentials again.
        """
        self._require_running()
        deadline = time.monotonic() + self._start_timeout
        self._respawn("kube-apiserver", "asked to restart")
        self._wait_restarted(deadline, self.processes)

    def rotate_service_account_key(self, keep_old: bool = True) -> str:
        """Sign ServiceAccount tokens with a new key from now on; return the new key's `kid`.

        kube-apiserver restarts (same port, same issuer) signing with the new key and accepting it,
        plus, with `keep_old`, every key it accepted before, so tokens already out keep working;
        without it they stop working. The controller manager restarts too, so the token Secrets it
        fills are signed with the new key; etcd keeps running. Returns once both work again.
        """
        self._require_running()
        deadline = time.monotonic() + self._start_timeout
        self._rotations += 1
        new_key = make_service_account_key(self.work_dir / "pki", f"sa-{self._rotations + 1}")
        self._signing_key = new_key
        self._trusted_keys = [new_key, *self._trusted_keys] if keep_old else [new_key]
        # The controller manager goes first, so that it never signs a token with the old key afterwards.
        self._process("kube-controller-manager").stop()
        self._respawn("kube-apiserver", "rotated the ServiceAccount signing key")
        without_controller_manager = [p for p in self._processes if p.name != "kube-controller-manager"]
        self._wait_restarted(deadline, without_controller_manager)
        self._respawn("kube-controller-manager", "rotated the ServiceAccount signing key")
        self._wait_token_controller(new_key, deadline)
        return new_key.kid

    def __repr__(self) -> str:
        state = self._server if self._processes else "stopped"
        return f"ControlPlane({self.version}, {state})"

    # --- starting and stopping ----------------------------------------------------------------

    def _make_work_dir(self) -> Path:
        if self._requested_work_dir is not None:
            self._requested_work_dir.mkdir(parents=True, exist_ok=True)
            return self._requested_work_dir.resolve()
        return Path(tempfile.mkdtemp(prefix="ccloud-testenv-"))

    def _start_processes(self, pki: Pki, *, deadline: float) -> None:
        etcd_port, peer_port, api_port = _free_ports(3)
        self._api_port = api_port
        self._server = f"https://127.0.0.1:{api_port}"
        _write_kubeconfig(
            self.kubeconfig,
            server=self._server,
            ca_cert=pki.ca_cert,
            user="admin",
            credentials={
                "client-certificate-data": _b64(pki.admin_cert),
                "client-key-data": _b64(pki.admin_key),
            },
        )
        self._admin_tls = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._admin_tls.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            "--name=node0",
            f"--data-dir={self.work_dir / 'etcd'}",
            f"--listen-client-urls={self._etcd_url}",
            f"--advertise-client-urls={self._etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node0={peer_url}",
            # Test data need not survive a power cut; fsync is most of etcd's latency.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        )
        self._wait(
            "etcd to answer /health",
            lambda: _http_ok("127.0.0.1", etcd_port, "/health", None),
            [etcd],
            deadline,
        )
        self._spawn("kube-apiserver")
        self._spawn("kube-controller-manager")
        self._wait_ready(deadline, self.processes)
        # Server-side apply: creates the binding, or leaves it be in a reused work folder.
        self._api(
            "PATCH",
            f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{_DISCOVERY_BINDING_NAME}"
            "?fieldManager=ccloud-testenv&force=true",
            _DISCOVERY_BINDING,
            content_type="application/apply-patch+yaml",
        )
        # The default ServiceAccount appears once the controller manager's informers have synced.
        self._wait(
            "kube-controller-manager to create the default ServiceAccount",
            lambda: _http_ok(
                "127.0.0.1", api_port, "/api/v1/namespaces/default/serviceaccounts/default", self._admin_tls
            ),
            self.processes,
            deadline,
        )
        self._wait_discovery(deadline, self.processes)

    def _argv(self, name: str) -> list[str]:
        """The command line of kube-apiserver or kube-controller-manager, with the current keys."""
        pki, signing_key = self._pki, self._signing_key
        if pki is None or signing_key is None:
            raise ControlPlaneError("the control plane has not been started")
        if name == "kube-apiserver":
            return [
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._api_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                # The default, said out loud: discovery for OIDC relying parties needs anonymous requests.
                "--anonymous-auth=true",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.issuer}",
                f"--service-account-jwks-uri={self.jwks_uri}",
                *(f"--service-account-key-file={key.pub}" for key in self._trusted_keys),
                f"--service-account-signing-key-file={signing_key.key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                # No loopback Endpoints for the `kubernetes` Service: nothing here could reach them.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                f"--cert-dir={self.work_dir / 'apiserver-certs'}",
                # Every list, with its query (limit, continue), in logs/audit.log: how clients list.
                f"--audit-policy-file={self._audit_policy()}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                # Open watches (the controller manager's, an operator's) are closed on SIGTERM instead
                # of holding the shutdown until the SIGKILL: restart_apiserver() takes a second, not ten.
                "--shutdown-watch-termination-grace-period=2s",
            ]
        if name == "kube-controller-manager":
            return [
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-account-private-key-file={signing_key.key}",
                "--use-service-account-credentials=false",
            ]
        raise ValueError(f"no command line for {name}")

    def _wait_ready(self, deadline: float, watched: list[ManagedProcess]) -> None:
        port = self._api_port
        self._wait(
            "kube-apiserver to answer /readyz",
            lambda: port is not None and _http_ok("127.0.0.1", port, "/readyz", self._admin_tls),
            watched,
            deadline,
        )

    def _wait_restarted(self, deadline: float, watched: list[ManagedProcess]) -> None:
        try:
            self._wait_ready(deadline, watched)
        except _PortTaken:
            # The port is part of the issuer: moving it would orphan every token already handed out.
            raise ControlPlaneError(
                f"{self.server} was taken by another process while kube-apiserver restarted"
            ) from None
        self._wait_discovery(deadline, watched)

    def _wait_discovery(self, deadline: float, watched: list[ManagedProcess]) -> None:
        """Wait until the discovery document and the JWKS are served to a client without credentials."""
        port = self._api_port
        anonymous = ssl.create_default_context(cafile=str(self.ca_cert))
        self._wait(
            "kube-apiserver to serve OIDC discovery without credentials",
            lambda: (
                port is not None
                and all(_http_ok("127.0.0.1", port, p, anonymous) for p in (_DISCOVERY_PATH, _JWKS_PATH))
            ),
            watched,
            deadline,
        )

    def _wait_token_controller(self, key: ServiceAccountKey, deadline: float) -> None:
        """Wait until the controller manager fills a ServiceAccount token Secret, signed with `key`."""
        path = "/api/v1/namespaces/kube-system/secrets"
        name = f"ccloud-testenv-token-probe-{self._rotations}"
        probe = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": "default"}},
        }
        self._api("POST", path, probe)

        def signed_with_key() -> bool:
            data = self._api("GET", f"{path}/{name}").get("data")
            token = data.get("token") if isinstance(data, dict) else None
            return isinstance(token, str) and _jwt_header(base64.b64decode(token).decode()).get("kid") == key.kid

        try:
            self._wait(
                "kube-controller-manager to sign a token Secret with the new key",
                signed_with_key,
                self.processes,
                deadline,
            )
        finally:
            # Not masking why the wait failed: a dead apiserver cannot delete anything either.
            with contextlib.suppress(ControlPlaneError):
                self._api("DELETE", f"{path}/{name}")

    def _spawn(self, name: str, *args: str) -> ManagedProcess:
        proc = self._launch(name, *args)
        self._processes.append(proc)
        return proc

    def _launch(self, name: str, *args: str) -> ManagedProcess:
        """Start `name` with `args`, or with the command line `_argv` knows for it."""
        argv = [str(self.bin_dir / name), *(args or self._argv(name))]
        return ManagedProcess(name, argv, self.logs_dir / f"{name}.log", cwd=self.work_dir)

    def _process(self, name: str) -> ManagedProcess:
        for proc in self._processes:
            if proc.name == name:
                return proc
        raise ControlPlaneError(f"{name} is not running")

    def _respawn(self, name: str, why: str) -> None:
        """Stop `name` and start it again with the current command line, in its place in the stop order."""
        index = self._processes.index(self._process(name))
        self._processes[index].stop()
        with (self.logs_dir / f"{name}.log").open("a") as log:
            log.write(f"==> ccloud-testenv: starting {name} again ({why})\n")
        # Until the new one runs, the stopped one holds the place; stopping it again is harmless.
        self._processes[index] = self._launch(name)

    def _require_running(self) -> None:
        if not self._started or not self._processes:
            raise ControlPlaneError("the control plane has not been started")

    def _wait(self, what: str, ready: Callable[[], bool], watched: list[ManagedProcess], deadline: float) -> None:
        while True:
            for proc in watched:
                if not proc.alive():
                    tail = proc.log_tail()
                    if _PORT_TAKEN in tail:
                        raise _PortTaken(proc.name)
                    raise ControlPlaneError(
                        f"{proc.name} exited with code {proc.returncode} while waiting for {what}; "
                        f"the end of {proc.log_path}:\n{tail}"
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.log_path}:\n{p.log_tail(20)}" for p in watched)
                raise ControlPlaneError(f"timed out after {self._start_timeout:.0f}s waiting for {what}\n{tails}")
            time.sleep(0.05)

    def _stop_processes(self) -> None:
        # Controller manager first, etcd last: each stops while what it talks to is still there.
        while self._processes:
            self._processes.pop().stop()

    def _api(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        *,
        content_type: str = "application/json",
    ) -> dict[str, object]:
        """One request to the apiserver as admin; the JSON answer, or ControlPlaneError with its message."""
        if self._api_port is None or self._admin_tls is None:
            raise ControlPlaneError("the control plane has not been started")
        conn = http.client.HTTPSConnection("127.0.0.1", self._api_port, timeout=30.0, context=self._admin_tls)
        try:
            conn.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={"Content-Type": content_type, "Accept": "application/json"},
            )
            response = conn.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ControlPlaneError(f"{method} {path.split('?')[0]} failed: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                conn.close()
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        document: dict[str, object] = answer if isinstance(answer, dict) else {}
        if not 200 <= status < 300:
            # The Status message only: a body may carry a token or a Secret.
            raise ControlPlaneError(
                f"{method} {path.split('?')[0]} answered {status}: {document.get('message', '(no message)')}"
            )
        return document

    def _run(
        self,
        argv: list[str],
        shown: str,
        *,
        check: bool,
        timeout: float,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, **env} if env else None,
            )
        except subprocess.TimeoutExpired:
            raise ControlPlaneError(f"`{shown}` did not finish within {timeout:.0f}s") from None
        if check and result.returncode != 0:
            # stderr only: stdout may carry a token or a Secret.
            raise ControlPlaneError(f"`{shown}` failed with exit code {result.returncode}: {result.stderr.strip()}")
        return result


def _shown(tool: str, args: tuple[str, ...]) -> str:
    """The command for an error message, with the values of secret-bearing flags masked."""
    shown = [tool]
    masked_next = False
    for arg in args:
        if masked_next:
            shown.append(arg.split("=", 1)[0] + "=***")
        elif arg.startswith(_SECRET_FLAGS):
            name, _, value = arg.partition("=")
            key = value.split("=", 1)[0] if name == "--from-literal" else ""
            shown.append(f"{name}={key + '=' if key else ''}***")
        else:
            shown.append(arg)
        masked_next = arg in ("--set", "--set-string", "--from-literal")
    return " ".join(shown)


# Lists only, at the metadata level, once each (when the response is complete): small, and enough to
# see how a client pages.
_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted, Panic]
rules:
  - level: Metadata
    verbs: [list]
  - level: None
"""


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _http_ok(host: str, port: int, path: str, context: ssl.SSLContext | None) -> bool:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=2.0)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=2.0, context=context)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def _jwt_header(token: str) -> dict[str, object]:
    """The JOSE header of a compact JWT, read without checking the signature."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert: Path,
    user: str,
    credentials: dict[str, str],
    namespace: str | None = None,
) -> None:
    context: dict[str, str] = {"cluster": _CONTEXT, "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _CONTEXT, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": _CONTEXT, "context": context}],
        "current-context": _CONTEXT,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created private: it holds a client key or a token.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out, sort_keys=False)
