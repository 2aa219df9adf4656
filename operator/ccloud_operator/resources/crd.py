"""CustomResourceDefinitions generated from the pydantic models: the one source of every CRD file.

`python -m ccloud_operator crds DIR` writes one YAML per kind; a test fails when the committed
files differ from what this module makes now.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ccloud_operator.resources.base import GROUP, VERSION
from ccloud_operator.resources.kinds import CATEGORY, Kind

__all__ = ["crd_manifest", "render", "structural_schema", "write_crds"]

# Keywords pydantic emits that a structural schema must not carry, or that we set in code instead.
_DROP = {"title", "default", "$defs", "additionalProperties"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema made structural: refs inlined, optionals plain, no defaults or titles."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    cleaned: dict[str, Any] = _clean(raw, raw.get("$defs", {}))
    return cleaned


def _clean(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_clean(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return _clean({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _clean(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _clean(value, defs)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _clean(extra, defs)
    if out.get("type") == "object" and "properties" in out and not out.get("required"):
        out.pop("required", None)
    return out


def crd_manifest(kind: Kind) -> dict[str, Any]:
    spec = structural_schema(kind.spec)
    status = structural_schema(kind.status)
    spec["description"] = f"The desired state of the {kind.kind}."
    status["description"] = f"The observed state of the {kind.kind}, written by the operator."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name, "labels": {"app.kubernetes.io/part-of": "ccloud-operator"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": c.name,
                            "type": c.type,
                            "jsonPath": c.json_path,
                            "description": c.description,
                            **({"priority": c.priority} if c.priority else {}),
                        }
                        for c in kind.columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "The API version."},
                                "kind": {"type": "string", "description": "The kind."},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def render(kind: Kind) -> str:
    header = "# Generated from ccloud_operator.resources by `python -m ccloud_operator crds`. Do not edit.\n"
    return header + yaml.safe_dump(crd_manifest(kind), sort_keys=False, width=100, allow_unicode=True)


def write_crds(kinds: Iterable[Kind], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        path = directory / f"{kind.crd_name}.yaml"
        path.write_text(render(kind))
        written.append(path)
    return written
