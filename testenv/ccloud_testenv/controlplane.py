"""A real local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager on 127.0.0.1.

`ControlPlane` finds (or builds) the Go-built binaries, makes envtest-style PKI, starts the three
processes on free loopback ports in a work folder, waits until the apiserver is ready and the
controller manager works, writes an admin kubeconfig, and stops every process it started. It knows
nothing of the operator, its CRDs or the emulator.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml

from ccloud_testenv.binaries import K8S_VERSION, ensure_binaries
from ccloud_testenv.pki import Pki, make_pki
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
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            "--name=node0",
            f"--data-dir={self.work_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
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
        apiserver = self._spawn(
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self._server}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            # No loopback Endpoints for the `kubernetes` Service: nothing here could reach them.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            f"--cert-dir={self.work_dir / 'apiserver-certs'}",
        )
        ssl_context = ssl.create_default_context(cafile=str(pki.ca_cert))
        ssl_context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        controller_manager = self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--root-ca-file={pki.ca_cert}",
            f"--service-account-private-key-file={pki.sa_key}",
            "--use-service-account-credentials=false",
        )
        running = [etcd, apiserver, controller_manager]
        self._wait(
            "kube-apiserver to answer /readyz",
            lambda: _http_ok("127.0.0.1", api_port, "/readyz", ssl_context),
            running,
            deadline,
        )
        # The default ServiceAccount appears once the controller manager's informers have synced.
        self._wait(
            "kube-controller-manager to create the default ServiceAccount",
            lambda: _http_ok("127.0.0.1", api_port, "/api/v1/namespaces/default/serviceaccounts/default", ssl_context),
            running,
            deadline,
        )

    def _spawn(self, name: str, *args: str) -> ManagedProcess:
        proc = ManagedProcess(name, [str(self.bin_dir / name), *args], self.logs_dir / f"{name}.log", cwd=self.work_dir)
        self._processes.append(proc)
        return proc

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
