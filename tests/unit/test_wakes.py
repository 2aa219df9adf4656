"""Who a watch event wakes: a connector's change wakes the plugin whose version it stops using, and
nothing else (a plugin woken by every connector edit would read Confluent for nothing)."""

from __future__ import annotations

from typing import Any

import kubernetes

from ccloud_operator.kube import Kube
from ccloud_operator.reconcile.controller import Controller
from ccloud_operator.reconcile.kinds.connector_plugin import ConnectorPluginReconciler
from ccloud_operator.reconcile.kinds.custom_connector import CustomConnectorReconciler
from ccloud_operator.reconcile.references import ObjectKey
from ccloud_operator.reconcile.session import Context
from ccloud_operator.settings import Settings

PLUGIN = ObjectKey("connectorplugins", "team-a", "datagen")
CONNECTOR = ObjectKey("customconnectors", "team-a", "orders")


def connector(generation: int, version: str, topic: str) -> dict[str, Any]:
    spec = {
        "environment": "env-1",
        "kafkaCluster": "lkc-1",
        "plugin": {"name": PLUGIN.name, "version": version},
        "connectorClass": "io.confluent.Datagen",
        "kafkaAuth": {"apiKeySecret": {"name": "kafka"}},
        "config": {"kafka.topic": topic},
    }
    return {"metadata": {"namespace": "team-a", "name": CONNECTOR.name, "generation": generation}, "spec": spec}


def test_a_connector_wakes_its_plugin_only_when_it_lets_a_version_go() -> None:
    # A client that is never called: only the queue is looked at.
    ctx = Context(kube=Kube(kubernetes.client.ApiClient()), settings=Settings())  # type: ignore[arg-type]
    kinds = {r.kind.plural: r for r in (ConnectorPluginReconciler(), CustomConnectorReconciler())}
    controller = Controller(ctx, kinds)
    controller.object_event(CONNECTOR.plural, None, connector(1, "0.6.7", "orders"))
    controller.queue.forget(CONNECTOR)

    controller.object_event(CONNECTOR.plural, "MODIFIED", connector(2, "0.6.7", "payments"))
    assert controller.queue.due_in(CONNECTOR) is not None and controller.queue.due_in(PLUGIN) is None

    controller.object_event(CONNECTOR.plural, "MODIFIED", connector(3, "0.7.0", "payments"))
    assert controller.queue.due_in(PLUGIN) is not None  # 0.6.7 may be deleted now

    controller.queue.forget(PLUGIN)
    controller.object_event(CONNECTOR.plural, "DELETED", connector(3, "0.7.0", "payments"))
    assert controller.queue.due_in(PLUGIN) is not None  # and now 0.7.0
