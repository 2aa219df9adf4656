"""`ConfluentClient`: one credential, one connection pool, one attribute per API group."""

from __future__ import annotations

from types import TracebackType

import httpx

from ccloud_operator.confluent.ccpm import Plugins, PluginVersions
from ccloud_operator.confluent.cmk import Clusters
from ccloud_operator.confluent.connectors import Connectors
from ccloud_operator.confluent.custom_plugins import CustomPlugins
from ccloud_operator.confluent.governor import RateGovernor
from ccloud_operator.confluent.iam import ApiKeys, ServiceAccounts
from ccloud_operator.confluent.identity import IdentityPools, IdentityProviders
from ccloud_operator.confluent.ip_filtering import IpFilters, IpGroups
from ccloud_operator.confluent.org import Environments, Organizations
from ccloud_operator.confluent.rbac import RoleBindings
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.confluent.transport import DEFAULT_BASE_URL, ApiObserver, ApiTransport, Credential
from ccloud_operator.confluent.uploads import Uploads
from ccloud_operator.confluent.users import Invitations, Users

__all__ = ["ConfluentClient"]


class ConfluentClient:
    """An async Confluent Cloud client for one credential: a Cloud API key, or an identity pool's tokens.

    `transport` is the seam for tests (`httpx.ASGITransport(app=emulator.app)`); `governor=None`
    takes the process-wide governor of `credentials.key`, shared with every other client of that
    key; `page_size` is what standard lists ask for per page; `observer` hears of every request
    (for metrics).
    """

    def __init__(
        self,
        credentials: Credential,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        governor: RateGovernor | None = None,
        timeout: float = 30.0,
        page_size: int = 100,
        observer: ApiObserver | None = None,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.governor = governor or RateGovernor.for_key(credentials.key)
        self._api = ApiTransport(
            credentials,
            base_url=base_url,
            transport=transport,
            retry=self.retry,
            governor=self.governor,
            timeout=timeout,
            page_size=page_size,
            observer=observer,
        )
        self.service_accounts = ServiceAccounts(self._api)
        self.environments = Environments(self._api)
        self.clusters = Clusters(self._api)
        self.api_keys = ApiKeys(self._api, self.clusters)
        self.plugins = Plugins(self._api)
        self.plugin_versions = PluginVersions(self._api)
        self.custom_plugins = CustomPlugins(self._api)
        self.uploads = Uploads(self._api)
        self.connectors = Connectors(self._api)
        self.organizations = Organizations(self._api)
        self.role_bindings = RoleBindings(self._api, self.organizations)
        self.ip_groups = IpGroups(self._api)
        self.ip_filters = IpFilters(self._api)
        self.identity_providers = IdentityProviders(self._api)
        self.identity_pools = IdentityPools(self._api)
        self.users = Users(self._api)
        self.invitations = Invitations(self._api)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def __repr__(self) -> str:
        return f"ConfluentClient(key={self.credentials.key!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._api.aclose()

    async def __aenter__(self) -> ConfluentClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
