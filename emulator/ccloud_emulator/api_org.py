"""org/v2 organizations (read) and environments, cmk/v2 Kafka clusters (read), and the Kafka REST topic list.

A Cloud API key sees its own organisation only: the organizations list holds that one, which is how
a client learns the organisation ID (also in every environment's CRN) to build CRNs with.

A cluster reads as a real one does: its CRN ends `/cloud-cluster=lkc-…/kafka=lkc-…`, its environment
and network are typed references, and its config carries `max_ecku` (or `cku` when Dedicated).
The topic list exists so a client can check that a new Kafka API key has propagated: the cluster's
`http_endpoint` points at the emulator itself. Everything is scoped to the caller's organisation.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.rest import (
    caller,
    env_crn,
    env_ref,
    json_object,
    json_response,
    org_crn,
    page,
    require_query,
    text_field,
)
from ccloud_emulator.state import ClusterKind, Environment, KafkaCluster, Organization

__all__ = ["OrgApi"]

# What an elastic cluster scales up to unless told otherwise; Dedicated clusters have CKUs instead.
# A real Basic cluster reads "max_ecku": 50; the others are the emulator's choice.
_MAX_ECKU = {
    ClusterKind.BASIC: 50,
    ClusterKind.STANDARD: 10,
    ClusterKind.ENTERPRISE: 10,
    ClusterKind.FREIGHT: 50,
}
_DEDICATED_CKU = 1


def _not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", code="resource_not_found", title="Not Found")


def _cluster_config(kind: ClusterKind) -> dict[str, Any]:
    if kind is ClusterKind.DEDICATED:
        return {"kind": kind.value, "cku": _DEDICATED_CKU}
    return {"kind": kind.value, "max_ecku": _MAX_ECKU[kind]}


class OrgApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/org/v2/organizations", self.list_organizations, methods=["GET"]),
            Route("/org/v2/organizations/{id}", self.get_organization, methods=["GET"]),
            Route("/org/v2/environments", self.list_environments, methods=["GET"]),
            Route("/org/v2/environments", self.create_environment, methods=["POST"]),
            Route("/org/v2/environments/{id}", self.get_environment, methods=["GET"]),
            Route("/org/v2/environments/{id}", self.update_environment, methods=["PATCH"]),
            Route("/org/v2/environments/{id}", self.delete_environment, methods=["DELETE"]),
            Route("/cmk/v2/clusters", self.list_clusters, methods=["GET"]),
            Route("/cmk/v2/clusters/{id}", self.get_cluster, methods=["GET"]),
            Route("/kafka/v3/clusters/{cluster_id}/topics", self.list_topics, methods=["GET"]),
        ]

    # organizations

    @staticmethod
    def render_organization(base: str, org: Organization) -> dict[str, Any]:
        return {
            "api_version": "org/v2",
            "kind": "Organization",
            "id": org.id,
            "metadata": {
                "self": f"{base}/org/v2/organizations/{org.id}",
                "resource_name": org_crn(org.id),
                "created_at": timestamp(org.created_at),
                "updated_at": timestamp(org.created_at),
            },
            "display_name": org.display_name,
            "jit_enabled": False,
        }

    async def list_organizations(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            orgs = [o for o in self.core.state.organizations.values() if o.id == who.org_id]
            body = page(
                request,
                base,
                api_version="org/v2",
                kind="OrganizationList",
                items=orgs,
                render=lambda o: self.render_organization(base, o),
            )
        return json_response(body)

    async def get_organization(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            org = self.core.state.organizations.get(request.path_params["id"])
            if org is None or org.id != who.org_id:
                raise _not_found()
            return json_response(self.render_organization(self.core.base_url(request), org))

    # environments

    def render_environment(self, base: str, env: Environment) -> dict[str, Any]:
        return {
            "api_version": "org/v2",
            "kind": "Environment",
            "id": env.id,
            "metadata": {
                "self": f"{base}/org/v2/environments/{env.id}",
                "resource_name": env_crn(env.org_id, env.id),
                "created_at": timestamp(env.created_at),
                "updated_at": timestamp(env.updated_at),
            },
            "display_name": env.display_name,
            "stream_governance_config": {"package": env.stream_governance},
        }

    def _environment(self, org_id: str, env_id: str) -> Environment:
        env = self.core.state.environments.get(env_id)
        if env is None or env.org_id != org_id:
            raise _not_found()
        return env

    async def list_environments(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            envs = [e for e in self.core.state.environments.values() if e.org_id == who.org_id]
            envs.sort(key=lambda e: (e.created_at, e.id))
            body = page(
                request,
                base,
                api_version="org/v2",
                kind="EnvironmentList",
                items=envs,
                render=lambda e: self.render_environment(base, e),
            )
        return json_response(body)

    async def get_environment(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            env = self._environment(who.org_id, request.path_params["id"])
            return json_response(self.render_environment(self.core.base_url(request), env))

    async def create_environment(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = text_field(body, "display_name", "/display_name", required=True, max_length=64)
        governance = body.get("stream_governance_config") or {}
        package = governance.get("package", "ESSENTIALS") if isinstance(governance, dict) else "ESSENTIALS"
        base = self.core.base_url(request)
        with self.core.lock:
            for env in self.core.state.environments.values():
                if env.org_id == who.org_id and env.display_name == name:
                    raise ApiError(
                        409,
                        f"Environment name '{name}' is already in use",
                        location=f"{base}/org/v2/environments/{env.id}",
                    )
            now = self.core.now()
            env = Environment(
                id=self.core.new_id("env-"),
                org_id=who.org_id,
                display_name=name,
                created_at=now,
                updated_at=now,
                stream_governance=str(package),
            )
            self.core.state.environments[env.id] = env
            self.core.commit()
            rendered = self.render_environment(base, env)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def update_environment(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        with self.core.lock:
            env = self._environment(who.org_id, request.path_params["id"])
            if "display_name" in body:
                env.display_name = text_field(body, "display_name", "/display_name", required=True, max_length=64)
            governance = body.get("stream_governance_config")
            if isinstance(governance, dict) and isinstance(governance.get("package"), str):
                env.stream_governance = governance["package"]
            env.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_environment(self.core.base_url(request), env))

    async def delete_environment(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            env = self._environment(who.org_id, request.path_params["id"])
            state = self.core.state
            # Deleting an environment deletes what lives in it.
            for cluster_id in [c.id for c in state.clusters.values() if c.env_id == env.id]:
                del state.clusters[cluster_id]
            for key in [k for k, c in state.connectors.items() if c.env_id == env.id]:
                del state.connectors[key]
            for vid in [v.id for v in state.ccpm_versions.values() if v.env_id == env.id]:
                del state.ccpm_versions[vid]
            for pid in [p.id for p in state.ccpm_plugins.values() if p.env_id == env.id]:
                del state.ccpm_plugins[pid]
            # and the access granted on it: role bindings in its scope, IP filters scoped to it
            scope = env_crn(env.org_id, env.id)
            state.delete_role_bindings(lambda rb: rb.crn_pattern == scope or rb.crn_pattern.startswith(scope + "/"))
            for fid in [f.id for f in state.ip_filters.values() if f.resource_scope == scope]:
                del state.ip_filters[fid]
                state.tombstones.add(fid)
            del state.environments[env.id]
            self.core.commit()
        return Response(status_code=204)

    # Kafka clusters

    def render_cluster(self, base: str, org_id: str, cluster: KafkaCluster) -> dict[str, Any]:
        env = env_crn(org_id, cluster.env_id)
        spec: dict[str, Any] = {
            "display_name": cluster.display_name,
            "availability": cluster.availability,
            "cloud": cluster.cloud.value,
            "region": cluster.region,
            "config": _cluster_config(cluster.kind),
            "kafka_bootstrap_endpoint": cluster.bootstrap,
            "http_endpoint": base,
            "api_endpoint": base,
            "endpoints": {
                "PUBLIC": {
                    "kafka_bootstrap_endpoint": cluster.bootstrap,
                    "http_endpoint": base,
                    "connection_type": "PUBLIC",
                }
            },
            "deletion_protection": cluster.deletion_protection,
            "environment": {**env_ref(base, org_id, cluster.env_id), "api_version": "org/v2", "kind": "Environment"},
            "network": {
                "id": cluster.network_id,
                "environment": cluster.env_id,
                "related": f"{base}/networking/v1/networks/{cluster.network_id}",
                "resource_name": f"{env}/network={cluster.network_id}",
                "api_version": "networking/v1",
                "kind": "Network",
            },
        }
        status: dict[str, Any] = {"phase": "PROVISIONED"}
        if cluster.kind is ClusterKind.DEDICATED:
            status["cku"] = spec["config"]["cku"]
        return {
            "api_version": "cmk/v2",
            "kind": "Cluster",
            "id": cluster.id,
            "metadata": {
                "self": f"{base}/cmk/v2/clusters/{cluster.id}",
                # Terraform builds its rbac_crn by cutting "/kafka=…" off this name and fails without it.
                "resource_name": f"{env}/cloud-cluster={cluster.id}/kafka={cluster.id}",
                "created_at": timestamp(cluster.created_at),
                "updated_at": timestamp(cluster.updated_at),
            },
            "spec": spec,
            "status": status,
        }

    async def list_clusters(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        base = self.core.base_url(request)
        with self.core.lock:
            self._environment(who.org_id, env_id)
            clusters = [c for c in self.core.state.clusters.values() if c.env_id == env_id]
            clusters.sort(key=lambda c: (c.created_at, c.id))
            body = page(
                request,
                base,
                api_version="cmk/v2",
                kind="ClusterList",
                items=clusters,
                render=lambda c: self.render_cluster(base, who.org_id, c),
                filters=("environment",),
            )
        return json_response(body)

    async def get_cluster(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        with self.core.lock:
            self._environment(who.org_id, env_id)
            cluster = self.core.state.clusters.get(request.path_params["id"])
            if cluster is None or cluster.env_id != env_id:
                raise _not_found()
            return json_response(self.render_cluster(self.core.base_url(request), who.org_id, cluster))

    async def list_topics(self, request: Request) -> Response:
        cluster_id = request.path_params["cluster_id"]
        base = self.core.base_url(request)
        with self.core.lock:
            if cluster_id not in self.core.state.clusters:
                raise ApiError(404, "Cluster not found")
        return json_response(
            {
                "kind": "KafkaTopicList",
                "metadata": {"self": f"{base}/kafka/v3/clusters/{cluster_id}/topics", "next": None},
                "data": [],
            }
        )
