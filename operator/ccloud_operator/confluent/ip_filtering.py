"""iam/v2 IP groups (named lists of CIDR blocks) and IP filters (IP groups bound to resources).

A filter's `resource_group` is `management`, or `multiple` with `operation_groups` (MANAGEMENT,
SCHEMA, FLINK, KAFKA_MANAGEMENT, KAFKA_DATA, KAFKA_DISCOVERY, KSQL); its `resource_scope` is the
organisation's CRN (what an unscoped filter reads back) or an environment's. A PATCH replaces the
lists it carries whole. Confluent refuses (400) a filter naming an unknown group, and the delete of a
group a filter still uses.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from ccloud_operator.confluent.models import ApiModel, ObjectMeta, ObjectReference
from ccloud_operator.confluent.transport import ApiTransport, Params, segment

__all__ = ["MANAGEMENT", "MULTIPLE", "IpFilter", "IpFilters", "IpGroup", "IpGroups"]

# the resource groups a filter covers
MANAGEMENT = "management"
MULTIPLE = "multiple"


class IpGroup(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    group_name: str = ""
    cidr_blocks: list[str] = []


class IpFilter(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    filter_name: str = ""
    resource_group: str = ""
    resource_scope: str | None = None
    operation_groups: list[str] = []
    ip_groups: list[ObjectReference] = []

    @property
    def ip_group_ids(self) -> list[str]:
        return [group.id for group in self.ip_groups]


class IpGroups:
    """`/iam/v2/ip-groups`."""

    PATH = "/iam/v2/ip-groups"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(self, group_name: str, cidr_blocks: Sequence[str]) -> IpGroup:
        body = {"group_name": group_name, "cidr_blocks": list(cidr_blocks)}
        return await self._api.model(IpGroup, "POST", self.PATH, json=body)

    async def get(self, id: str) -> IpGroup:
        return await self._api.model(IpGroup, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self) -> builtins.list[IpGroup]:
        return await self._api.paginate(IpGroup, self.PATH)

    async def find_by_name(self, group_name: str) -> IpGroup | None:
        """The group called `group_name` (the list has no name filter: this reads every page)."""
        found = [g for g in await self.list() if g.group_name == group_name]
        return found[0] if found else None

    async def update(
        self, id: str, *, group_name: str | None = None, cidr_blocks: Sequence[str] | None = None
    ) -> IpGroup:
        body: dict[str, object] = {}
        if group_name is not None:
            body["group_name"] = group_name
        if cidr_blocks is not None:
            body["cidr_blocks"] = list(cidr_blocks)
        return await self._api.model(IpGroup, "PATCH", f"{self.PATH}/{segment(id)}", json=body)

    async def delete(self, id: str) -> None:
        """Delete it; `ValidationFailed` while a filter uses it (the detail names them), `NotFound`
        if it is already gone."""
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")


class IpFilters:
    """`/iam/v2/ip-filters`."""

    PATH = "/iam/v2/ip-filters"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(
        self,
        filter_name: str,
        resource_group: str,
        ip_group_ids: Sequence[str],
        *,
        operation_groups: Sequence[str] = (),
        resource_scope: str | None = None,
    ) -> IpFilter:
        body: dict[str, object] = {
            "filter_name": filter_name,
            "resource_group": resource_group,
            "ip_groups": [{"id": group_id} for group_id in ip_group_ids],
        }
        if operation_groups:
            body["operation_groups"] = list(operation_groups)
        if resource_scope:
            body["resource_scope"] = resource_scope
        return await self._api.model(IpFilter, "POST", self.PATH, json=body)

    async def get(self, id: str) -> IpFilter:
        return await self._api.model(IpFilter, "GET", f"{self.PATH}/{segment(id)}")

    async def list(
        self, *, resource_scope: str | None = None, include_parent_scopes: bool = False
    ) -> builtins.list[IpFilter]:
        """Every filter, or those of `resource_scope` (and, with `include_parent_scopes`, the
        organisation's too)."""
        params: Params = {}
        if resource_scope:
            params = {"resource_scope": resource_scope}
            if include_parent_scopes:
                params = {**params, "include_parent_scopes": "true"}
        elif include_parent_scopes:
            raise ValueError("include_parent_scopes needs a resource_scope")
        return await self._api.paginate(IpFilter, self.PATH, params)

    async def find_by_name(self, filter_name: str) -> IpFilter | None:
        found = [f for f in await self.list() if f.filter_name == filter_name]
        return found[0] if found else None

    async def update(
        self,
        id: str,
        *,
        filter_name: str | None = None,
        resource_group: str | None = None,
        ip_group_ids: Sequence[str] | None = None,
        operation_groups: Sequence[str] | None = None,
        resource_scope: str | None = None,
    ) -> IpFilter:
        """Change what is given; lists replace what the filter holds (`operation_groups=[]` empties
        them, as moving to `management` requires)."""
        body: dict[str, object] = {}
        if filter_name is not None:
            body["filter_name"] = filter_name
        if resource_group is not None:
            body["resource_group"] = resource_group
        if ip_group_ids is not None:
            body["ip_groups"] = [{"id": group_id} for group_id in ip_group_ids]
        if operation_groups is not None:
            body["operation_groups"] = list(operation_groups)
        if resource_scope is not None:
            body["resource_scope"] = resource_scope
        return await self._api.model(IpFilter, "PATCH", f"{self.PATH}/{segment(id)}", json=body)

    async def delete(self, id: str) -> None:
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")
