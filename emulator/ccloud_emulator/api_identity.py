"""iam/v2 identity providers (`op-…`), their identity pools (`pool-…`) and the refresh of a
provider's JWKS: what workload identity federation is configured with.

A provider needs `display_name` (not blank), `description`, and `issuer` and `jwks_uri` as absolute
http(s) URLs; `identity_claim`, optional, is a claim path like a pool's. A pool needs
`display_name`, `description`, `identity_claim` (a claim path: `claims.sub`,
`claims['kubernetes.io'].namespace`) and `filter`, at most 300 characters of the CEL subset that
`pool_filter` documents; a filter that does not parse is a 400 saying where. Everything refused is
400 `invalid_input` with `source.pointer`. A provider's display name and its issuer are each unique
in an organisation, a pool's display name among its provider's pools: 409 `resource_already_exists`
with `Location` of the holder (real Confluent answers 409 for a provider "with the same data";
which fields count is not documented, and the STS needs an issuer to name one provider). A PATCH
changes the fields it names, checked as a create would. Both lists page 10 by default.

Deleting a provider deletes its pools with it (the spec lists no 409 for the delete, and a pool
cannot outlive its provider): each pool's role bindings (`User:pool-…`) and access tokens go too,
as deleting a service account deletes its keys and bindings. Deleted IDs answer 404 and are never
given again. A pool under a provider that is not there (or is another organisation's) is 404, the
pool list and create included (the spec lists no 404 for those two).

`PATCH …/{provider_id}/jwks` fetches the provider's JWKS now (`status.jwks_status` OK,
ERROR_FETCHING_JWKS or INVALID_JWKS_URI); a provider's `keys` show the `kid`, `alg` and `kty` of
the keys last fetched, and are absent until a fetch (a token exchange or a refresh) happened.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.jose import JwksCache
from ccloud_emulator.pool_filter import FilterError, parse_claim, parse_filter
from ccloud_emulator.rest import caller, json_object, json_response, org_crn, page, text_field
from ccloud_emulator.state import IdentityPool, IdentityProvider, State

__all__ = ["IdentityApi"]

# the spec's maxLength of a pool's filter
FILTER_LIMIT = 300
ID_LENGTH = 4
PROVIDERS = "/iam/v2/identity-providers"


def _invalid(detail: str, pointer: str) -> ApiError:
    return ApiError(400, detail, code="invalid_input", pointer=pointer)


def _not_found(what: str, item_id: str) -> ApiError:
    return ApiError(404, f"{what} '{item_id}' not found", code="not_found", title="Not Found")


def _name(body: dict[str, Any]) -> str:
    name = text_field(body, "display_name", "/display_name", required=True)
    if not name.strip():
        raise _invalid("'display_name' must not be empty", "/display_name")
    return name


def _url(body: dict[str, Any], field: str) -> str:
    value = text_field(body, field, f"/{field}", required=True)
    try:
        parts = urlsplit(value)
        absolute = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # an unclosed [IPv6 literal, a port that is no number
        absolute = False
    if not absolute or any(c.isspace() for c in value):
        raise _invalid(f"'{field}' must be an absolute http(s) URL", f"/{field}")
    return value


def _claim(body: dict[str, Any], *, required: bool) -> str:
    value = text_field(body, "identity_claim", "/identity_claim", required=required)
    if not value and not required:
        return ""
    try:
        parse_claim(value)
    except FilterError as error:
        raise _invalid(f"Invalid identity_claim '{value}': {error}", "/identity_claim") from None
    return value


def _filter(body: dict[str, Any]) -> str:
    value = text_field(body, "filter", "/filter", required=True)
    if len(value) > FILTER_LIMIT:
        raise _invalid(f"'filter' must be at most {FILTER_LIMIT} characters", "/filter")
    try:
        parse_filter(value)
    except FilterError as error:
        raise _invalid(f"Invalid filter: {error}", "/filter") from None
    return value


def _remove_pool(state: State, pool: IdentityPool) -> None:
    """Delete a pool with what only it had: its role bindings and its access tokens."""
    state.delete_role_bindings(lambda rb: rb.org_id == pool.org_id and rb.principal == f"User:{pool.id}")
    for digest in [d for d, t in state.access_tokens.items() if t.pool_id == pool.id]:
        del state.access_tokens[digest]
    del state.identity_pools[pool.id]
    state.tombstones.add(pool.id)


class IdentityApi:
    def __init__(self, core: Core, jwks: JwksCache) -> None:
        self.core = core
        self.jwks = jwks

    def routes(self) -> list[Route]:
        pools = PROVIDERS + "/{provider_id}/identity-pools"
        return [
            Route(PROVIDERS, self.list_providers, methods=["GET"]),
            Route(PROVIDERS, self.create_provider, methods=["POST"]),
            Route(PROVIDERS + "/{id}", self.get_provider, methods=["GET"]),
            Route(PROVIDERS + "/{id}", self.update_provider, methods=["PATCH"]),
            Route(PROVIDERS + "/{id}", self.delete_provider, methods=["DELETE"]),
            Route(PROVIDERS + "/{provider_id}/jwks", self.refresh_jwks, methods=["PATCH"]),
            Route(pools, self.list_pools, methods=["GET"]),
            Route(pools, self.create_pool, methods=["POST"]),
            Route(pools + "/{id}", self.get_pool, methods=["GET"]),
            Route(pools + "/{id}", self.update_pool, methods=["PATCH"]),
            Route(pools + "/{id}", self.delete_pool, methods=["DELETE"]),
        ]

    # identity providers

    def render_provider(self, base: str, provider: IdentityProvider) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "api_version": "iam/v2",
            "kind": "IdentityProvider",
            "id": provider.id,
            "metadata": {
                "self": f"{base}{PROVIDERS}/{provider.id}",
                "resource_name": f"{org_crn(provider.org_id)}/identity-provider={provider.id}",
                "created_at": timestamp(provider.created_at),
                "updated_at": timestamp(provider.updated_at),
            },
            "display_name": provider.display_name,
            "description": provider.description,
            "state": "ENABLED",
            "issuer": provider.issuer,
            "jwks_uri": provider.jwks_uri,
        }
        if provider.identity_claim:
            rendered["identity_claim"] = provider.identity_claim
        keys = self.jwks.keys(provider.id, provider.jwks_uri)
        if keys is not None:
            # the spec: "Only kid and alg … are included" (and kty, which its key schema requires)
            rendered["keys"] = [{"kid": k.kid, "alg": k.algorithm, "kty": k.kty} for k in keys if k.kid]
        return rendered

    def _provider(self, who: Caller, provider_id: str) -> IdentityProvider:
        provider = self.core.state.identity_providers.get(provider_id)
        if provider is None or provider.org_id != who.org_id:
            raise _not_found("Identity provider", provider_id)
        return provider

    def _provider_free(self, who: Caller, field: str, value: str, base: str, but: str = "") -> None:
        for provider in self.core.state.identity_providers.values():
            if provider.org_id == who.org_id and provider.id != but and getattr(provider, field) == value:
                what = "display name" if field == "display_name" else field
                raise ApiError(
                    409,
                    f"An identity provider with the {what} '{value}' already exists: {provider.id}",
                    code="resource_already_exists",
                    location=f"{base}{PROVIDERS}/{provider.id}",
                )

    async def list_providers(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            found = [p for p in self.core.state.identity_providers.values() if p.org_id == who.org_id]
            found.sort(key=lambda p: (p.created_at, p.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="IdentityProviderList",
                items=found,
                render=lambda p: self.render_provider(base, p),
            )
        return json_response(body)

    async def create_provider(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = _name(body)
        description = text_field(body, "description", "/description", required=True)
        issuer = _url(body, "issuer")
        jwks_uri = _url(body, "jwks_uri")
        claim = _claim(body, required=False)
        base = self.core.base_url(request)
        with self.core.lock:
            self._provider_free(who, "display_name", name, base)
            self._provider_free(who, "issuer", issuer, base)
            now = self.core.now()
            provider = IdentityProvider(
                id=self.core.new_id("op-", ID_LENGTH),
                org_id=who.org_id,
                display_name=name,
                description=description,
                issuer=issuer,
                jwks_uri=jwks_uri,
                identity_claim=claim,
                created_at=now,
                updated_at=now,
            )
            self.core.state.identity_providers[provider.id] = provider
            self.core.commit()
            rendered = self.render_provider(base, provider)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_provider(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            provider = self._provider(who, request.path_params["id"])
            return json_response(self.render_provider(self.core.base_url(request), provider))

    async def update_provider(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            self._provider(who, request.path_params["id"])
        body = await json_object(request)
        name = _name(body) if "display_name" in body else None
        description = text_field(body, "description", "/description", required=True) if "description" in body else None
        issuer = _url(body, "issuer") if "issuer" in body else None
        jwks_uri = _url(body, "jwks_uri") if "jwks_uri" in body else None
        claim = _claim(body, required=False) if "identity_claim" in body else None
        base = self.core.base_url(request)
        with self.core.lock:
            provider = self._provider(who, request.path_params["id"])
            if name is not None:
                self._provider_free(who, "display_name", name, base, but=provider.id)
                provider.display_name = name
            if issuer is not None:
                self._provider_free(who, "issuer", issuer, base, but=provider.id)
                provider.issuer = issuer
            if description is not None:
                provider.description = description
            if jwks_uri is not None:
                # the cache keys on the URI too: a new one is fetched on next use
                provider.jwks_uri = jwks_uri
            if claim is not None:
                provider.identity_claim = claim
            provider.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_provider(base, provider))

    async def delete_provider(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            state = self.core.state
            provider = self._provider(who, request.path_params["id"])
            for pool in [p for p in state.identity_pools.values() if p.provider_id == provider.id]:
                _remove_pool(state, pool)
            del state.identity_providers[provider.id]
            state.tombstones.add(provider.id)
            self.core.commit()
        self.jwks.forget(provider.id)
        return Response(status_code=204)

    async def refresh_jwks(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request) if await request.body() else {}
        spec = body.get("spec")
        wanted = spec.get("jwks_status") if isinstance(spec, dict) else None
        if wanted not in (None, "REFRESHED"):
            raise _invalid("'spec.jwks_status' can only be REFRESHED", "/spec/jwks_status")
        with self.core.lock:
            provider = self._provider(who, request.path_params["provider_id"])
            provider_id, uri = provider.id, provider.jwks_uri
        refreshed = await self.jwks.refresh(provider_id, uri)
        status: dict[str, str] = {"jwks_status": refreshed.status}
        if refreshed.refreshed_at is not None:
            status["jwks_last_refresh_at"] = timestamp(refreshed.refreshed_at)
        return json_response(
            {"api_version": "iam/v2", "kind": "Jwks", "spec": {"jwks_status": "REFRESHED"}, "status": status}
        )

    # identity pools

    @staticmethod
    def render_pool(base: str, pool: IdentityPool) -> dict[str, Any]:
        return {
            "api_version": "iam/v2",
            "kind": "IdentityPool",
            "id": pool.id,
            "metadata": {
                "self": f"{base}{PROVIDERS}/{pool.provider_id}/identity-pools/{pool.id}",
                "resource_name": (
                    f"{org_crn(pool.org_id)}/identity-provider={pool.provider_id}/identity-pool={pool.id}"
                ),
                "created_at": timestamp(pool.created_at),
                "updated_at": timestamp(pool.updated_at),
            },
            "display_name": pool.display_name,
            "description": pool.description,
            "identity_claim": pool.identity_claim,
            "filter": pool.filter,
            "principal": pool.id,
            "state": "ENABLED",
        }

    def _pool(self, who: Caller, provider_id: str, pool_id: str) -> IdentityPool:
        self._provider(who, provider_id)
        pool = self.core.state.identity_pools.get(pool_id)
        if pool is None or pool.provider_id != provider_id:
            raise _not_found("Identity pool", pool_id)
        return pool

    def _pool_name_free(self, provider_id: str, name: str, base: str, but: str = "") -> None:
        for pool in self.core.state.identity_pools.values():
            if pool.provider_id == provider_id and pool.display_name == name and pool.id != but:
                raise ApiError(
                    409,
                    f"An identity pool named '{name}' already exists in identity provider {provider_id}: {pool.id}",
                    code="resource_already_exists",
                    location=f"{base}{PROVIDERS}/{provider_id}/identity-pools/{pool.id}",
                )

    async def list_pools(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            provider = self._provider(who, request.path_params["provider_id"])
            found = [p for p in self.core.state.identity_pools.values() if p.provider_id == provider.id]
            found.sort(key=lambda p: (p.created_at, p.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="IdentityPoolList",
                items=found,
                render=lambda p: self.render_pool(base, p),
            )
        return json_response(body)

    async def create_pool(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            # a provider that is not there is a 404 before anything in the body is a 400
            self._provider(who, request.path_params["provider_id"])
        body = await json_object(request)
        name = _name(body)
        description = text_field(body, "description", "/description", required=True)
        claim = _claim(body, required=True)
        condition = _filter(body)
        base = self.core.base_url(request)
        with self.core.lock:
            provider = self._provider(who, request.path_params["provider_id"])
            self._pool_name_free(provider.id, name, base)
            now = self.core.now()
            pool = IdentityPool(
                id=self.core.new_id("pool-", ID_LENGTH),
                org_id=who.org_id,
                provider_id=provider.id,
                display_name=name,
                description=description,
                identity_claim=claim,
                filter=condition,
                created_at=now,
                updated_at=now,
            )
            self.core.state.identity_pools[pool.id] = pool
            self.core.commit()
            rendered = self.render_pool(base, pool)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_pool(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            pool = self._pool(who, request.path_params["provider_id"], request.path_params["id"])
            return json_response(self.render_pool(self.core.base_url(request), pool))

    async def update_pool(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            self._pool(who, request.path_params["provider_id"], request.path_params["id"])
        body = await json_object(request)
        name = _name(body) if "display_name" in body else None
        description = text_field(body, "description", "/description", required=True) if "description" in body else None
        claim = _claim(body, required=True) if "identity_claim" in body else None
        condition = _filter(body) if "filter" in body else None
        base = self.core.base_url(request)
        with self.core.lock:
            pool = self._pool(who, request.path_params["provider_id"], request.path_params["id"])
            if name is not None:
                self._pool_name_free(pool.provider_id, name, base, but=pool.id)
                pool.display_name = name
            if description is not None:
                pool.description = description
            if claim is not None:
                pool.identity_claim = claim
            if condition is not None:
                pool.filter = condition
            pool.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_pool(base, pool))

    async def delete_pool(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            pool = self._pool(who, request.path_params["provider_id"], request.path_params["id"])
            _remove_pool(self.core.state, pool)
            self.core.commit()
        return Response(status_code=204)
