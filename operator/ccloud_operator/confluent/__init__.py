"""Confluent Cloud HTTP client. Knows nothing about Kubernetes or kopf.

One module per API group (`iam`, `org`, `cmk`, `ccpm`, `custom_plugins`, `uploads`,
`connectors`), over one transport (`transport`) that paces every request through the credential's
`RateGovernor` (`governor`), retries by a pure `RetryPolicy` (`retry`) and raises the `errors` tree.
"""

from ccloud_operator.confluent.ccpm import (
    ConnectorClass,
    Plugin,
    Plugins,
    PluginVersion,
    PluginVersions,
    VersionPhase,
)
from ccloud_operator.confluent.client import ConfluentClient
from ccloud_operator.confluent.cmk import Cluster, Clusters
from ccloud_operator.confluent.connectors import (
    MASK,
    Connector,
    ConnectorExpansion,
    Connectors,
    ConnectorState,
    ConnectorStatus,
    TaskStatus,
    is_masked,
)
from ccloud_operator.confluent.custom_plugins import CustomConnectorPlugin, CustomConnectorRuntime, CustomPlugins
from ccloud_operator.confluent.errors import (
    ApiError,
    Conflict,
    ConfluentError,
    ConnectFailed,
    Forbidden,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
    from_response,
)
from ccloud_operator.confluent.governor import GovernorState, RateGovernor
from ccloud_operator.confluent.iam import CLOUD_RESOURCE, ApiKey, ApiKeys, ServiceAccount, ServiceAccounts
from ccloud_operator.confluent.org import Environment, Environments
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.confluent.transport import DEFAULT_BASE_URL, Credentials
from ccloud_operator.confluent.uploads import Cloud, ContentFormat, PresignedUrl, Uploads

__all__ = [
    "CLOUD_RESOURCE",
    "DEFAULT_BASE_URL",
    "MASK",
    "ApiError",
    "ApiKey",
    "ApiKeys",
    "Cloud",
    "Cluster",
    "Clusters",
    "Conflict",
    "ConfluentClient",
    "ConfluentError",
    "ConnectFailed",
    "Connector",
    "ConnectorClass",
    "ConnectorExpansion",
    "ConnectorState",
    "ConnectorStatus",
    "Connectors",
    "ContentFormat",
    "Credentials",
    "CustomConnectorPlugin",
    "CustomConnectorRuntime",
    "CustomPlugins",
    "Environment",
    "Environments",
    "Forbidden",
    "GovernorState",
    "NotFound",
    "Plugin",
    "PluginVersion",
    "PluginVersions",
    "Plugins",
    "PresignedUrl",
    "QuotaExceeded",
    "RateGovernor",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "ServiceAccount",
    "ServiceAccounts",
    "TaskStatus",
    "TransportError",
    "Unauthorized",
    "Uploads",
    "ValidationFailed",
    "VersionPhase",
    "from_response",
    "is_masked",
]
