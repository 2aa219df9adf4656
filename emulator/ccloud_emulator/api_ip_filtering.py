"""iam/v2 IP groups and IP filters.

An IP group is a named list of 1 to 25 IPv4 CIDR blocks (`a.b.c.d/n`, no host bits set); an IP
filter binds 1 to 25 IP groups of the organisation to a resource group, `management`, or `multiple`
with a non-empty list of operation groups. Names (1 to 64 letters, digits, spaces and
`[ ] | & + - _ / . ,`) are unique per organisation: 409 pointing at the holder. A filter naming an
unknown group is a 400; deleting a group a filter uses is a 400 naming the filters (the spec lists
no 409 for the delete). A filter's `resource_scope` is the organisation's CRN (the default, and what
an unscoped filter reads back) or an environment's in it. PATCH replaces the fields it names
(`ip_groups` and `operation_groups` whole) and the result is checked as a create would be.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.rest import caller, env_crn, json_object, json_response, org_crn, page, text_field
from ccloud_emulator.state import IpFilter, IpGroup

__all__ = ["IpFilteringApi"]

# the spec's default page_size for both lists
PAGE_SIZE = 25
MAX_ITEMS = 25
_NAME = re.compile(r"^[\w \[\]|&+\-/.,]+$")
RESOURCE_GROUPS = ("management", "multiple")
OPERATION_GROUPS = ("MANAGEMENT", "SCHEMA", "FLINK", "KAFKA_MANAGEMENT", "KAFKA_DATA", "KAFKA_DISCOVERY", "KSQL")


def _invalid(detail: str, pointer: str) -> ApiError:
    return ApiError(400, detail, code="invalid_input", pointer=pointer)


def _name(body: dict[str, Any], field: str, *, required: bool) -> str | None:
    if field not in body and not required:
        return None
    value = text_field(body, field, f"/{field}", required=True, max_length=64)
    if not value.strip() or not _NAME.match(value):
        raise _invalid(f"'{field}' must be 1 to 64 letters, digits, spaces or any of [ ] | & + - _ / . ,", f"/{field}")
    return value


def _list(body: dict[str, Any], field: str, *, minimum: int) -> list[Any]:
    value = body.get(field)
    if not isinstance(value, list):
        raise _invalid(f"'{field}' must be a list", f"/{field}")
    if not minimum <= len(value) <= MAX_ITEMS:
        raise _invalid(f"'{field}' must have {minimum} to {MAX_ITEMS} items", f"/{field}")
    return value


def _cidr_blocks(body: dict[str, Any]) -> list[str]:
    blocks = _list(body, "cidr_blocks", minimum=1)
    for index, block in enumerate(blocks):
        pointer = f"/cidr_blocks/{index}"
        if not isinstance(block, str) or "/" not in block:
            raise _invalid(f"'{block}' is not a CIDR block: write it a.b.c.d/n", pointer)
        try:
            ipaddress.IPv4Network(block, strict=True)
        except ValueError as error:
            raise _invalid(f"'{block}' is not a valid IPv4 CIDR block: {error}", pointer) from None
    if len(set(blocks)) != len(blocks):
        raise _invalid("'cidr_blocks' lists a block twice", "/cidr_blocks")
    return list(blocks)


def _not_found(what: str, item_id: str) -> ApiError:
    return ApiError(404, f"{what} '{item_id}' not found", code="not_found", title="Not Found")


class IpFilteringApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/iam/v2/ip-groups", self.list_groups, methods=["GET"]),
            Route("/iam/v2/ip-groups", self.create_group, methods=["POST"]),
            Route("/iam/v2/ip-groups/{id}", self.get_group, methods=["GET"]),
            Route("/iam/v2/ip-groups/{id}", self.update_group, methods=["PATCH"]),
            Route("/iam/v2/ip-groups/{id}", self.delete_group, methods=["DELETE"]),
            Route("/iam/v2/ip-filters", self.list_filters, methods=["GET"]),
            Route("/iam/v2/ip-filters", self.create_filter, methods=["POST"]),
            Route("/iam/v2/ip-filters/{id}", self.get_filter, methods=["GET"]),
            Route("/iam/v2/ip-filters/{id}", self.update_filter, methods=["PATCH"]),
            Route("/iam/v2/ip-filters/{id}", self.delete_filter, methods=["DELETE"]),
        ]

    # IP groups

    @staticmethod
    def render_group(base: str, group: IpGroup) -> dict[str, Any]:
        return {
            "api_version": "iam/v2",
            "kind": "IpGroup",
            "id": group.id,
            "metadata": {
                "self": f"{base}/iam/v2/ip-groups/{group.id}",
                "resource_name": f"{org_crn(group.org_id)}/ip-group={group.id}",
                "created_at": timestamp(group.created_at),
                "updated_at": timestamp(group.updated_at),
            },
            "group_name": group.group_name,
            "cidr_blocks": list(group.cidr_blocks),
        }

    def _group(self, who: Caller, group_id: str) -> IpGroup:
        group = self.core.state.ip_groups.get(group_id)
        if group is None or group.org_id != who.org_id:
            raise _not_found("IP group", group_id)
        return group

    def _group_name_free(self, who: Caller, name: str, base: str, but: str = "") -> None:
        for group in self.core.state.ip_groups.values():
            if group.org_id == who.org_id and group.group_name == name and group.id != but:
                raise ApiError(
                    409,
                    f"IP group name '{name}' is already in use",
                    code="resource_already_exists",
                    location=f"{base}/iam/v2/ip-groups/{group.id}",
                )

    async def list_groups(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            groups = [g for g in self.core.state.ip_groups.values() if g.org_id == who.org_id]
            groups.sort(key=lambda g: (g.created_at, g.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="IpGroupList",
                items=groups,
                render=lambda g: self.render_group(base, g),
                default_size=PAGE_SIZE,
            )
        return json_response(body)

    async def create_group(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = _name(body, "group_name", required=True)
        assert name is not None
        blocks = _cidr_blocks(body)
        base = self.core.base_url(request)
        with self.core.lock:
            self._group_name_free(who, name, base)
            now = self.core.now()
            group = IpGroup(
                id=self.core.new_id("ipg-"),
                org_id=who.org_id,
                group_name=name,
                cidr_blocks=blocks,
                created_at=now,
                updated_at=now,
            )
            self.core.state.ip_groups[group.id] = group
            self.core.commit()
            rendered = self.render_group(base, group)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_group(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            group = self._group(who, request.path_params["id"])
            return json_response(self.render_group(self.core.base_url(request), group))

    async def update_group(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = _name(body, "group_name", required=False)
        blocks = _cidr_blocks(body) if "cidr_blocks" in body else None
        base = self.core.base_url(request)
        with self.core.lock:
            group = self._group(who, request.path_params["id"])
            if name is not None:
                self._group_name_free(who, name, base, but=group.id)
                group.group_name = name
            if blocks is not None:
                group.cidr_blocks = blocks
            group.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_group(base, group))

    async def delete_group(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            group = self._group(who, request.path_params["id"])
            users = self.core.state.filters_using(group.id)
            if users:
                named = ", ".join(f"{f.filter_name} ({f.id})" for f in users)
                raise ApiError(
                    400,
                    f"IP group '{group.group_name}' ({group.id}) is used by IP filter(s): {named}",
                    code="ip_group_in_use",
                )
            del self.core.state.ip_groups[group.id]
            self.core.state.tombstones.add(group.id)
            self.core.commit()
        return Response(status_code=204)

    # IP filters

    @staticmethod
    def render_filter(base: str, ip_filter: IpFilter) -> dict[str, Any]:
        org = org_crn(ip_filter.org_id)
        return {
            "api_version": "iam/v2",
            "kind": "IpFilter",
            "id": ip_filter.id,
            "metadata": {
                "self": f"{base}/iam/v2/ip-filters/{ip_filter.id}",
                "resource_name": f"{org}/ip-filter={ip_filter.id}",
                "created_at": timestamp(ip_filter.created_at),
                "updated_at": timestamp(ip_filter.updated_at),
            },
            "filter_name": ip_filter.filter_name,
            "resource_group": ip_filter.resource_group,
            "resource_scope": ip_filter.resource_scope,
            "operation_groups": list(ip_filter.operation_groups),
            "ip_groups": [
                {"id": gid, "related": f"{base}/iam/v2/ip-groups/{gid}", "resource_name": f"{org}/ip-group={gid}"}
                for gid in ip_filter.ip_group_ids
            ],
        }

    def _filter(self, who: Caller, filter_id: str) -> IpFilter:
        found = self.core.state.ip_filters.get(filter_id)
        if found is None or found.org_id != who.org_id:
            raise _not_found("IP filter", filter_id)
        return found

    def _filter_name_free(self, who: Caller, name: str, base: str, but: str = "") -> None:
        for found in self.core.state.ip_filters.values():
            if found.org_id == who.org_id and found.filter_name == name and found.id != but:
                raise ApiError(
                    409,
                    f"IP filter name '{name}' is already in use",
                    code="resource_already_exists",
                    location=f"{base}/iam/v2/ip-filters/{found.id}",
                )

    def _scope(self, who: Caller, value: object) -> str:
        org = org_crn(who.org_id)
        if value is None or value == org:
            return org
        if isinstance(value, str) and value.startswith(f"{org}/environment="):
            env_id = value.removeprefix(f"{org}/environment=")
            env = self.core.state.environments.get(env_id)
            if env is not None and env.org_id == who.org_id and value == env_crn(who.org_id, env_id):
                return value
            raise _invalid(f"Environment '{env_id}' not found", "/resource_scope")
        raise _invalid(
            f"'resource_scope' must be {org} or an environment's CRN in it",
            "/resource_scope",
        )

    def _group_refs(self, who: Caller, body: dict[str, Any]) -> list[str]:
        refs = _list(body, "ip_groups", minimum=1)
        ids: list[str] = []
        for index, ref in enumerate(refs):
            pointer = f"/ip_groups/{index}/id"
            group_id = ref.get("id") if isinstance(ref, dict) else None
            if not isinstance(group_id, str) or not group_id:
                raise _invalid('each of \'ip_groups\' is a reference {"id": "ipg-…"}', pointer)
            group = self.core.state.ip_groups.get(group_id)
            if group is None or group.org_id != who.org_id:
                raise _invalid(f"IP group '{group_id}' not found", pointer)
            if group_id in ids:
                raise _invalid(f"IP group '{group_id}' is listed twice", pointer)
            ids.append(group_id)
        return ids

    @staticmethod
    def _resource_group(value: object) -> str:
        if not isinstance(value, str) or value.lower() not in RESOURCE_GROUPS:
            raise _invalid("'resource_group' must be management or multiple", "/resource_group")
        return value.lower()

    @staticmethod
    def _operation_groups(value: object) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid("'operation_groups' must be a list of operation groups", "/operation_groups")
        groups = [v.upper() for v in value]
        for index, group in enumerate(groups):
            if group not in OPERATION_GROUPS:
                raise _invalid(
                    f"'{value[index]}' is not an operation group: one of {', '.join(OPERATION_GROUPS)}",
                    f"/operation_groups/{index}",
                )
        if len(set(groups)) != len(groups):
            raise _invalid("'operation_groups' lists a group twice", "/operation_groups")
        return groups

    @staticmethod
    def _consistent(resource_group: str, operation_groups: list[str]) -> None:
        if resource_group == "management" and operation_groups:
            raise _invalid("'operation_groups' needs resource_group 'multiple'", "/operation_groups")
        if resource_group == "multiple" and not operation_groups:
            raise _invalid("resource_group 'multiple' needs at least one of 'operation_groups'", "/operation_groups")

    async def list_filters(self, request: Request) -> Response:
        who = caller(request)
        scope = request.query_params.get("resource_scope")
        parents = request.query_params.get("include_parent_scopes")
        if parents is not None and parents not in ("true", "false"):
            raise ApiError(
                400,
                f"Invalid filter 'include_parent_scopes={parents}': must be true or false",
                code="invalid_filter",
                parameter="include_parent_scopes",
            )
        with_parents = parents == "true"
        if with_parents and not scope:
            raise ApiError(
                400,
                "include_parent_scopes needs resource_scope",
                code="invalid_filter",
                parameter="include_parent_scopes",
            )
        org = org_crn(who.org_id)
        wanted = {scope, org} if with_parents else {scope}
        base = self.core.base_url(request)
        with self.core.lock:
            found = [
                f
                for f in self.core.state.ip_filters.values()
                if f.org_id == who.org_id and (not scope or f.resource_scope in wanted)
            ]
            found.sort(key=lambda f: (f.created_at, f.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="IpFilterList",
                items=found,
                render=lambda f: self.render_filter(base, f),
                filters=("resource_scope", "include_parent_scopes"),
                default_size=PAGE_SIZE,
            )
        return json_response(body)

    async def create_filter(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = _name(body, "filter_name", required=True)
        assert name is not None
        resource_group = self._resource_group(body.get("resource_group"))
        operation_groups = self._operation_groups(body.get("operation_groups"))
        self._consistent(resource_group, operation_groups)
        base = self.core.base_url(request)
        with self.core.lock:
            scope = self._scope(who, body.get("resource_scope"))
            group_ids = self._group_refs(who, body)
            self._filter_name_free(who, name, base)
            now = self.core.now()
            created = IpFilter(
                id=self.core.new_id("ipf-"),
                org_id=who.org_id,
                filter_name=name,
                resource_group=resource_group,
                resource_scope=scope,
                operation_groups=operation_groups,
                ip_group_ids=group_ids,
                created_at=now,
                updated_at=now,
            )
            self.core.state.ip_filters[created.id] = created
            self.core.commit()
            rendered = self.render_filter(base, created)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_filter(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            found = self._filter(who, request.path_params["id"])
            return json_response(self.render_filter(self.core.base_url(request), found))

    async def update_filter(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = _name(body, "filter_name", required=False)
        base = self.core.base_url(request)
        with self.core.lock:
            found = self._filter(who, request.path_params["id"])
            resource_group = (
                self._resource_group(body["resource_group"]) if "resource_group" in body else found.resource_group
            )
            operation_groups = (
                self._operation_groups(body["operation_groups"])
                if "operation_groups" in body
                else found.operation_groups
            )
            self._consistent(resource_group, operation_groups)
            scope = self._scope(who, body["resource_scope"]) if "resource_scope" in body else found.resource_scope
            group_ids = self._group_refs(who, body) if "ip_groups" in body else found.ip_group_ids
            if name is not None:
                self._filter_name_free(who, name, base, but=found.id)
                found.filter_name = name
            found.resource_group = resource_group
            found.operation_groups = list(operation_groups)
            found.resource_scope = scope
            found.ip_group_ids = list(group_ids)
            found.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_filter(base, found))

    async def delete_filter(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            found = self._filter(who, request.path_params["id"])
            del self.core.state.ip_filters[found.id]
            self.core.state.tombstones.add(found.id)
            self.core.commit()
        return Response(status_code=204)
