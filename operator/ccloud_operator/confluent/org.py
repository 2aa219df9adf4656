"""org/v2: environments, read only (to validate references; listing them also probes a Cloud key)."""

from __future__ import annotations

import builtins

from ccloud_operator.confluent.models import ApiModel, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, segment

__all__ = ["Environment", "Environments", "StreamGovernanceConfig"]


class StreamGovernanceConfig(ApiModel):
    package: str | None = None


class Environment(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    stream_governance_config: StreamGovernanceConfig | None = None


class Environments:
    """`/org/v2/environments`."""

    PATH = "/org/v2/environments"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def list(self) -> builtins.list[Environment]:
        return await self._api.paginate(Environment, self.PATH)

    async def get(self, id: str) -> Environment:
        return await self._api.model(Environment, "GET", f"{self.PATH}/{segment(id)}")
