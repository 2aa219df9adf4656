"""Confluent Cloud HTTP client. Knows nothing about Kubernetes or kopf.

One module per API group (`iam`, `rbac`, `ip_filtering`, `identity`, `users`, `org`, `cmk`, `ccpm`,
`custom_plugins`, `uploads`, `connectors`; `crn` builds the CRNs role bindings and IP filters name), over one transport (`transport`) that paces every request through the credential's
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
from ccloud_operator.confluent.crn import environment_crn, organization_crn, organization_of, scope_crn
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
from ccloud_operator.confluent.identity import IdentityPool, IdentityPools, IdentityProvider, IdentityProviders, JwksKey
from ccloud_operator.confluent.ip_filtering import MANAGEMENT, MULTIPLE, IpFilter, IpFilters, IpGroup, IpGroups
from ccloud_operator.confluent.org import Environment, Environments, Organization, Organizations
from ccloud_operator.confluent.rbac import RoleBinding, RoleBindings
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.confluent.transport import DEFAULT_BASE_URL, Credentials
from ccloud_operator.confluent.uploads import Cloud, ContentFormat, PresignedUrl, Uploads
from ccloud_operator.confluent.users import (
    AUTH_TYPE_LOCAL,
    AUTH_TYPE_SSO,
    Invitation,
    Invitations,
    InvitationStatus,
    User,
    Users,
)

__all__ = [
    "AUTH_TYPE_LOCAL",
    "AUTH_TYPE_SSO",
    "CLOUD_RESOURCE",
    "DEFAULT_BASE_URL",
    "MANAGEMENT",
    "MASK",
    "MULTIPLE",
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
    "IdentityPool",
    "IdentityPools",
    "IdentityProvider",
    "IdentityProviders",
    "Invitation",
    "InvitationStatus",
    "Invitations",
    "IpFilter",
    "IpFilters",
    "IpGroup",
    "IpGroups",
    "JwksKey",
    "NotFound",
    "Organization",
    "Organizations",
    "Plugin",
    "PluginVersion",
    "PluginVersions",
    "Plugins",
    "PresignedUrl",
    "QuotaExceeded",
    "RateGovernor",
    "RateLimited",
    "RetryPolicy",
    "RoleBinding",
    "RoleBindings",
    "ServerError",
    "ServiceAccount",
    "ServiceAccounts",
    "TaskStatus",
    "TransportError",
    "Unauthorized",
    "Uploads",
    "User",
    "Users",
    "ValidationFailed",
    "VersionPhase",
    "environment_crn",
    "from_response",
    "is_masked",
    "organization_crn",
    "organization_of",
    "scope_crn",
]
