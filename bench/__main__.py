"""Run benchmarks: `python -m bench NAME [--count N]`, or `python -m bench all` for every one in turn."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import bench

# The order `all` runs them in: the cheap ones first, then those on the real control plane.
ORDER = ["client-throttle", "emulator-reads", "convergence", "throttling", "efficiency", "footprint", "restart"]


def _names() -> list[str]:
    here = Path(bench.__file__).parent
    found = {m.name.replace("_", "-") for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def _run(name: str, count: int | None) -> bench.Result:
    module = importlib.import_module(f"bench.{name.replace('-', '_')}")
    out = Path(__file__).parent / "out" / name
    out.mkdir(parents=True, exist_ok=True)
    takes_count = "count" in inspect.signature(module.run).parameters
    began = time.monotonic()
    result: bench.Result = module.run(out, count=count) if takes_count else module.run(out)
    width = max((len(k) for k, _ in result.table), default=0)
    print(f"== {name} ({time.monotonic() - began:.0f}s)")
    for key, value in result.table:
        print(f"{key:<{width}}  {value}")
    print(result.line(), flush=True)
    return result


def _terminated(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so every process a benchmark started is stopped on the way out.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    names = _names()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run one benchmark, or all of them.")
    parser.add_argument("name", choices=[*names, "all"], metavar="NAME", help=f"all, or one of: {', '.join(names)}")
    parser.add_argument("--count", type=int, help="resources for convergence/throttling (default 300, up to 2000)")
    args = parser.parse_args(argv)
    if args.count is not None and not 1 <= args.count <= 2000:
        parser.error("--count must be between 1 and 2000")
    signal.signal(signal.SIGTERM, _terminated)
    chosen = names if args.name == "all" else [args.name]
    results: list[bench.Result] = []
    began = time.monotonic()
    try:
        for name in chosen:
            try:
                results.append(_run(name, args.count))
            except Exception as exc:  # one broken benchmark must not hide the others
                print(f"== {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                results.append(bench.Result(name, {"error": type(exc).__name__}, "runs", False))
                print(results[-1].line(), flush=True)
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130
    if len(chosen) > 1:
        print(f"== all ({time.monotonic() - began:.0f}s)")
        for result in results:
            print(result.line())
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
