"""iam/v2: service accounts and API keys, including the check that a new key has propagated.

The secret of an API key exists only in the create response; it is a `SecretStr`, remembered by
the transport so no error text can repeat it, and never logged.
"""

from __future__ import annotations

import builtins

import httpx
from pydantic import SecretStr, field_validator

from ccloud_operator.confluent.cmk import Cluster, Clusters
from ccloud_operator.confluent.errors import NotFound, Unauthorized
from ccloud_operator.confluent.governor import RateGovernor
from ccloud_operator.confluent.models import ApiModel, ObjectMeta, ObjectReference
from ccloud_operator.confluent.retry import RetryPolicy
from ccloud_operator.confluent.transport import ApiTransport, Params, segment

__all__ = ["CLOUD_RESOURCE", "ApiKey", "ApiKeySpec", "ApiKeys", "ServiceAccount", "ServiceAccounts"]

CLOUD_RESOURCE = "cloud"
# Resources whose keys are checked against the Cloud API rather than a Kafka cluster's REST API.
_CLOUD_LIKE = frozenset({"cloud", "global"})


class ServiceAccount(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    description: str = ""


class ApiKeySpec(ApiModel):
    secret: SecretStr | None = None
    display_name: str = ""
    description: str = ""
    owner: ObjectReference | None = None
    resource: ObjectReference | None = None

    @field_validator("secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # Every response but the create's carries "" here: that is "not shown", not a secret.
        return None if value == "" else value


class ApiKey(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    spec: ApiKeySpec = ApiKeySpec()

    @property
    def secret(self) -> SecretStr | None:
        """The secret: set only on the object `ApiKeys.create` returns."""
        return self.spec.secret

    @property
    def owner_id(self) -> str | None:
        return self.spec.owner.id if self.spec.owner else None

    @property
    def resource_id(self) -> str | None:
        return self.spec.resource.id if self.spec.resource else None


class ServiceAccounts:
    """`/iam/v2/service-accounts`."""

    PATH = "/iam/v2/service-accounts"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(self, display_name: str, description: str = "") -> ServiceAccount:
        body = {"display_name": display_name, "description": description}
        return await self._api.model(ServiceAccount, "POST", self.PATH, json=body)

    async def get(self, id: str) -> ServiceAccount:
        return await self._api.model(ServiceAccount, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self, *, display_names: tuple[str, ...] = ()) -> builtins.list[ServiceAccount]:
        """Every service account (or those with one of `display_names`, exact match)."""
        params: Params = {"display_name": list(display_names)} if display_names else {}
        return await self._api.paginate(ServiceAccount, self.PATH, params)

    async def find_by_display_name(self, name: str) -> ServiceAccount | None:
        """The one service account called `name`; display names are unique in an organisation."""
        found = [sa for sa in await self.list(display_names=(name,)) if sa.display_name == name]
        return found[0] if found else None

    async def update(self, id: str, display_name: str | None = None, description: str | None = None) -> ServiceAccount:
        body = {k: v for k, v in (("display_name", display_name), ("description", description)) if v is not None}
        return await self._api.model(ServiceAccount, "PATCH", f"{self.PATH}/{segment(id)}", json=body)

    async def delete(self, id: str) -> None:
        """Delete it (and, on Confluent's side, its API keys); `NotFound` if it is already gone."""
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")


class ApiKeys:
    """`/iam/v2/api-keys`, and `is_usable`, the propagation probe for a new key."""

    PATH = "/iam/v2/api-keys"

    def __init__(self, api: ApiTransport, clusters: Clusters) -> None:
        self._api = api
        self._clusters = clusters

    async def create(
        self,
        owner_id: str,
        resource_id: str,
        environment_id: str | None = None,
        display_name: str = "",
        description: str = "",
    ) -> ApiKey:
        """Create a key; the returned object is the only one that will ever carry its secret."""
        resource: dict[str, str] = {"id": resource_id}
        if environment_id:
            resource["environment"] = environment_id
        spec = {"display_name": display_name, "description": description, "owner": {"id": owner_id}}
        key = await self._api.model(ApiKey, "POST", self.PATH, json={"spec": {**spec, "resource": resource}})
        if key.secret is not None:
            self._api.remember_secret(key.secret.get_secret_value())
        return key

    async def get(self, id: str) -> ApiKey:
        return await self._api.model(ApiKey, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self, owner: str | None = None, resource: str | None = None) -> builtins.list[ApiKey]:
        params = {k: v for k, v in (("spec.owner", owner), ("spec.resource", resource)) if v}
        return await self._api.paginate(ApiKey, self.PATH, params)

    async def update(self, id: str, display_name: str | None = None, description: str | None = None) -> ApiKey:
        spec = {k: v for k, v in (("display_name", display_name), ("description", description)) if v is not None}
        return await self._api.model(ApiKey, "PATCH", f"{self.PATH}/{segment(id)}", json={"spec": spec})

    async def delete(self, id: str) -> None:
        """Delete it; `NotFound` if it is already gone (Confluent may answer 403 for that)."""
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")

    async def is_usable(
        self,
        key: str,
        secret: str | SecretStr,
        resource_id: str,
        environment_id: str | None = None,
        cluster: Cluster | None = None,
    ) -> bool:
        """Whether a new key already works where it is meant to (keys take a while to propagate).

        A Cloud key lists environments with itself; a Kafka key lists its cluster's topics through
        the cluster's REST endpoint (`cluster`, when the caller has read it already, saves that read).
        Refused (401/403) means not yet; other errors are raised.
        """
        plain = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._api.remember_secret(plain)
        if resource_id.lower() in _CLOUD_LIKE:
            url = "/org/v2/environments"
            params: Params = {"page_size": 1}
        else:
            if not environment_id:
                raise ValueError(f"checking a key for cluster {resource_id} needs its environment_id")
            if cluster is None or cluster.id != resource_id:
                cluster = await self._clusters.get(resource_id, environment_id=environment_id)
            url = f"{cluster.http_endpoint.rstrip('/')}/kafka/v3/clusters/{segment(resource_id)}/topics"
            params = {}
        try:
            await self._api.request(
                "GET",
                url,
                params=params,
                auth=httpx.BasicAuth(key, plain),
                # Not the registry's: a governor per probed key would outlive the check by far.
                governor=RateGovernor(max_concurrency=1),
                # One look per call: the caller decides how patiently to wait for propagation.
                retry=RetryPolicy(max_attempts=1),
            )
        except (Unauthorized, NotFound) as exc:
            # Before propagation Confluent answers 401, or 403 which the tree files as NotFound.
            if exc.status in (401, 403):
                return False
            raise
        return True
