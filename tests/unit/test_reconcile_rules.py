"""The pure parts of reconciling: requests from specs, conditions from outcomes, errors to outcomes."""

from __future__ import annotations

import httpx
import pytest

from ccloud_operator.confluent import RetryPolicy, from_response
from ccloud_operator.confluent.iam import ApiKey, ServiceAccount
from ccloud_operator.reconcile.conditions import conditions_for, merge_conditions
from ccloud_operator.reconcile.kinds import api_key, service_account
from ccloud_operator.reconcile.outcome import Paused, Ready, Retry, Terminal, Waiting, classify
from ccloud_operator.resources import ApiKeySpec, ServiceAccountSpec
from ccloud_operator.resources.base import Condition, ConditionStatus


def sa(**fields: str) -> ServiceAccount:
    return ServiceAccount.model_validate({"id": "sa-abc123", "display_name": "orders", "description": "", **fields})


@pytest.mark.parametrize(
    ("spec", "remote", "expected"),
    [
        ({}, sa(), None),
        ({"displayName": "orders"}, sa(), None),
        ({"description": "team a"}, sa(), service_account.ServiceAccountRequest(description="team a")),
        ({"displayName": "billing"}, sa(), service_account.ServiceAccountRequest(display_name="billing")),
        ({}, sa(unknown_field="kept"), None),
    ],
    ids=[
        "name-defaults-to-metadata-name",
        "explicit-same-name",
        "description-changed",
        "display-name-changed",
        "unknown-remote-fields-are-no-drift",
    ],
)
def test_service_account_update_request(
    spec: dict[str, str], remote: ServiceAccount, expected: service_account.ServiceAccountRequest | None
) -> None:
    parsed = ServiceAccountSpec.model_validate(spec)
    assert service_account.update_request(parsed, "orders", remote) == expected


def test_service_account_create_request_defaults_display_name_to_resource_name() -> None:
    request = service_account.create_request(ServiceAccountSpec(), "orders")
    assert request == service_account.ServiceAccountRequest(display_name="orders", description="")


KAFKA = {
    "serviceAccount": {"name": "orders"},
    "resource": {"kind": "KafkaCluster", "id": "lkc-1", "environment": "env-1"},
}


def test_api_key_secret_renders_templates_and_always_has_key_and_secret() -> None:
    spec = ApiKeySpec.model_validate(
        {
            **KAFKA,
            "secret": {
                "template": {
                    "sasl.jaas.config": 'PlainLoginModule required username="{{ .key }}" password="{{.secret}}";',
                    "bootstrap.servers": "{{ .bootstrapServers }}",
                }
            },
        }
    )
    data = api_key.render_secret(spec, "KEY1", "s3cr3t", {"bootstrapServers": "pkc-1:9092"})
    assert data == {
        "key": "KEY1",
        "secret": "s3cr3t",
        "sasl.jaas.config": 'PlainLoginModule required username="KEY1" password="s3cr3t";',
        "bootstrap.servers": "pkc-1:9092",
    }


def test_api_key_template_with_unknown_placeholder_is_named() -> None:
    spec = ApiKeySpec.model_validate({**KAFKA, "secret": {"template": {"x": "{{ .password }}"}}})
    assert api_key.template_errors(spec) == ["spec.secret.template['x'] uses {{ .password }}"]


def test_api_key_update_request_only_for_name_or_description() -> None:
    spec = ApiKeySpec.model_validate({**KAFKA, "description": "new"})
    remote = ApiKey.model_validate({"id": "KEY1", "spec": {"display_name": "ns/orders-key", "description": "old"}})
    assert api_key.update_request(spec, "ns", "orders-key", remote) == api_key.KeyRequest(description="new")
    remote = ApiKey.model_validate({"id": "KEY1", "spec": {"display_name": "ns/orders-key", "description": "new"}})
    assert api_key.update_request(spec, "ns", "orders-key", remote) is None


def _response(
    status: int, headers: dict[str, str] | None = None, body: dict[str, object] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "https://api.confluent.cloud/iam/v2/service-accounts")
    return httpx.Response(status, headers=headers or {}, json=body or {"errors": [{"detail": "x"}]}, request=request)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_response(429, {"Retry-After": "7"}), Retry),
        (_response(503), Retry),
        (_response(400), Terminal),
        (_response(422), Terminal),
        (_response(402), Terminal),
        (_response(401), Terminal),
        (_response(409), Terminal),
    ],
    ids=[
        "rate-limited-retries",
        "unavailable-retries",
        "bad-request-is-terminal",
        "invalid-is-terminal",
        "quota-is-terminal",
        "bad-credentials-is-terminal",
        "conflict-is-terminal",
    ],
)
def test_classify(response: httpx.Response, expected: type) -> None:
    outcome = classify(from_response(response), attempt=1, policy=RetryPolicy(), cap=300)
    assert isinstance(outcome, expected)


def test_rate_limit_becomes_retry_no_sooner_than_retry_after() -> None:
    outcome = classify(from_response(_response(429, {"Retry-After": "7"})), attempt=1, policy=RetryPolicy(), cap=300)
    assert isinstance(outcome, Retry)
    assert outcome.after >= 7
    assert outcome.reason == "RateLimited"


def _by_type(conds: list[Condition]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status.value, c.reason) for c in conds}


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Ready(), {"Ready": ("True", "Ready"), "Synced": ("True", "Synced")}),
        (
            Waiting("WaitingForServiceAccount", "m", 1, synced=False),
            {"Ready": ("False", "WaitingForServiceAccount"), "Synced": ("False", "WaitingForServiceAccount")},
        ),
        (Terminal("Rejected", "m"), {"Ready": ("False", "Rejected"), "Synced": ("False", "Rejected")}),
        (
            Retry("ConfluentUnavailable", "m", 1),
            {"Ready": ("False", "ConfluentUnavailable"), "Synced": ("False", "ConfluentUnavailable")},
        ),
    ],
    ids=["ready", "waiting-on-dependency", "terminal", "retry-before-ever-ready"],
)
def test_conditions_for_outcome(
    outcome: Ready | Waiting | Terminal | Retry, expected: dict[str, tuple[str, str]]
) -> None:
    assert _by_type(conditions_for(outcome, [], generation=3)) == expected


@pytest.mark.parametrize("outcome", [Retry("ConfluentUnavailable", "503", 2), Paused("paused")], ids=["retry", "pause"])
def test_ready_resource_stays_ready_through_a_passing_failure_or_a_pause(outcome: Retry | Paused) -> None:
    before = conditions_for(Ready(), [], generation=1)
    after = _by_type(conditions_for(outcome, before, generation=2))
    assert after["Ready"] == ("True", "Ready")
    assert after["Synced"][0] == "False"


def test_transition_time_moves_only_when_status_changes() -> None:
    first = merge_conditions([], conditions_for(Ready(), [], 1), now="t1")
    same = merge_conditions(first, conditions_for(Ready(), first, 2), now="t2")
    flipped = merge_conditions(same, conditions_for(Terminal("Rejected", "m"), same, 3), now="t3")
    assert [c.last_transition_time for c in same] == ["t1", "t1"]
    assert [c.last_transition_time for c in flipped] == ["t3", "t3"]
    assert all(c.observed_generation == 3 for c in flipped)
    assert flipped[0].status == ConditionStatus.FALSE


def test_kind_specific_conditions_survive_a_reconcile_that_does_not_mention_them() -> None:
    propagated = Condition(
        type="Propagated", status=ConditionStatus.TRUE, reason="KeyUsable", last_transition_time="t0"
    )
    before = [*merge_conditions([], conditions_for(Ready(), [], 1), now="t0"), propagated]
    after = merge_conditions(before, conditions_for(Retry("ConfluentUnavailable", "503", 1), before, 2), now="t1")
    assert [(c.type, c.status.value) for c in after] == [("Ready", "True"), ("Synced", "False"), ("Propagated", "True")]
    assert after[2].last_transition_time == "t0"
