"""Fixtures for the chart and generated-file tests: tools/generate.py as a module, and `helm template`.

Each render is one helm process (about 0.1 s), so tests render only the values they are about.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ccloud-operator"


def _load_generate() -> ModuleType:
    # tools/ is not a package: load the script by path, once.
    name = "ccloud_tools_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Rendered:
    """The documents one `helm template` made, with lookups by kind."""

    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        found = [
            doc
            for doc in self.of_kind(kind)
            if (name is None or doc["metadata"]["name"] == name)
            and (namespace is None or doc["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"expected one {kind} {namespace or ''}/{name or '*'}, found {len(found)}"
        return found[0]

    @property
    def container(self) -> dict[str, Any]:
        container: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
        return container

    @property
    def env(self) -> dict[str, str]:
        return {item["name"]: item["value"] for item in self.container["env"]}


Render = Callable[..., Rendered]
RenderError = Callable[..., str]


@pytest.fixture(scope="session")
def generate() -> ModuleType:
    return _load_generate()


def _run(generate: ModuleType, values: Mapping[str, Any] | None, sets: Iterable[str], namespace: str) -> Any:
    return generate.helm_template(CHART, values=values, set_values=sets, namespace=namespace, release="ccloud")


@pytest.fixture(scope="session")
def render(generate: ModuleType) -> Render:
    """Render the chart with these values (a mapping and/or --set items); fail on a helm error."""

    def _render(values: Mapping[str, Any] | None = None, *sets: str, namespace: str = "ops") -> Rendered:
        result = _run(generate, values, sets, namespace)
        assert result.returncode == 0, result.stderr
        return Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])

    return _render


@pytest.fixture(scope="session")
def render_error(generate: ModuleType) -> RenderError:
    """Render the chart expecting helm to refuse; the error it printed."""

    def _render_error(values: Mapping[str, Any] | None = None, *sets: str) -> str:
        result = _run(generate, values, sets, "ops")
        assert result.returncode != 0, "helm accepted values it should refuse"
        return str(result.stderr)

    return _render_error


@pytest.fixture(scope="session")
def default(render: Render) -> Rendered:
    return render()
