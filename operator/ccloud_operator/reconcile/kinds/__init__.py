"""One reconciler per kind, each in its own file: what the kind's spec points at, and how it is
observed, created, updated and deleted in Confluent Cloud. Adding a kind adds a file here and a line
in `RECONCILERS`; no other kind's file changes.
"""

from __future__ import annotations

from typing import Any

from ccloud_operator.reconcile.engine import KindReconciler
from ccloud_operator.reconcile.kinds.api_key import ApiKeyReconciler
from ccloud_operator.reconcile.kinds.connector_plugin import ConnectorPluginReconciler
from ccloud_operator.reconcile.kinds.custom_connector import CustomConnectorReconciler
from ccloud_operator.reconcile.kinds.identity_pool import IdentityPoolReconciler
from ccloud_operator.reconcile.kinds.identity_provider import IdentityProviderReconciler
from ccloud_operator.reconcile.kinds.invitation import InvitationReconciler
from ccloud_operator.reconcile.kinds.ip_filter import IpFilterReconciler
from ccloud_operator.reconcile.kinds.ip_group import IpGroupReconciler
from ccloud_operator.reconcile.kinds.role_binding import RoleBindingReconciler
from ccloud_operator.reconcile.kinds.service_account import ServiceAccountReconciler

__all__ = ["RECONCILERS"]

RECONCILERS: dict[str, KindReconciler[Any, Any]] = {
    r.kind.plural: r
    for r in (
        ServiceAccountReconciler(),
        ApiKeyReconciler(),
        ConnectorPluginReconciler(),
        CustomConnectorReconciler(),
        RoleBindingReconciler(),
        IpGroupReconciler(),
        IpFilterReconciler(),
        InvitationReconciler(),
        IdentityProviderReconciler(),
        IdentityPoolReconciler(),
    )
}
