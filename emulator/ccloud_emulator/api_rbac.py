"""iam/v2 role bindings: a principal, a role and a CRN pattern.

A binding is immutable: create, read, list and delete, no update (a PATCH is 405). The CRN pattern
is checked for shape and must name the caller's organisation and, when it names them, an environment
and a Kafka cluster that exist there; a `User:sa-…` or `User:u-…` principal must be a live service
account or user of the organisation (other principals, identity pools and groups, are taken as
given). The same principal, role and pattern twice is a 409 pointing at the first binding. The list
requires `crn_pattern` (as the spec does) and matches it by scope: a binding whose pattern is the
one asked for or lies under it (`…/environment=env-1` finds the bindings on that environment and on
everything in it); `principal` and `role_name` match exactly.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.rest import caller, json_object, json_response, org_crn, page, parse_crn, require_query
from ccloud_emulator.state import RoleBinding, UserStatus

__all__ = ["RbacApi"]

_PRINCIPAL = re.compile(r"^(User|Group):.+$")
_ROLE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_CRN_FILTER = re.compile(r"^crn://.+$")


def _not_found(rb_id: str) -> ApiError:
    return ApiError(404, f"Role binding '{rb_id}' not found", code="not_found", title="Not Found")


class RbacApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/iam/v2/role-bindings", self.list_role_bindings, methods=["GET"]),
            Route("/iam/v2/role-bindings", self.create_role_binding, methods=["POST"]),
            Route("/iam/v2/role-bindings/{id}", self.get_role_binding, methods=["GET"]),
            Route("/iam/v2/role-bindings/{id}", self.delete_role_binding, methods=["DELETE"]),
        ]

    @staticmethod
    def render(base: str, rb: RoleBinding) -> dict[str, Any]:
        return {
            "api_version": "iam/v2",
            "kind": "RoleBinding",
            "id": rb.id,
            "metadata": {
                "self": f"{base}/iam/v2/role-bindings/{rb.id}",
                "resource_name": f"{org_crn(rb.org_id)}/role-binding={rb.id}",
                "created_at": timestamp(rb.created_at),
                "updated_at": timestamp(rb.updated_at),
            },
            "principal": rb.principal,
            "role_name": rb.role_name,
            "crn_pattern": rb.crn_pattern,
        }

    def _binding(self, who: Caller, rb_id: str) -> RoleBinding:
        rb = self.core.state.role_bindings.get(rb_id)
        if rb is None or rb.org_id != who.org_id:
            raise _not_found(rb_id)
        return rb

    def _check_principal(self, who: Caller, principal: object) -> str:
        if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
            raise ApiError(
                400,
                "'principal' must be 'User:<id>' or 'Group:<id>'",
                code="invalid_input",
                pointer="/principal",
            )
        state = self.core.state
        subject = principal.removeprefix("User:")
        if subject.startswith("sa-"):
            sa = state.service_accounts.get(subject)
            known = sa is not None and sa.org_id == who.org_id
        elif subject.startswith("u-"):
            user = state.users.get(subject)
            known = user is not None and user.org_id == who.org_id and user.status is not UserStatus.DEACTIVATED
        else:
            known = True
        if not known:
            raise ApiError(400, f"Principal '{principal}' not found", code="invalid_input", pointer="/principal")
        return principal

    def _check_pattern(self, who: Caller, value: object) -> str:
        org, segments = parse_crn(value, pointer="/crn_pattern")
        assert isinstance(value, str)
        if org != who.org_id:
            raise ApiError(
                400,
                f"crn_pattern must be in organization {who.org_id}",
                code="invalid_input",
                pointer="/crn_pattern",
            )
        names = dict(segments)
        state = self.core.state
        env_id = names.get("environment")
        if env_id is not None:
            env = state.environments.get(env_id)
            if env is None or env.org_id != who.org_id:
                raise ApiError(400, f"Environment '{env_id}' not found", code="invalid_input", pointer="/crn_pattern")
        cluster_id = names.get("cloud-cluster")
        if cluster_id is not None:
            cluster = state.clusters.get(cluster_id)
            if cluster is None or cluster.env_id != env_id:
                raise ApiError(
                    400,
                    f"Kafka cluster '{cluster_id}' not found in environment '{env_id}'",
                    code="invalid_input",
                    pointer="/crn_pattern",
                )
        return value

    async def list_role_bindings(self, request: Request) -> Response:
        who = caller(request)
        scope = require_query(request, "crn_pattern")
        if not _CRN_FILTER.match(scope):
            raise ApiError(
                400,
                f"Invalid filter 'crn_pattern={scope}': a CRN starts crn://",
                code="invalid_filter",
                parameter="crn_pattern",
            )
        principal = request.query_params.get("principal")
        role = request.query_params.get("role_name")
        inside = scope.rstrip("/") + "/"
        base = self.core.base_url(request)
        with self.core.lock:
            found = [
                rb
                for rb in self.core.state.role_bindings.values()
                if rb.org_id == who.org_id
                and (rb.crn_pattern == scope or rb.crn_pattern.startswith(inside))
                and (principal is None or rb.principal == principal)
                and (role is None or rb.role_name == role)
            ]
            found.sort(key=lambda rb: (rb.created_at, rb.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="RoleBindingList",
                items=found,
                render=lambda rb: self.render(base, rb),
                filters=("principal", "role_name", "crn_pattern"),
            )
        return json_response(body)

    async def create_role_binding(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        role = body.get("role_name")
        if not isinstance(role, str) or not _ROLE.match(role):
            raise ApiError(400, "'role_name' must be a role's name", code="invalid_input", pointer="/role_name")
        base = self.core.base_url(request)
        with self.core.lock:
            principal = self._check_principal(who, body.get("principal"))
            pattern = self._check_pattern(who, body.get("crn_pattern"))
            for rb in self.core.state.role_bindings.values():
                if (rb.org_id, rb.principal, rb.role_name, rb.crn_pattern) == (who.org_id, principal, role, pattern):
                    raise ApiError(
                        409,
                        f"Role binding for principal '{principal}' with role '{role}' on '{pattern}' already exists",
                        code="resource_already_exists",
                        location=f"{base}/iam/v2/role-bindings/{rb.id}",
                    )
            now = self.core.now()
            rb = RoleBinding(
                id=self.core.new_id("rb-"),
                org_id=who.org_id,
                principal=principal,
                role_name=role,
                crn_pattern=pattern,
                created_at=now,
                updated_at=now,
            )
            self.core.state.role_bindings[rb.id] = rb
            self.core.commit()
            rendered = self.render(base, rb)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_role_binding(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            rb = self._binding(who, request.path_params["id"])
            return json_response(self.render(self.core.base_url(request), rb))

    async def delete_role_binding(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            rb = self._binding(who, request.path_params["id"])
            del self.core.state.role_bindings[rb.id]
            self.core.state.tombstones.add(rb.id)
            self.core.commit()
            # the spec answers a delete with the binding that was deleted
            return json_response(self.render(self.core.base_url(request), rb))
