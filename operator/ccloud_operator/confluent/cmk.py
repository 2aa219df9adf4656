"""cmk/v2: Kafka clusters, read only (to validate references and find a cluster's REST endpoint)."""

from __future__ import annotations

from ccloud_operator.confluent.models import ApiModel, EnvironmentReference, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, segment

__all__ = ["Cluster", "ClusterSpec", "ClusterStatus", "Clusters"]


class ClusterSpec(ApiModel):
    display_name: str = ""
    availability: str | None = None
    cloud: str | None = None
    region: str | None = None
    kafka_bootstrap_endpoint: str | None = None
    http_endpoint: str | None = None
    api_endpoint: str | None = None
    environment: EnvironmentReference | None = None


class ClusterStatus(ApiModel):
    phase: str | None = None


class Cluster(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    spec: ClusterSpec = ClusterSpec()
    status: ClusterStatus | None = None

    @property
    def http_endpoint(self) -> str:
        """The cluster's Kafka REST endpoint (where a Kafka API key is checked)."""
        if not self.spec.http_endpoint:
            raise ValueError(f"cluster {self.id} reports no http_endpoint")
        return self.spec.http_endpoint


class Clusters:
    """`/cmk/v2/clusters/{id}?environment=…`."""

    PATH = "/cmk/v2/clusters"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def get(self, id: str, environment_id: str) -> Cluster:
        return await self._api.model(
            Cluster, "GET", f"{self.PATH}/{segment(id)}", params={"environment": environment_id}
        )
