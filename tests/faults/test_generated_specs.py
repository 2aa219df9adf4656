"""Hypothesis-made specs for every kind, against the real apiserver and the operator process.

Specs come two ways: drawn from the kind's CRD schema (`crd_manifest`: types, enums, patterns, lengths,
required fields), or a valid spec of the workload with one to three mutations (a field dropped, set to
another value its schema allows, set to a value of the wrong type, or an unknown field added). Each is
either refused at admission (400 or 422, as the schema and its CEL rules say) or, once admitted,
answered by the operator: Ready True, or Ready False with a reason and a message, for the object's
current generation. Through it all the operator keeps running, logs no traceback, gets no 5xx from
Confluent (that would be an emulator crash on what the operator sent), and after everything is deleted
Confluent holds nothing.

The examples are submitted as Hypothesis draws them and judged together afterwards (one wait for all,
instead of one per example), so a failure names the object and its spec rather than a shrunk example.
"""

from __future__ import annotations

import contextlib
import copy
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from ccloud_operator.resources import KINDS
from ccloud_operator.resources.crd import crd_manifest
from ccloud_testenv import workload

from .conftest import GROUP, VERSION, Rig, ready_condition

pytestmark = pytest.mark.e2e  # in every run: under a minute

EXAMPLES_PER_KIND = 30
SCHEMAS = {
    k.kind: crd_manifest(k)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] for k in KINDS
}
# Python's re has no Unicode classes; these stand-ins match a subset of what the apiserver's do.
UNICODE = {r"\p{L}": "a-zA-Zé", r"\p{N}": "0-9", r"\p{M}": "\u0301"}
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(0, 3), max_size=2),
)


def _pattern(pattern: str) -> re.Pattern[str]:
    for unicode_class, stand_in in UNICODE.items():
        pattern = pattern.replace(unicode_class, stand_in)
    return re.compile(pattern, re.ASCII)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the structural schema allows (its CEL rules aside)."""
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        if "pattern" in schema:
            return st.from_regex(_pattern(schema["pattern"]), fullmatch=True).filter(lambda s: low <= len(s) <= high)
        return st.text(min_size=low, max_size=min(high, 40))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        low = schema.get("minItems", 0)
        items = from_schema(schema["items"])
        unique = schema.get("x-kubernetes-list-type") in ("set", "map")
        return st.lists(
            items,
            min_size=low,
            max_size=max(low, min(schema.get("maxItems", 3), 3)),
            unique_by=(repr if unique else None),
        )  # type: ignore[arg-type]
    if kind == "object":
        properties = schema.get("properties") or {}
        if not properties and isinstance(schema.get("additionalProperties"), dict):
            keys = st.from_regex(r"\A[a-z][a-z0-9.]{0,20}\Z")
            return st.dictionaries(
                keys, from_schema(schema["additionalProperties"]), max_size=min(schema.get("maxProperties", 4), 4)
            )
        required = set(schema.get("required") or ())
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        )
    return JUNK


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*here, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*here, index))


def _schema_at(schema: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    for step in path:
        if isinstance(step, int):
            schema = schema.get("items") or {}
        else:
            schema = (schema.get("properties") or {}).get(step) or schema.get("additionalProperties") or {}
            if not isinstance(schema, dict):
                return {}
    return schema


@st.composite
def mutations(draw: st.DrawFn, base: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], Any]]:
    """One to three edits of `base`: (operation, path, value)."""
    spec = copy.deepcopy(base)
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(spec))))
        op = draw(st.sampled_from(["drop", "allowed", "wrong type", "unknown field"] if path else ["unknown field"]))
        if op == "allowed":
            value = draw(from_schema(_schema_at(schema, path)))
        elif op == "wrong type":
            value = draw(JUNK)
        elif op == "unknown field":
            value = draw(st.text(min_size=1, max_size=6))
        else:
            value = None
        edits.append((op, path, value))
        spec = apply([(op, path, value)], spec)
    return edits


def apply(edits: list[tuple[str, tuple[Any, ...], Any]], spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for op, path, value in edits:
        if op == "unknown field":
            target: Any = spec
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                target["zzUnknown"] = value
            continue
        *parents, last = path
        holder: Any = spec
        for step in parents:
            holder = holder[step]
        if op == "drop":
            del holder[last]
        else:
            holder[last] = value
    return spec


def unique(kind: str, spec: dict[str, Any], n: int) -> dict[str, Any]:
    """`spec` with its Confluent-side names made its own (example n), its references untouched."""
    spec = copy.deepcopy(spec)
    for key in ("displayName", "connectorName", "groupName", "filterName"):
        if isinstance(spec.get(key), str):
            spec[key] = f"{spec[key][:40]}-h{n}"
    if isinstance(spec.get("email"), str):
        spec["email"] = f"h{n}-{spec['email']}"
    for key in ("issuer", "jwksUri"):
        if isinstance(spec.get(key), str):
            spec[key] = f"{spec[key]}/h{n}"
    if kind == "RoleBinding" and isinstance(spec.get("scope"), dict) and isinstance(spec["scope"].get("topic"), str):
        spec["scope"]["topic"] = f"h{n}-{spec['scope']['topic']}"
    if kind == "ApiKey" and isinstance(spec.get("secret"), dict):
        spec["secret"]["name"] = f"h{n}-key"
    return spec


def test_generated_specs_are_refused_at_admission_or_answered_and_never_crash_the_operator(rig: Rig, seed: int) -> None:
    base = rig.objects(1, tag="base")
    workload.create_all(rig.kube.api, base)
    rig.wait_converged(base, timeout=60, why="(the valid specs the mutations start from)")
    bases = {obj["kind"]: obj["spec"] for obj in base}
    submitted: dict[tuple[str, str], dict[str, Any]] = {}
    refused: dict[str, int] = dict.fromkeys(workload.ALL_KINDS, 0)
    started = time.time()

    def submit_all(kind: str, schema: dict[str, Any], plural: str) -> None:
        drawn = st.one_of(
            st.tuples(st.just("schema"), from_schema(schema)),
            st.tuples(st.just("mutated"), mutations(bases[kind], schema)),
        )

        @hypothesis_seed(seed)
        @settings(
            max_examples=EXAMPLES_PER_KIND,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        )
        @given(example=drawn, with_credentials=st.booleans())
        def submit(example: tuple[str, Any], with_credentials: bool) -> None:
            how, drawn_value = example
            n = len(submitted) + sum(refused.values())
            spec = unique(kind, bases[kind], n) if how == "mutated" else drawn_value
            if how == "mutated":
                spec = apply(drawn_value, spec)
            if with_credentials and isinstance(spec, dict) and "credentials" not in spec:
                spec["credentialsSecretRef"] = {"name": "ccloud-credentials"}
            name = f"h-{plural[:-1]}-{n}"
            body = {"apiVersion": workload.API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
            status = 201
            try:
                rig.custom.create_namespaced_custom_object(GROUP, VERSION, rig.namespace, plural, body)
            except ApiException as exc:
                status = exc.status
            # Refused at admission is a 400 (not the schema's types) or a 422 (its rules): anything else is a crash.
            assert status in (201, 400, 422), f"{kind} {how} spec answered {status} at admission: {spec!r}"
            if status == 201:
                submitted[(kind, name)] = {"how": how, "spec": spec}
            else:
                refused[kind] += 1

        submit()

    for kind in workload.ALL_KINDS:
        schema = SCHEMAS[kind]
        plural = workload.PLURALS[kind]
        submit_all(kind, schema, plural)

    assert len(submitted) >= 2 * len(workload.ALL_KINDS), f"nearly everything was refused at admission: {refused}"
    deadline = time.monotonic() + 90
    unanswered: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        states = rig.states()
        unanswered = {}
        for key in submitted:
            obj = states.get(key)
            cond = ready_condition(obj) if obj else {}
            answered = cond.get("observedGeneration") == (obj or {}).get("metadata", {}).get("generation") and (
                cond.get("status") == "True"
                or (cond.get("status") == "False" and cond.get("reason") and cond.get("message"))
            )
            if not answered:
                unanswered[key] = f"{cond.get('status')} {cond.get('reason')}"
        if not unanswered:
            break
        time.sleep(1.0)
    assert not unanswered, f"{len(unanswered)} admitted objects got no answer: " + "; ".join(
        f"{k[0]} {k[1]} ({v}): {submitted[k]}" for k, v in list(unanswered.items())[:5]
    )
    rig.assert_operator_healthy(f"(seed {seed})")
    server_errors = [
        f"{r.method} {r.path} {r.status}" for r in rig.emulator.requests if r.time >= started and r.status >= 500
    ]
    assert not server_errors, f"Confluent answered 5xx to what the operator sent: {server_errors[:5]}"
    final = rig.states()
    reasons = Counter(str(ready_condition(final.get(key, {})).get("reason")) for key in submitted)

    # A generated deletionPolicy: Orphan rightly leaves what it made in Confluent: delete it all this time.
    for kind, name in submitted:
        with contextlib.suppress(ApiException):
            rig.custom.patch_namespaced_custom_object(
                GROUP, VERSION, rig.namespace, workload.PLURALS[kind], name, {"spec": {"deletionPolicy": "Delete"}}
            )
    everything = [{"kind": kind, "metadata": {"name": name}, "spec": {}} for kind, name in submitted] + base
    rig.delete_all(everything, timeout=60)
    rig.assert_emulator_holds_nothing(f"after deleting every generated object (seed {seed})")
    rig.assert_no_secret_leaked()
    print(f"seed {seed}: {len(submitted)} admitted, refused {refused}; answers {dict(reasons)}")
