"""iam/v2 identity providers (the OIDC issuers Confluent trusts) and their identity pools.

A provider is an issuer and the JWKS its tokens are signed with; Confluent reports `state`
(ENABLED) and the key IDs it fetched from `jwks_uri` (`keys`). A pool belongs to one provider, in
its path (so a pool never moves), and says which of that provider's tokens it admits: `filter`, a
CEL expression over `claims` (at most 300 characters), and `identity_claim`, the claim that names
the caller in audit logs. Its ID (`pool-…`) is the principal role bindings name (`User:pool-…`).
Every field but IDs and states can be PATCHed, and a PATCH changes only what it carries. Lists
paginate and have no filters: a lookup by name reads every page.
"""

from __future__ import annotations

import builtins

from ccloud_operator.confluent.models import ApiModel, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, segment

__all__ = ["ENABLED", "IdentityPool", "IdentityPools", "IdentityProvider", "IdentityProviders", "JwksKey"]

# the one state the spec names for providers and pools (an extensible enum: others stay plain strings)
ENABLED = "ENABLED"


class JwksKey(ApiModel):
    """One key of the provider's JWKS as Confluent keeps it: only its ID and algorithm are shown."""

    kid: str | None = None
    alg: str | None = None
    kty: str | None = None


class IdentityProvider(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    description: str = ""
    issuer: str = ""
    jwks_uri: str = ""
    identity_claim: str | None = None
    state: str | None = None
    keys: list[JwksKey] = []


class IdentityPool(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    description: str = ""
    identity_claim: str = ""
    filter: str = ""
    principal: str | None = None
    state: str | None = None


def _fields(**given: str | None) -> dict[str, object]:
    return {name: value for name, value in given.items() if value is not None}


class IdentityProviders:
    """`/iam/v2/identity-providers`."""

    PATH = "/iam/v2/identity-providers"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(
        self,
        display_name: str,
        issuer: str,
        jwks_uri: str,
        *,
        description: str = "",
        identity_claim: str | None = None,
    ) -> IdentityProvider:
        # description is required by the create, even empty
        body = {
            "display_name": display_name,
            "description": description,
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            **_fields(identity_claim=identity_claim),
        }
        return await self._api.model(IdentityProvider, "POST", self.PATH, json=body)

    async def get(self, id: str) -> IdentityProvider:
        return await self._api.model(IdentityProvider, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self) -> builtins.list[IdentityProvider]:
        return await self._api.paginate(IdentityProvider, self.PATH)

    async def find_by_display_name(self, display_name: str) -> IdentityProvider | None:
        """The provider called `display_name` (the list has no name filter: this reads every page)."""
        found = [p for p in await self.list() if p.display_name == display_name]
        return found[0] if found else None

    async def update(
        self,
        id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        issuer: str | None = None,
        jwks_uri: str | None = None,
        identity_claim: str | None = None,
    ) -> IdentityProvider:
        """Change what is given, nothing else."""
        body = _fields(
            display_name=display_name,
            description=description,
            issuer=issuer,
            jwks_uri=jwks_uri,
            identity_claim=identity_claim,
        )
        return await self._api.model(IdentityProvider, "PATCH", f"{self.PATH}/{segment(id)}", json=body)

    async def delete(self, id: str) -> None:
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")


class IdentityPools:
    """`/iam/v2/identity-providers/{provider_id}/identity-pools`: every call names the pool's provider."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    @staticmethod
    def path(provider_id: str) -> str:
        return f"{IdentityProviders.PATH}/{segment(provider_id)}/identity-pools"

    async def create(
        self, provider_id: str, display_name: str, identity_claim: str, filter: str, *, description: str = ""
    ) -> IdentityPool:
        body = {
            "display_name": display_name,
            "description": description,
            "identity_claim": identity_claim,
            "filter": filter,
        }
        return await self._api.model(IdentityPool, "POST", self.path(provider_id), json=body)

    async def get(self, provider_id: str, id: str) -> IdentityPool:
        return await self._api.model(IdentityPool, "GET", f"{self.path(provider_id)}/{segment(id)}")

    async def list(self, provider_id: str) -> builtins.list[IdentityPool]:
        return await self._api.paginate(IdentityPool, self.path(provider_id))

    async def find_by_display_name(self, provider_id: str, display_name: str) -> IdentityPool | None:
        """The provider's pool called `display_name` (every page of the provider's pools)."""
        found = [p for p in await self.list(provider_id) if p.display_name == display_name]
        return found[0] if found else None

    async def update(
        self,
        provider_id: str,
        id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        identity_claim: str | None = None,
        filter: str | None = None,
    ) -> IdentityPool:
        """Change what is given, nothing else (the provider is in the path: a pool cannot move)."""
        body = _fields(display_name=display_name, description=description, identity_claim=identity_claim, filter=filter)
        return await self._api.model(IdentityPool, "PATCH", f"{self.path(provider_id)}/{segment(id)}", json=body)

    async def delete(self, provider_id: str, id: str) -> None:
        await self._api.request("DELETE", f"{self.path(provider_id)}/{segment(id)}")
