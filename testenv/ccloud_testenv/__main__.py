"""`ccloud-testenv` (also `python -m ccloud_testenv`): the control plane from a terminal.

  up [--dir DIR]                 start it, print the `export KUBECONFIG=…` line, run until Ctrl-C
  demo [--dir DIR] [--exit-after-ready]
                                 the README's demo (see ccloud_testenv.demo); restarts a dead operator
  build                          build the binaries from Go modules (tools/controlplane/build.sh)

It only parses arguments and turns errors into one-line messages; the work is in the other modules.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from ccloud_testenv.binaries import BinariesMissing, run_build
from ccloud_testenv.controlplane import ControlPlane, ControlPlaneError
from ccloud_testenv.demo import run_demo

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccloud-testenv", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the control plane and run until Ctrl-C")
    up.add_argument("--dir", type=Path, help="work folder (kept afterwards); default: a temporary one")
    demo = commands.add_parser("demo", help="start everything that exists, say what to type next")
    demo.add_argument("--dir", type=Path, help="work folder of the control plane (kept afterwards)")
    demo.add_argument("--exit-after-ready", action="store_true", help="stop once everything is up")
    commands.add_parser("build", help="build the control-plane binaries from Go modules")
    args = parser.parse_args(argv)

    # SIGTERM and a closed terminal take the same orderly way out as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        if args.command == "build":
            run_build()
            return 0
        if args.command == "demo":
            return run_demo(work_dir=args.dir, exit_after_ready=args.exit_after_ready)
        return _up(args.dir)
    except (ControlPlaneError, BinariesMissing) as exc:
        print(f"ccloud-testenv: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ccloud-testenv: stopped", file=sys.stderr)
        return 130


def _up(work_dir: Path | None) -> int:
    print("==> Starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1", flush=True)
    with ControlPlane(work_dir=work_dir) as cp:
        print(f"==> Ready in {cp.start_seconds or 0:.1f}s: {cp.server} (Kubernetes {cp.version})")
        print(f"    logs in {cp.logs_dir}")
        print("==> In another shell:")
        print(f"    export KUBECONFIG={cp.kubeconfig}")
        print(f"    export PATH={cp.bin_dir}:$PATH")
        print("    kubectl get namespaces")
        print("==> Running until Ctrl-C", flush=True)
        while all(p.alive() for p in cp.processes):
            time.sleep(1.0)
        dead = [p for p in cp.processes if not p.alive()]
        for proc in dead:
            print(f"==> {proc.name} exited ({proc.returncode}); see {proc.log_path}", file=sys.stderr)
        return 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
