"""org/v2: organizations and environments, read only.

Environments are read to validate references (and listing them probes a Cloud key); the
organisation is read for its ID, which every CRN starts with (`Organizations.current_id`).
"""

from __future__ import annotations

import builtins

from ccloud_operator.confluent.crn import organization_of
from ccloud_operator.confluent.errors import ApiError
from ccloud_operator.confluent.models import ApiModel, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, segment

__all__ = ["Environment", "Environments", "Organization", "Organizations", "StreamGovernanceConfig"]


class Organization(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    jit_enabled: bool | None = None


class Organizations:
    """`/org/v2/organizations`: a Cloud API key sees the one organisation it belongs to."""

    PATH = "/org/v2/organizations"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api
        self._current: Organization | None = None

    async def list(self) -> builtins.list[Organization]:
        return await self._api.paginate(Organization, self.PATH)

    async def get(self, id: str) -> Organization:
        return await self._api.model(Organization, "GET", f"{self.PATH}/{segment(id)}")

    async def current(self) -> Organization:
        """The credential's organisation, read once: a key never changes organisation."""
        if self._current is None:
            found = await self.list()
            if len(found) != 1:
                raise ApiError(
                    200,
                    "ambiguous_organization",
                    f"GET {self.PATH} listed {len(found)} organizations: a Cloud API key belongs to one",
                )
            self._current = found[0]
        return self._current

    async def current_id(self) -> str:
        """The credential's organisation ID, the `organization=` of every CRN."""
        return (await self.current()).id


class StreamGovernanceConfig(ApiModel):
    package: str | None = None


class Environment(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    stream_governance_config: StreamGovernanceConfig | None = None

    @property
    def organization_id(self) -> str | None:
        """The organisation the environment's CRN (`metadata.resource_name`) names."""
        return organization_of(self.metadata.resource_name if self.metadata else None)


class Environments:
    """`/org/v2/environments`."""

    PATH = "/org/v2/environments"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def list(self) -> builtins.list[Environment]:
        return await self._api.paginate(Environment, self.PATH)

    async def get(self, id: str) -> Environment:
        return await self._api.model(Environment, "GET", f"{self.PATH}/{segment(id)}")
