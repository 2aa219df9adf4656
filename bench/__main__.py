"""Run one benchmark by name: `python -m bench client-throttle`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import bench


def _names() -> list[str]:
    here = Path(bench.__file__).parent
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in _names():
        print(f"usage: python -m bench NAME   (one of: {', '.join(_names()) or 'none yet'})", file=sys.stderr)
        return 2
    name = argv[0]
    module = importlib.import_module(f"bench.{name.replace('-', '_')}")
    out = Path(__file__).parent / "out" / name
    out.mkdir(parents=True, exist_ok=True)
    result: bench.Result = module.run(out)
    width = max((len(k) for k, _ in result.table), default=0)
    for key, value in result.table:
        print(f"{key:<{width}}  {value}")
    print(result.line())
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
