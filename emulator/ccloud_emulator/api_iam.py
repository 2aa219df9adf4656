"""iam/v2 service accounts and API keys.

Display names of service accounts are unique in an organisation (409). Deleting a service account
deletes its API keys and its role bindings. Reads of a deleted account or key answer 403 `forbidden_access`, as the real
API does; IDs that never existed answer 404. An API key's secret is only in its create response, and
a new key answers 401 until `timing.api_key_propagation` has passed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.rest import (
    caller,
    env_crn,
    json_object,
    json_response,
    org_crn,
    page,
    text_field,
)
from ccloud_emulator.state import ApiKey, ServiceAccount

__all__ = ["IamApi"]

# Resource IDs (case-insensitive) of keys that are not for a Kafka cluster.
_SPECIAL_RESOURCES = {
    "cloud": ("iam/v2", "Cloud"),
    "global": ("global/v1", "Global"),
    "tableflow": ("tableflow/v1", "Tableflow"),
}


def _forbidden() -> ApiError:
    return ApiError(403, "Forbidden Access", code="forbidden_access", title="Forbidden")


class IamApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/iam/v2/service-accounts", self.list_service_accounts, methods=["GET"]),
            Route("/iam/v2/service-accounts", self.create_service_account, methods=["POST"]),
            Route("/iam/v2/service-accounts/{id}", self.get_service_account, methods=["GET"]),
            Route("/iam/v2/service-accounts/{id}", self.update_service_account, methods=["PATCH"]),
            Route("/iam/v2/service-accounts/{id}", self.delete_service_account, methods=["DELETE"]),
            Route("/iam/v2/api-keys", self.list_api_keys, methods=["GET"]),
            Route("/iam/v2/api-keys", self.create_api_key, methods=["POST"]),
            Route("/iam/v2/api-keys/{id}", self.get_api_key, methods=["GET"]),
            Route("/iam/v2/api-keys/{id}", self.update_api_key, methods=["PATCH"]),
            Route("/iam/v2/api-keys/{id}", self.delete_api_key, methods=["DELETE"]),
        ]

    # service accounts

    @staticmethod
    def render_service_account(base: str, sa: ServiceAccount) -> dict[str, Any]:
        return {
            "api_version": "iam/v2",
            "kind": "ServiceAccount",
            "id": sa.id,
            "metadata": {
                "self": f"{base}/iam/v2/service-accounts/{sa.id}",
                "resource_name": f"{org_crn(sa.org_id)}/service-account={sa.id}",
                "created_at": timestamp(sa.created_at),
                "updated_at": timestamp(sa.updated_at),
            },
            "display_name": sa.display_name,
            "description": sa.description,
        }

    def _service_account(self, who: Caller, sa_id: str) -> ServiceAccount:
        sa = self.core.state.service_accounts.get(sa_id)
        if sa is None or sa.org_id != who.org_id:
            if sa_id in self.core.state.tombstones:
                raise _forbidden()
            raise ApiError(404, "Service Account Not Found", code="service_account_not_found", title="Not Found")
        return sa

    def _name_taken(self, who: Caller, name: str, base: str, but: str = "") -> None:
        for sa in self.core.state.service_accounts.values():
            if sa.display_name == name and sa.org_id == who.org_id and sa.id != but:
                raise ApiError(
                    409,
                    "Service name is already in use.",
                    code="resource_already_exists",
                    location=f"{base}/iam/v2/service-accounts/{sa.id}",
                )

    async def list_service_accounts(self, request: Request) -> Response:
        who = caller(request)
        names = set(request.query_params.getlist("display_name"))
        base = self.core.base_url(request)
        with self.core.lock:
            found = [
                sa
                for sa in self.core.state.service_accounts.values()
                if sa.org_id == who.org_id and (not names or sa.display_name in names)
            ]
            found.sort(key=lambda sa: (sa.created_at, sa.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="ServiceAccountList",
                items=found,
                render=lambda sa: self.render_service_account(base, sa),
                filters=("display_name",),
            )
        return json_response(body)

    async def create_service_account(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = text_field(body, "display_name", "/display_name", required=True, max_length=64)
        if not name.strip():
            raise ApiError(400, "'display_name' must not be empty", code="invalid_input", pointer="/display_name")
        description = text_field(body, "description", "/description", required=False, max_length=128)
        base = self.core.base_url(request)
        with self.core.lock:
            self._name_taken(who, name, base)
            now = self.core.now()
            sa = ServiceAccount(
                id=self.core.new_id("sa-"),
                org_id=who.org_id,
                display_name=name,
                description=description,
                created_at=now,
                updated_at=now,
            )
            self.core.state.service_accounts[sa.id] = sa
            self.core.commit()
            rendered = self.render_service_account(base, sa)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_service_account(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            sa = self._service_account(who, request.path_params["id"])
            return json_response(self.render_service_account(self.core.base_url(request), sa))

    async def update_service_account(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        base = self.core.base_url(request)
        with self.core.lock:
            sa = self._service_account(who, request.path_params["id"])
            if "display_name" in body:
                name = text_field(body, "display_name", "/display_name", required=True, max_length=64)
                self._name_taken(who, name, base, but=sa.id)
                sa.display_name = name
            if "description" in body:
                sa.description = text_field(body, "description", "/description", required=True, max_length=128)
            sa.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_service_account(base, sa))

    async def delete_service_account(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            sa = self._service_account(who, request.path_params["id"])
            state = self.core.state
            for key_id in [k.id for k in state.api_keys.values() if k.owner_id == sa.id]:
                del state.api_keys[key_id]
                state.tombstones.add(key_id)
            state.delete_role_bindings(lambda rb: rb.org_id == sa.org_id and rb.principal == f"User:{sa.id}")
            del state.service_accounts[sa.id]
            state.tombstones.add(sa.id)
            self.core.commit()
        return Response(status_code=204)

    # API keys

    def _owner_ref(self, base: str, key: ApiKey) -> dict[str, Any]:
        owner = key.owner_id
        if owner.startswith("sa-"):
            related = f"{base}/iam/v2/service-accounts/{owner}"
            return {
                "id": owner,
                "api_version": "iam/v2",
                "kind": "ServiceAccount",
                "related": related,
                "resource_name": f"{org_crn(key.org_id)}/service-account={owner}",
            }
        return {
            "id": owner,
            "api_version": "iam/v2",
            "kind": "User",
            "related": f"{base}/iam/v2/users/{owner}",
            "resource_name": f"{org_crn(key.org_id)}/user={owner}",
        }

    def _resource_ref(self, base: str, key: ApiKey) -> dict[str, Any]:
        if key.resource_id in _SPECIAL_RESOURCES:
            api_version, kind = _SPECIAL_RESOURCES[key.resource_id]
            # Observed in real answers: related and resource_name are the bare word.
            return {
                "id": key.resource_id,
                "api_version": api_version,
                "kind": kind,
                "related": key.resource_id,
                "resource_name": key.resource_id,
            }
        cluster = self.core.state.clusters.get(key.resource_id)
        env_id = cluster.env_id if cluster else ""
        return {
            "id": key.resource_id,
            "environment": env_id,
            "api_version": "cmk/v2",
            "kind": "Cluster",
            "related": f"{base}/cmk/v2/clusters/{key.resource_id}",
            "resource_name": f"{env_crn(key.org_id, env_id)}/cloud-cluster={key.resource_id}",
        }

    def render_api_key(self, base: str, key: ApiKey, *, with_secret: bool = False) -> dict[str, Any]:
        owner = self._owner_ref(base, key)
        owner_segment = "service-account" if owner["kind"] == "ServiceAccount" else "user"
        resource = self._resource_ref(base, key)
        return {
            "api_version": "iam/v2",
            "kind": "ApiKey",
            "id": key.id,
            "metadata": {
                "self": f"{base}/iam/v2/api-keys/{key.id}",
                "resource_name": f"{org_crn(key.org_id)}/{owner_segment}={key.owner_id}/api-key={key.id}",
                "created_at": timestamp(key.created_at),
                "updated_at": timestamp(key.updated_at),
            },
            "spec": {
                "secret": key.secret if with_secret else "",
                "display_name": key.display_name,
                "description": key.description,
                "owner": owner,
                "resource": resource,
                "resources": [resource],
            },
        }

    def _api_key(self, who: Caller, key_id: str) -> ApiKey:
        key = self.core.state.api_keys.get(key_id)
        if key is None or key.org_id != who.org_id:
            if key_id in self.core.state.tombstones:
                raise _forbidden()
            raise ApiError(
                404, f"The API Key (id={key_id}) does not exist", code="api_key_not_found", title="Not Found"
            )
        return key

    async def list_api_keys(self, request: Request) -> Response:
        who = caller(request)
        owner = request.query_params.get("spec.owner")
        resource = request.query_params.get("spec.resource")
        base = self.core.base_url(request)
        with self.core.lock:
            keys = [
                k
                for k in self.core.state.api_keys.values()
                if k.org_id == who.org_id
                and (not owner or k.owner_id == owner)
                and (not resource or k.resource_id == resource.lower() or k.resource_id == resource)
            ]
            keys.sort(key=lambda k: (k.created_at, k.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="ApiKeyList",
                items=keys,
                render=lambda k: self.render_api_key(base, k),
                filters=("spec.owner", "spec.resource"),
            )
        return json_response(body)

    async def create_api_key(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise ApiError(400, "'spec' is required", code="invalid_input", pointer="/spec")
        owner = spec.get("owner")
        owner_id = owner.get("id") if isinstance(owner, dict) else None
        if not isinstance(owner_id, str) or not owner_id:
            raise ApiError(400, "'spec.owner.id' is required", code="invalid_input", pointer="/spec/owner/id")
        resource = spec.get("resource")
        resource_id = resource.get("id") if isinstance(resource, dict) else None
        if resource is not None and (not isinstance(resource_id, str) or not resource_id):
            raise ApiError(
                400, "'spec.resource.id' must be a string", code="invalid_input", pointer="/spec/resource/id"
            )
        display_name = text_field(spec, "display_name", "/spec/display_name", required=False, max_length=64)
        description = text_field(spec, "description", "/spec/description", required=False, max_length=128)
        base = self.core.base_url(request)
        with self.core.lock:
            state = self.core.state
            if owner_id.startswith("sa-"):
                sa = state.service_accounts.get(owner_id)
                if sa is None or sa.org_id != who.org_id:
                    raise ApiError(
                        400, f"Service Account '{owner_id}' not found", code="invalid_input", pointer="/spec/owner/id"
                    )
            else:
                user = state.users.get(owner_id)
                if user is None or user.org_id != who.org_id:
                    raise ApiError(400, f"Owner '{owner_id}' not found", code="invalid_input", pointer="/spec/owner/id")
            if resource_id is None or resource_id.lower() in _SPECIAL_RESOURCES:
                resource_id = (resource_id or "cloud").lower()
            else:
                cluster = state.clusters.get(resource_id)
                env = state.environments.get(cluster.env_id) if cluster else None
                if cluster is None or env is None or env.org_id != who.org_id:
                    raise ApiError(
                        400,
                        f"Resource '{resource_id}' not found",
                        code="invalid_input",
                        pointer="/spec/resource/id",
                    )
            now = self.core.now()
            key = ApiKey(
                id=self.core.new_api_key_id(),
                secret=self.core.new_secret(),
                org_id=who.org_id,
                owner_id=owner_id,
                resource_id=resource_id,
                display_name=display_name,
                description=description,
                created_at=now,
                updated_at=now,
                usable_at=now + self.core.timing.api_key_propagation,
            )
            state.api_keys[key.id] = key
            self.core.commit()
            rendered = self.render_api_key(base, key, with_secret=True)
        return json_response(rendered, 202, {"Location": rendered["metadata"]["self"]})

    async def get_api_key(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            key = self._api_key(who, request.path_params["id"])
            return json_response(self.render_api_key(self.core.base_url(request), key))

    async def update_api_key(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise ApiError(400, "'spec' is required", code="invalid_input", pointer="/spec")
        with self.core.lock:
            key = self._api_key(who, request.path_params["id"])
            if "display_name" in spec:
                key.display_name = text_field(spec, "display_name", "/spec/display_name", required=True, max_length=64)
            if "description" in spec:
                key.description = text_field(spec, "description", "/spec/description", required=True, max_length=128)
            key.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_api_key(self.core.base_url(request), key))

    async def delete_api_key(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            key = self._api_key(who, request.path_params["id"])
            del self.core.state.api_keys[key.id]
            self.core.state.tombstones.add(key.id)
            self.core.commit()
        return Response(status_code=204)
