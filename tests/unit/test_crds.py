"""The CRDs users meet: structural, documented field by field, with the CEL rules and columns we promise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ccloud_operator.resources import KINDS, Kind
from ccloud_operator.resources.crd import crd_manifest


def _fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}.{name}", prop
        yield from _fields(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _fields(schema["items"], f"{path}[]")


def _schema(kind: Kind) -> dict[str, Any]:
    schema: dict[str, Any] = crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_field_has_a_description_so_kubectl_explain_documents_it(kind: Kind) -> None:
    # The apiserver documents metadata itself and refuses a description there.
    undocumented = [
        path for path, prop in _fields(_schema(kind)) if not prop.get("description") and path != ".metadata"
    ]
    assert undocumented == []


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_no_refs_unions_or_defaults(kind: Kind) -> None:
    text = repr(_schema(kind))
    for forbidden in ("$ref", "anyOf", "'default'", "'title'"):
        assert forbidden not in text, forbidden


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_names_category_columns_and_status_subresource(kind: Kind) -> None:
    crd = crd_manifest(kind)
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["ccloud"]
    assert crd["spec"]["names"]["shortNames"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:3] == ["Ready", "Status", "ID"]
    assert "Age" in columns


def test_api_key_owner_and_resource_are_immutable_and_resource_shape_checked_by_cel() -> None:
    spec = _schema(KINDS[1])["properties"]["spec"]["properties"]
    owner_rules = [r["rule"] for r in spec["serviceAccount"]["x-kubernetes-validations"]]
    resource_rules = [r["rule"] for r in spec["resource"]["x-kubernetes-validations"]]
    assert "self == oldSelf" in owner_rules
    assert "self == oldSelf" in resource_rules
    assert any("has(self.id)" in rule for rule in resource_rules)


def test_conditions_are_a_map_keyed_by_type() -> None:
    conditions = _schema(KINDS[0])["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_takes_workload_identity_and_refuses_two_credentials(kind: Kind) -> None:
    spec = _schema(kind)["properties"]["spec"]
    identity = spec["properties"]["credentials"]["properties"]["workloadIdentity"]
    assert identity["properties"]["identityPoolId"]["pattern"] == "^pool-[A-Za-z0-9]+$"
    assert spec["properties"]["credentials"]["required"] == ["workloadIdentity"]
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert rules.count("!(has(self.credentialsSecretRef) && has(self.credentials))") == 1


def test_the_credentials_rule_joins_a_kinds_own_rules_without_changing_them() -> None:
    plugin = next(k for k in KINDS if k.kind == "ConnectorPlugin")
    own = plugin.spec.model_config["json_schema_extra"]["x-kubernetes-validations"]  # type: ignore[index]
    rules = _schema(plugin)["properties"]["spec"]["x-kubernetes-validations"]
    assert rules[: len(own)] == own and len(rules) == len(own) + 1
    assert all("credentials)" not in r["rule"] for r in own)  # the shared list was not appended to
