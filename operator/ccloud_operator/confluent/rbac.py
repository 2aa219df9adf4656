"""iam/v2 role bindings: a principal (`User:sa-…`, `User:u-…`, `Group:…`), a role, a CRN pattern.

A binding is immutable: changing the role or the pattern means creating another and deleting this
one. Listing needs a CRN pattern (Confluent requires one): it finds the bindings on that scope and
inside it, and defaults to the credential's organisation, read once from `organizations`.
"""

from __future__ import annotations

import builtins

from ccloud_operator.confluent.crn import organization_crn
from ccloud_operator.confluent.models import ApiModel, ObjectMeta
from ccloud_operator.confluent.org import Organizations
from ccloud_operator.confluent.transport import ApiTransport, Params, segment

__all__ = ["RoleBinding", "RoleBindings"]


class RoleBinding(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    principal: str = ""
    role_name: str = ""
    crn_pattern: str = ""


class RoleBindings:
    """`/iam/v2/role-bindings` (create, read, list, delete: no update)."""

    PATH = "/iam/v2/role-bindings"

    def __init__(self, api: ApiTransport, organizations: Organizations) -> None:
        self._api = api
        self._organizations = organizations

    async def create(self, principal: str, role_name: str, crn_pattern: str) -> RoleBinding:
        """Bind; `Conflict` (with `location`) when this very binding exists already."""
        body = {"principal": principal, "role_name": role_name, "crn_pattern": crn_pattern}
        return await self._api.model(RoleBinding, "POST", self.PATH, json=body)

    async def get(self, id: str) -> RoleBinding:
        return await self._api.model(RoleBinding, "GET", f"{self.PATH}/{segment(id)}")

    async def list(
        self, *, principal: str | None = None, role_name: str | None = None, crn_pattern: str | None = None
    ) -> builtins.list[RoleBinding]:
        """Every binding on `crn_pattern` or inside it (default: the whole organisation), of
        `principal` and with `role_name` when given (exact match), across every page."""
        scope = crn_pattern or organization_crn(await self._organizations.current_id())
        params: Params = {
            k: v for k, v in (("principal", principal), ("role_name", role_name), ("crn_pattern", scope)) if v
        }
        return await self._api.paginate(RoleBinding, self.PATH, params)

    async def find(self, principal: str, role_name: str, crn_pattern: str) -> RoleBinding | None:
        """The binding of exactly this principal, role and pattern, if there is one."""
        for rb in await self.list(principal=principal, role_name=role_name, crn_pattern=crn_pattern):
            if (rb.principal, rb.role_name, rb.crn_pattern) == (principal, role_name, crn_pattern):
                return rb
        return None

    async def delete(self, id: str) -> None:
        """Unbind; `NotFound` if it is already gone."""
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")
