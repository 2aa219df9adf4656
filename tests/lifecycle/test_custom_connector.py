"""CustomConnector end to end: the operator process, the plugin's archive on 127.0.0.1, the emulator.

Every test builds the chain a user applies: a ConnectorPlugin, a ServiceAccount, then the connector.
The operator resyncs only every 600 s here, so whatever happens within seconds came from a watch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from ccloud_emulator import Emulator
from ccloud_testenv.files import plugin_archive, serve_bytes
from ccloud_testenv.operator_process import OperatorProcess

from .conftest import CREDS, Kube, Tap

pytestmark = pytest.mark.e2e
CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"


ARCHIVE = plugin_archive()


@pytest.fixture(scope="module")
def archive_url() -> Iterator[str]:
    """The plugin's archive, served on 127.0.0.1 and stopped after the module."""
    with serve_bytes(ARCHIVE, "datagen.zip") as url:
        yield url


def _version(url: str, v: str = "0.6.7") -> dict[str, Any]:
    return {
        "version": v,
        "connectorClasses": [{"className": CLASS, "type": "SOURCE"}],
        "sensitiveConfigProperties": ["database.password"],
        "archive": {"url": url, "sha256": hashlib.sha256(ARCHIVE).hexdigest()},
    }


def chain(kube: Kube, emulator: Emulator, url: str, versions: tuple[str, ...] = ("0.6.7",)) -> None:
    plugin = {
        "environment": emulator.environment_id,
        "cloud": "AWS",
        "displayName": f"{kube.namespace}-datagen",  # display names are unique per environment
        "versions": [_version(url, v) for v in versions],
    }
    kube.apply("ConnectorPlugin", "datagen", {**plugin, **CREDS})
    kube.apply("ServiceAccount", "orders", {"displayName": f"{kube.namespace}-orders", **CREDS})


def connector(emulator: Emulator, **more: Any) -> dict[str, Any]:
    return {
        "environment": emulator.environment_id,
        "kafkaCluster": emulator.kafka_cluster_id,
        "plugin": {"name": "datagen", "version": "0.6.7"},
        "connectorClass": CLASS,
        "kafkaAuth": {"serviceAccount": {"name": "orders"}},
        "config": {"kafka.topic": "pageviews", "quickstart": "pageviews"},
        **CREDS,
        **more,
    }


def in_confluent(emulator: Emulator, name: str) -> list[dict[str, str]]:
    return [dict(c.config) for c in emulator.core.state.connectors.values() if c.name == name]


def test_applied_together_the_chain_runs_and_a_rotated_secret_arrives_in_seconds(
    kube: Kube,
    emulator: Emulator,
    archive_url: str,
) -> None:
    kube.put_secret("db", {"password": "first-db-password"})
    # All at once, connector first: it waits for its plugin version and service account, sending nothing.
    secret = [{"name": "database.password", "secretKeyRef": {"name": "db", "key": "password"}}]
    kube.apply("CustomConnector", f"{kube.namespace}-src", connector(emulator, sensitiveConfig=secret))
    chain(kube, emulator, archive_url)
    kube.wait_condition("CustomConnector", f"{kube.namespace}-src", reason="Running", timeout=40)
    status = kube.get("CustomConnector", f"{kube.namespace}-src")["status"]  # type: ignore[index]
    plugin_id = kube.get("ConnectorPlugin", "datagen")["status"]["id"]  # type: ignore[index]
    assert status["connectorState"] == "RUNNING"
    assert status["plugin"] == {"id": plugin_id, "version": "0.6.7"}
    assert [t["state"] for t in status["tasks"]] == ["RUNNING"]
    [config] = in_confluent(emulator, f"{kube.namespace}-src")
    assert config["database.password"] == "first-db-password"
    assert "first-db-password" not in str(status)

    import base64

    kube.core.patch_namespaced_secret(
        "db", kube.namespace, {"data": {"password": base64.b64encode(b"second-db-password").decode()}}
    )
    kube.wait_for(
        "the new value in Confluent",
        lambda: in_confluent(emulator, f"{kube.namespace}-src")[0]["database.password"] == "second-db-password",
        timeout=10,
    )
    assert "SecretsApplied" in [reason for reason, _ in kube.events(f"{kube.namespace}-src")]


def test_a_version_in_use_waits_for_its_connector_and_goes_once_it_moves(
    kube: Kube,
    emulator: Emulator,
    archive_url: str,
) -> None:
    chain(kube, emulator, archive_url, versions=("0.6.7", "0.7.0"))
    name = f"{kube.namespace}-user"
    kube.apply("CustomConnector", name, connector(emulator))
    kube.wait_condition("CustomConnector", name, reason="Running", timeout=40)
    kube.patch("ConnectorPlugin", "datagen", {"spec": {"versions": [_version(archive_url, "0.7.0")]}})

    def removal() -> dict[str, Any]:
        return kube.condition("ConnectorPlugin", "datagen", "VersionsRemoved")

    kube.wait_for("the plugin to say the version is in use", lambda: removal().get("reason") == "InUse")
    assert f"version 0.6.7 is used by CustomConnector {kube.namespace}/{name}" in removal()["message"]
    plugin_id = kube.get("ConnectorPlugin", "datagen")["status"]["id"]  # type: ignore[index]
    assert {v.version for v in emulator.core.state.ccpm_versions.values() if v.plugin_id == plugin_id} == {
        "0.6.7",
        "0.7.0",
    }
    # The connector moves to 0.7.0: that change alone wakes the plugin, which deletes 0.6.7.
    kube.patch("CustomConnector", name, {"spec": {"plugin": {"name": "datagen", "version": "0.7.0"}}})
    kube.wait_for("the version to be deleted", lambda: removal().get("reason") == "Removed", timeout=15)
    assert {v.version for v in emulator.core.state.ccpm_versions.values() if v.plugin_id == plugin_id} == {"0.7.0"}
    assert in_confluent(emulator, name)[0]["confluent.custom.plugin.version"] == "0.7.0"


def test_the_plugin_is_not_deleted_before_its_connector(
    kube: Kube,
    emulator: Emulator,
    archive_url: str,
) -> None:
    chain(kube, emulator, archive_url)
    name = f"{kube.namespace}-held"
    kube.apply("CustomConnector", name, connector(emulator))
    kube.wait_condition("CustomConnector", name, reason="Running", timeout=40)
    plugin_id = kube.get("ConnectorPlugin", "datagen")["status"]["id"]  # type: ignore[index]
    kube.delete("ConnectorPlugin", "datagen")
    kube.wait_condition("ConnectorPlugin", "datagen", status="False", reason="DependentsExist")
    assert (
        f"CustomConnector {name} still uses this ConnectorPlugin"
        in kube.condition("ConnectorPlugin", "datagen")["message"]
    )
    assert plugin_id in emulator.core.state.ccpm_plugins
    kube.delete("CustomConnector", name)
    kube.wait_gone("CustomConnector", name)
    kube.wait_gone("ConnectorPlugin", "datagen")
    assert in_confluent(emulator, name) == []
    assert plugin_id not in emulator.core.state.ccpm_plugins


def test_killed_between_create_and_status_write_adopts_and_never_duplicates(
    kube: Kube,
    emulator: Emulator,
    operator: OperatorProcess,
    tap: tuple[Tap, str],
    archive_url: str,
) -> None:
    chain(kube, emulator, archive_url)
    kube.wait_condition("ConnectorPlugin", "datagen", timeout=30)
    kube.wait_condition("ServiceAccount", "orders")
    name = f"{kube.namespace}-crash"
    tap[0].after("POST", "/connect/v1/environments/*/clusters/*/connectors", operator.kill)
    kube.apply("CustomConnector", name, connector(emulator, state="PAUSED"))
    kube.wait_for(
        "the connector to be made and the operator to die",
        lambda: in_confluent(emulator, name) and not operator.alive(),
    )
    assert (kube.get("CustomConnector", name) or {}).get("status", {}).get("id") is None
    operator.start()
    kube.wait_condition("CustomConnector", name, reason="Paused", timeout=30)
    assert len(in_confluent(emulator, name)) == 1
    status = kube.get("CustomConnector", name)["status"]  # type: ignore[index]
    assert status["connectorState"] == "PAUSED" and status["id"].startswith("clcc-")
    assert "pendingCreate" not in status


def test_a_replaced_api_key_reaches_the_connector_that_uses_its_secret(
    kube: Kube, emulator: Emulator, archive_url: str
) -> None:
    chain(kube, emulator, archive_url)
    key = {
        "serviceAccount": {"name": "orders"},
        "resource": {"kind": "KafkaCluster", "id": emulator.kafka_cluster_id, "environment": emulator.environment_id},
        **CREDS,
    }
    kube.apply("ApiKey", "orders-kafka", key)
    name = f"{kube.namespace}-keyed"
    kube.apply("CustomConnector", name, connector(emulator, kafkaAuth={"apiKeySecret": {"name": "orders-kafka"}}))
    kube.wait_condition("CustomConnector", name, reason="Running", timeout=40)
    first = kube.secret("orders-kafka")["key"]  # type: ignore[index]
    assert in_confluent(emulator, name)[0]["kafka.api.key"] == first
    # The Secret goes; its ApiKey makes a new key and writes it: the operator's own write, which the
    # connector reading that Secret must still hear of.
    kube.core.delete_namespaced_secret("orders-kafka", kube.namespace)

    def replaced() -> bool:
        now = kube.secret("orders-kafka")
        return (
            now is not None and now["key"] != first and in_confluent(emulator, name)[0]["kafka.api.key"] == now["key"]
        )

    kube.wait_for("the new key in the connector's config", replaced, timeout=15)
    kube.wait_condition("CustomConnector", name, reason="Running", timeout=10)
