"""Benchmarks: `python -m bench NAME` runs one, prints its table, then one RESULT line.

Each benchmark is a module `bench/<name with dashes as underscores>.py` with a `run(out: Path) -> Result`
function; it may write PNG charts into `out` (bench/out/<name>/). Figures are ratios measured in one run,
so a slow machine moves the measurement and the bound together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """What a benchmark measured: its metrics, the target they are held to, and the verdict."""

    name: str
    metrics: dict[str, float | int | str]
    target: str
    passed: bool
    table: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        figures = " ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items())
        return f"RESULT {self.name} {figures} target={self.target} {'PASS' if self.passed else 'MISS'}"


def _fmt(value: float | int | str) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
