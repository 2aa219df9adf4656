"""The Kubernetes API users write: one pydantic model per kind, and the CRDs generated from them.

Pure data: no I/O, no HTTP, no Kubernetes client.
"""

from ccloud_operator.resources.access import INVITATION, IP_FILTER, IP_GROUP, ROLE_BINDING
from ccloud_operator.resources.api_key import API_KEY, ApiKeySpec, ApiKeyStatus
from ccloud_operator.resources.base import API_VERSION, GROUP, VERSION
from ccloud_operator.resources.connector_plugin import CONNECTOR_PLUGIN, ConnectorPluginSpec, ConnectorPluginStatus
from ccloud_operator.resources.custom_connector import (
    CUSTOM_CONNECTOR,
    CustomConnectorSpec,
    CustomConnectorStatus,
)
from ccloud_operator.resources.identity import IDENTITY_POOL, IDENTITY_PROVIDER
from ccloud_operator.resources.kinds import Kind
from ccloud_operator.resources.service_account import (
    SERVICE_ACCOUNT,
    ServiceAccountSpec,
    ServiceAccountStatus,
)

__all__ = [
    "API_KEY",
    "API_VERSION",
    "CONNECTOR_PLUGIN",
    "CUSTOM_CONNECTOR",
    "GROUP",
    "IDENTITY_POOL",
    "IDENTITY_PROVIDER",
    "INVITATION",
    "IP_FILTER",
    "IP_GROUP",
    "KINDS",
    "ROLE_BINDING",
    "SERVICE_ACCOUNT",
    "VERSION",
    "ApiKeySpec",
    "ApiKeyStatus",
    "ConnectorPluginSpec",
    "ConnectorPluginStatus",
    "CustomConnectorSpec",
    "CustomConnectorStatus",
    "Kind",
    "ServiceAccountSpec",
    "ServiceAccountStatus",
]

KINDS: tuple[Kind, ...] = (
    SERVICE_ACCOUNT,
    API_KEY,
    CONNECTOR_PLUGIN,
    CUSTOM_CONNECTOR,
    ROLE_BINDING,
    IP_GROUP,
    IP_FILTER,
    INVITATION,
    IDENTITY_PROVIDER,
    IDENTITY_POOL,
)
