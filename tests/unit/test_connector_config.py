"""The config a CustomConnector sends, and what counts as drift: pure functions, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ccloud_operator.reconcile.kinds.connector_config import Inputs, build_config, drift, plain_sensitive, trim
from ccloud_operator.reconcile.references import ObjectKey, owner_of, part_of
from ccloud_operator.resources.custom_connector import TYPED_KEYS, CustomConnectorSpec

BASE: dict[str, Any] = {
    "environment": "env-a1",
    "kafkaCluster": "lkc-b2",
    "plugin": {"name": "datagen", "version": "0.6.7"},
    "connectorClass": "io.example.Source",
    "kafkaAuth": {"apiKeySecret": {"name": "kafka"}},
    "config": {"topic": "t"},
}


def spec(**more: Any) -> CustomConnectorSpec:
    return CustomConnectorSpec.model_validate({**BASE, **more})


def test_typed_fields_come_first_and_secrets_last() -> None:
    inputs = Inputs(
        plugin_id="ccp-1", plugin_version="0.6.7", api_key="K", api_secret="S", sensitive={"db.password": "p"}
    )
    config = build_config(
        spec(schemaRegistryAuto=True, connectionEndpoints=["a.b:443:TCP", "c.d:9092:TCP"]), "n", inputs
    )
    assert config == {
        "name": "n",
        "connector.class": "io.example.Source",
        "tasks.max": "1",
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": "ccp-1",
        "confluent.custom.plugin.version": "0.6.7",
        "kafka.auth.mode": "KAFKA_API_KEY",
        "kafka.api.key": "K",
        "kafka.api.secret": "S",
        "confluent.custom.connection.endpoints": "a.b:443:TCP;c.d:9092:TCP",
        "confluent.custom.schema.registry.auto": "TRUE",
        "topic": "t",
        "db.password": "p",
    }
    assert "S" not in repr(inputs) and "'p'" not in repr(inputs)


def test_service_account_mode_sends_no_key() -> None:
    config = build_config(spec(), "n", Inputs(plugin_id="ccp-1", plugin_version=None, service_account_id="sa-1"))
    assert config["kafka.auth.mode"] == "SERVICE_ACCOUNT" and config["kafka.service.account.id"] == "sa-1"
    assert "kafka.api.key" not in config and "confluent.custom.plugin.version" not in config


@pytest.mark.parametrize("key", sorted(TYPED_KEYS))
def test_a_typed_key_in_config_is_refused_naming_both(key: str) -> None:
    with pytest.raises(ValidationError, match=f"config must not set {key}"):
        spec(config={key: "x"})


def test_a_key_in_config_and_sensitive_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="topic is in both config and sensitiveConfig"):
        spec(sensitiveConfig=[{"name": "topic", "secretKeyRef": {"name": "s", "key": "k"}}])


def test_drift_ignores_server_keys_masks_and_flag_case_but_not_real_changes() -> None:
    want = {"name": "n", "topic": "t", "kafka.api.secret": "S", "confluent.custom.schema.registry.auto": "FALSE"}
    have = {
        "name": "n",
        "topic": "t",
        "kafka.api.secret": "****************",
        "confluent.custom.schema.registry.auto": "false",
        "cloud.provider": "aws",
        "kafka.endpoint": "SASL_SSL://x:9092",
        "config.internal.anything": "1",
        "kafka.service.account.key": "****",
    }
    assert drift(want, have) == []
    assert drift(want, {**have, "topic": "u"}) == ["topic"]
    assert drift(want, {**have, "added": "by hand"}) == ["added"]
    assert drift({**want, "new": "x"}, have) == ["new"]


def test_sensitive_properties_in_plain_config_are_found() -> None:
    assert plain_sensitive(spec(config={"password": "x", "topic": "t"}), ["password", "token"]) == ["password"]
    assert plain_sensitive(spec(), ["password"]) == []


def test_trim_keeps_the_start_and_says_it_cut() -> None:
    assert trim(None) == ""
    assert trim("  short  ") == "short"
    cut = trim("x" * 2000, 100)
    assert len(cut) == 100 and cut.endswith("…")


def test_a_part_knows_its_owner() -> None:
    owner = ObjectKey("connectorplugins", "team-a", "datagen")
    part = part_of(owner, "0.6.7")
    assert part != owner and owner_of(part) == owner
    by_id = part_of(ObjectKey("connectorplugins", "", "ccp-1"), "v1.0.0")
    assert owner_of(by_id) == ObjectKey("connectorplugins", "", "ccp-1")
    assert owner_of(owner) is None
