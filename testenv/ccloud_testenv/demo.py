"""The demo behind `./run demo`: bring up everything that exists, say what it does, then wait.

The demo is a list of named steps run in order, each timed and reported on one line; a step that has
nothing to do yet (no CRDs, no emulator) says so and the demo goes on. To grow the demo, append a
`Step` to `STEPS`. It knows the repository's folders (crds/, examples/) but no operator internals.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ccloud_testenv.binaries import BUILD_SCRIPT, ensure_binaries, find_binaries
from ccloud_testenv.controlplane import ControlPlane, ControlPlaneError

__all__ = ["STEPS", "DemoContext", "Skipped", "Step", "run_demo"]

REPO = BUILD_SCRIPT.parents[2]


class Skipped(Exception):
    """A step has nothing to do yet; its message says why."""


@dataclass
class DemoContext:
    """What the steps share: their outputs, and a stack that undoes them in reverse order."""

    stack: contextlib.ExitStack
    work_dir: Path | None = None
    repo: Path = REPO
    control_plane: ControlPlane | None = None
    emulator_url: str | None = None
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


def emulator(ctx: DemoContext) -> str:
    try:
        module = importlib.import_module("ccloud_emulator")
    except ImportError as exc:
        raise Skipped(f"ccloud_emulator cannot be imported ({exc})") from None
    emulator_cls = getattr(module, "Emulator", None)
    serve_in_thread = getattr(module, "serve_in_thread", None)
    if emulator_cls is None or serve_in_thread is None:
        raise Skipped("ccloud_emulator does not provide Emulator and serve_in_thread yet")
    emu = emulator_cls()
    url = ctx.stack.enter_context(serve_in_thread(emu))
    ctx.emulator_url = str(url)
    return f"Confluent Cloud emulator at {url} (Cloud API key {emu.api_key})"


STEPS: list[Step] = [
    Step("Find the control-plane binaries (built from Go modules)", binaries),
    Step("Start etcd, kube-apiserver and kube-controller-manager on 127.0.0.1", control_plane),
    Step("Apply the CRDs in crds/", crds),
    Step("Start the Confluent Cloud emulator", emulator),
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
            except ControlPlaneError as exc:
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
    while True:
        if ctx.control_plane is not None:
            for proc in ctx.control_plane.processes:
                if not proc.alive():
                    print(f"==> {proc.name} exited ({proc.returncode}); see {proc.log_path}", file=out)
                    return 1
        time.sleep(1.0)


@contextlib.contextmanager
def _stopping_message(out: TextIO) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        print("\n==> Stopping", file=out, flush=True)
        raise
