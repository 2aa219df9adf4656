"""Every committed generated file is what tools/generate.py makes now, and the copies agree."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ccloud_operator.resources import KINDS, Kind
from ccloud_operator.resources.crd import crd_manifest

from .conftest import CHART, ROOT, Rendered


@pytest.fixture(scope="module")
def expected(generate: ModuleType) -> dict[Path, str]:
    files: dict[Path, str] = generate.generate(ROOT)
    return files


def test_committed_generated_files_match_the_generator(generate: ModuleType, expected: dict[Path, str]) -> None:
    problems = generate.differences(ROOT, expected)
    assert not problems, "\n".join(problems) + "\nrun `python tools/generate.py` and commit the result"


def test_generator_covers_crds_chart_templates_and_deploy(expected: dict[Path, str]) -> None:
    folders = {path.parts[0] if path.parts[0] != "helm" else str(path.parent) for path in expected}
    assert folders == {"crds", "deploy", "helm/ccloud-operator/templates/crds", "helm/ccloud-operator/templates"}
    assert len([p for p in expected if p.parts[0] == "crds"]) == len(KINDS)


def test_generated_files_are_tracked_by_git(expected: dict[Path, str]) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--", *map(str, expected)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(tracked) == sorted(map(str, expected))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: f"{k.plural}: chart CRD renders to the model's CRD")
def test_chart_crd_renders_exactly_the_models_crd(default: Rendered, kind: Kind) -> None:
    manifest = crd_manifest(kind)
    rendered = default.one("CustomResourceDefinition", manifest["metadata"]["name"])
    # The ApiKey's descriptions quote {{ .key }}: the escaping in the template must give them back intact.
    assert rendered["spec"] == manifest["spec"]
    assert manifest["metadata"]["labels"].items() <= rendered["metadata"]["labels"].items()


def test_deploy_is_the_namespace_then_the_default_chart(default: Rendered) -> None:
    docs = [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "ccloud-operator.yaml").read_text()) if doc]
    namespace = docs[0]
    assert (namespace["kind"], namespace["metadata"]["name"]) == ("Namespace", "ccloud-operator")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    kinds = sorted(doc["kind"] for doc in docs[1:])
    assert kinds == sorted(doc["kind"] for doc in default.docs)
    assert {doc["metadata"].get("namespace") for doc in docs[1:]} <= {"ccloud-operator", None}
    assert len([doc for doc in docs if doc["kind"] == "CustomResourceDefinition"]) == len(KINDS)


def test_kind_list_in_the_chart_comes_from_the_operator() -> None:
    kinds_tpl = (CHART / "templates" / "_kinds.tpl").read_text()
    for kind in KINDS:
        assert f'"{kind.plural}"' in kinds_tpl
