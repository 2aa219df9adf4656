"""The demo behind `./run demo`: bring up everything that exists, say what it does, then wait.

The demo is a list of named steps run in order, each timed and reported on one line; a step that has
nothing to do yet (no CRDs, no emulator) says so and the demo goes on. To grow the demo, append a
`Step` to `STEPS`. It knows the repository's folders (crds/, examples/) but no operator internals.

Once everything is up it watches its processes. If the control plane's etcd, kube-apiserver or
kube-controller-manager dies, the demo ends. If the operator dies (a crash, SIGKILL, an OOM kill),
the demo says so, starts a new one with the same settings and the same log, and says when it is healthy
again; one that dies `CRASH_LOOP_DEATHS` times within `CRASH_LOOP_SECONDS` ends the demo instead.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from ccloud_testenv.binaries import BUILD_SCRIPT, ensure_binaries, find_binaries
from ccloud_testenv.controlplane import ControlPlane, ControlPlaneError

__all__ = [
    "CRASH_LOOP_DEATHS",
    "CRASH_LOOP_SECONDS",
    "STEPS",
    "DemoContext",
    "Restartable",
    "Skipped",
    "Step",
    "Supervised",
    "describe_exit",
    "run_demo",
]

REPO = BUILD_SCRIPT.parents[2]
# A restarted process that dies this many times within this many seconds is not restarted again.
CRASH_LOOP_DEATHS = 5
CRASH_LOOP_SECONDS = 60.0
# How often the demo looks at its processes once everything is up.
POLL_SECONDS = 1.0


class Skipped(Exception):
    """A step has nothing to do yet; its message says why."""


class Restartable(Protocol):
    """A child process the demo restarts when it dies (OperatorProcess is one)."""

    @property
    def log_path(self) -> Path: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def port(self) -> int: ...

    def alive(self) -> bool: ...

    def restart(self, reason: str) -> object:
        """Start a new one with the same settings and wait until it is healthy; RuntimeError if it is not."""
        ...


@dataclass
class Supervised:
    """A child process the demo watches and restarts, with the times it died (for the crash-loop guard)."""

    name: str
    process: Restartable
    deaths: deque[float] = field(default_factory=deque)
    restarts: int = 0


@dataclass
class DemoContext:
    """What the steps share: their outputs, and a stack that undoes them in reverse order."""

    stack: contextlib.ExitStack
    work_dir: Path | None = None
    repo: Path = REPO
    control_plane: ControlPlane | None = None
    emulator_url: str | None = None
    archive_base: str | None = None  # where examples/archives/ is served, in place of artifacts.example.com
    credentials: tuple[str, str] | None = None
    processes: list[Supervised] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def cluster(self) -> ControlPlane:
        if self.control_plane is None:
            raise RuntimeError("this step needs the control plane step before it")
        return self.control_plane


@dataclass(frozen=True)
class Step:
    """One named step: `run` returns a one-line result, or raises Skipped with the reason."""

    title: str
    run: Callable[[DemoContext], str]


def binaries(ctx: DemoContext) -> str:
    found = find_binaries()
    if found is not None:
        return f"cached in {found}"
    began = time.monotonic()
    built = ensure_binaries()
    return f"built in {time.monotonic() - began:.0f}s into {built}"


def control_plane(ctx: DemoContext) -> str:
    cp = ctx.stack.enter_context(ControlPlane(work_dir=ctx.work_dir, build=False))
    ctx.control_plane = cp
    ctx.hints.append(f"export KUBECONFIG={cp.kubeconfig}")
    ctx.hints.append(f"export PATH={cp.bin_dir}:$PATH   # kubectl {cp.version} and helm")
    return f"{cp.server}, logs in {cp.logs_dir}"


def crds(ctx: DemoContext) -> str:
    folder = ctx.repo / "crds"
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    if not files:
        raise Skipped(f"no CRDs yet in {folder}")
    args = [f"--filename={p}" for p in files]
    # Server-side apply: big CRDs overflow the client-side last-applied annotation.
    ctx.cluster.kubectl("apply", "--server-side", *args)
    ctx.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *args)
    return f"{len(files)} applied and established: {', '.join(p.name for p in files)}"


# The IDs the manifests in examples/ name, seeded into the emulator so they apply as they are.
DEMO_ENVIRONMENT = "env-demo01"
DEMO_CLUSTER = "lkc-demo01"
# Emulated delays a user can watch: a new API key takes a moment to work, a connector to provision.
DEMO_TIMING = {"api_key_propagation": 2.0, "connector_provisioning": 3.0, "plugin_version_processing": 2.0}


def emulator(ctx: DemoContext) -> str:
    from ccloud_emulator import Emulator, Timing, serve_in_thread

    # It trusts the control plane's CA, to fetch its JWKS when a token is exchanged (workload identity).
    emu = Emulator(timing=Timing(**DEMO_TIMING), trusted_ca=ctx.cluster.ca_cert)
    emu.add_kafka_cluster(emu.add_environment("demo", id=DEMO_ENVIRONMENT), display_name="demo", id=DEMO_CLUSTER)
    url = ctx.stack.enter_context(serve_in_thread(emu))
    ctx.emulator_url = str(url)
    ctx.credentials = (emu.api_key, emu.api_secret)
    ctx.hints.append(f"curl -s {url}/_emulator/info   # the emulator's IDs and its Cloud API key (never the secret)")
    return f"Confluent Cloud emulator at {url} with {DEMO_ENVIRONMENT}/{DEMO_CLUSTER} (Cloud API key {emu.api_key})"


DEMO_OPERATOR_SA = "ccloud-operator/ccloud-operator"
OPERATOR_IDENTITY = """\
apiVersion: v1
kind: Namespace
metadata: {name: ccloud-operator}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ccloud-operator, namespace: ccloud-operator}
"""
# The ServiceAccount example moved onto workload identity: the pool's ID instead of the Secret.
TO_WORKLOAD_IDENTITY = (
    "kubectl patch serviceaccounts.ccloud.operators.dev orders -n team-a --type json -p "
    """'[{"op":"remove","path":"/spec/credentialsSecretRef"},{"op":"add","path":"/spec/credentials","""
    """"value":{"workloadIdentity":{"identityPoolId":"'"$(kubectl get ccpool ccloud-operator -n team-a """
    """-o jsonpath='{.status.id}')"'"}}}]'"""
)


def operator(ctx: DemoContext) -> str:
    from ccloud_testenv.operator_process import OperatorProcess

    if ctx.emulator_url is None:
        raise Skipped("no emulator to talk to")
    log = ctx.cluster.logs_dir / "operator.log"
    # Its own Kubernetes identity too, as in a pod: tokens of ServiceAccount ccloud-operator/ccloud-operator,
    # which examples/50-identity-provider.yaml's pool admits (workload identity, no API key).
    ctx.cluster.kubectl("apply", "-f", "-", input=OPERATOR_IDENTITY)
    settings = {"CCLOUD_API_URL": ctx.emulator_url, "CCLOUD_WORKLOAD_IDENTITY_SERVICE_ACCOUNT": DEMO_OPERATOR_SA}
    process = OperatorProcess(ctx.cluster.kubeconfig, log, settings)
    ctx.stack.enter_context(process)
    ctx.processes.append(Supervised("operator", process))
    health = f"127.0.0.1:{process.port}/healthz"
    return f"python -m ccloud_operator run (pid {process.pid}), healthy on {health}, log in {log}"


def archives(ctx: DemoContext) -> str:
    """Serve examples/archives/ on 127.0.0.1, as an artifact store would, for the ConnectorPlugin example."""
    folder = ctx.repo / "examples" / "archives"
    if not folder.is_dir():
        raise Skipped(f"no {folder}")
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="archives", daemon=True)
    thread.start()
    ctx.stack.callback(thread.join, 5)
    ctx.stack.callback(server.shutdown)
    ctx.archive_base = f"http://127.0.0.1:{server.server_address[1]}"
    names = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file()))
    return f"{ctx.archive_base}/ serves {names}"


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


def examples(ctx: DemoContext) -> str:
    folder = ctx.repo / "examples"
    files = sorted(folder.glob("*.yaml"))
    if not files or ctx.credentials is None:
        raise Skipped("no examples, or no emulator credentials to put in them")
    key, secret = ctx.credentials
    manifests = "\n---\n".join(p.read_text() for p in files)
    manifests = manifests.replace("REPLACE_WITH_CLOUD_API_KEY", key).replace("REPLACE_WITH_CLOUD_API_SECRET", secret)
    if ctx.archive_base is not None:
        manifests = manifests.replace("https://artifacts.example.com", ctx.archive_base)
    # The IdentityProvider example trusts "this cluster": here, the local control plane's issuer.
    manifests = manifests.replace("https://kubernetes.default.svc", ctx.cluster.issuer)
    ctx.cluster.kubectl("apply", "-f", "-", input=manifests)  # through stdin: the secret stays off the command line
    return f"applied {', '.join(p.name for p in files)}"


def ready(ctx: DemoContext) -> str:
    if ctx.credentials is None:
        raise Skipped("nothing was applied")
    kinds = ",".join(
        f"{plural}.ccloud.operators.dev"
        for plural in (
            "serviceaccounts",
            "rolebindings",
            "apikeys",
            "connectorplugins",
            "customconnectors",
            "identityproviders",
            "identitypools",
        )
    )
    ctx.cluster.kubectl("wait", "--for=condition=Ready", kinds, "--all", "-A", "--timeout=120s", timeout=130)
    table = ctx.cluster.kubectl("get", "ccloud", "-A").stdout.rstrip()
    ctx.hints += [
        "kubectl describe apikeys.ccloud.operators.dev orders-kafka -n team-a",
        "kubectl get secret orders-kafka -n team-a -o jsonpath='{.data.sasl\\.jaas\\.config}' | base64 -d",
        "kubectl delete secret orders-kafka -n team-a   # then watch the key be replaced",
        "kubectl get customconnector orders-source -n team-a -o jsonpath='{.status.connectorState}'",
        'kubectl patch customconnector orders-source -n team-a --type merge -p \'{"spec":{"state":"PAUSED"}}\'',
        f"{TO_WORKLOAD_IDENTITY}   # then: kubectl describe ccsa orders -n team-a",
        # The command only: the secret itself is never printed.
        "kubectl get secret ccloud-credentials -n team-a -o jsonpath='{.data.apiSecret}' | base64 -d"
        "   # the Cloud API secret (.data.apiKey: the key)",
    ]
    return "every example is Ready:\n" + "\n".join(f"      {line}" for line in table.splitlines())


STEPS: list[Step] = [
    Step("Find the control-plane binaries (built from Go modules)", binaries),
    Step("Start etcd, kube-apiserver and kube-controller-manager on 127.0.0.1", control_plane),
    Step("Apply the CRDs in crds/", crds),
    Step("Start the Confluent Cloud emulator", emulator),
    Step("Start the operator", operator),
    Step("Serve the example plugin archives in examples/archives/", archives),
    Step("Apply the manifests in examples/", examples),
    Step("Wait for every resource to be Ready", ready),
]


def run_demo(
    steps: list[Step] | None = None,
    *,
    work_dir: Path | None = None,
    exit_after_ready: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Run the steps, print what to type next, then wait for Ctrl-C (or return at once)."""
    plan = STEPS if steps is None else steps
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        ctx = DemoContext(stack=stack, work_dir=work_dir)
        for number, step in enumerate(plan, 1):
            print(f"==> [{number}/{len(plan)}] {step.title}", file=out, flush=True)
            step_began = time.monotonic()
            try:
                result = step.run(ctx)
            except Skipped as skipped:
                print(f"    skipped: {skipped}", file=out, flush=True)
                continue
            except (ControlPlaneError, RuntimeError, OSError) as exc:
                print(f"    failed after {time.monotonic() - step_began:.1f}s: {exc}", file=out, flush=True)
                return 1
            print(f"    done in {time.monotonic() - step_began:.1f}s: {result}", file=out, flush=True)
        print(f"==> Everything is up ({time.monotonic() - began:.1f}s). In another shell:", file=out)
        for hint in [*ctx.hints, "kubectl get ccloud -A"]:
            print(f"    {hint}", file=out)
        if exit_after_ready:
            print("==> Stopping (--exit-after-ready)", file=out, flush=True)
            return 0
        print("==> Running until Ctrl-C", file=out, flush=True)
        with _stopping_message(out):
            return _wait_while_alive(ctx, out)
    return 0  # pragma: no cover (the with block always returns)


def _wait_while_alive(ctx: DemoContext, out: TextIO) -> int:
    """Watch the processes: 1 when a control-plane process dies or a supervised one keeps dying."""
    while True:
        if ctx.control_plane is not None:
            for proc in ctx.control_plane.processes:
                if not proc.alive():
                    print(f"==> {proc.name} exited ({proc.returncode}); see {proc.log_path}", file=out, flush=True)
                    return 1
        for child in ctx.processes:
            if not child.process.alive() and not _revive(child, out):
                return 1
        time.sleep(POLL_SECONDS)


def _revive(child: Supervised, out: TextIO) -> bool:
    """Say that `child` died and restart it; False (and why) when it died too often to go on."""
    proc = child.process
    status = describe_exit(proc.returncode)
    now = time.monotonic()
    child.deaths.append(now)
    while now - child.deaths[0] > CRASH_LOOP_SECONDS:
        child.deaths.popleft()
    died = f"==> The {child.name} (pid {proc.pid}) {status}; see {proc.log_path}"
    if len(child.deaths) >= CRASH_LOOP_DEATHS:
        print(f"{died}.", file=out)
        print(
            f"==> The {child.name} died {len(child.deaths)} times within {CRASH_LOOP_SECONDS:.0f}s: "
            f"not restarting it again; stopping the demo (its log: {proc.log_path})",
            file=out,
            flush=True,
        )
        return False
    print(f"{died}. Restarting it with the same settings", file=out, flush=True)
    child.restarts += 1
    began = time.monotonic()
    try:
        proc.restart(f"the previous one (pid {proc.pid}) {status}")
    except RuntimeError as exc:
        # Counted as another death when the loop finds it dead; the log has the details.
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"==> The {child.name} did not come back: {first_line}", file=out, flush=True)
        return True
    print(
        f"==> The {child.name} is healthy again after {time.monotonic() - began:.1f}s "
        f"(pid {proc.pid}, restart {child.restarts}, 127.0.0.1:{proc.port}/healthz); "
        f"its log goes on in {proc.log_path}",
        file=out,
        flush=True,
    )
    return True


def describe_exit(returncode: int | None) -> str:
    """How a child ended, from its Popen return code: "exited with code 1", "was killed by SIGKILL"."""
    if returncode is None:
        return "is not running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


@contextlib.contextmanager
def _stopping_message(out: TextIO) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        print("\n==> Stopping", file=out, flush=True)
        raise
