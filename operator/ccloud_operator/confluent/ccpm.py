"""ccpm/v1: environment-scoped custom connect plugins, their versions, and presigned upload URLs.

A version is created from an uploaded archive (`Uploads`) and is usable once its
`status.phase` is READY; FAILED carries Confluent's `error_message`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from enum import StrEnum

from ccloud_operator.confluent.models import ApiModel, EnvironmentReference, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, Params, segment
from ccloud_operator.confluent.uploads import Cloud, ContentFormat, PresignedUrl

__all__ = [
    "ConnectorClass",
    "Plugin",
    "PluginSpec",
    "PluginVersion",
    "PluginVersionSpec",
    "PluginVersionStatus",
    "PluginVersions",
    "Plugins",
    "UploadSource",
    "VersionPhase",
]


class VersionPhase(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class PluginSpec(ApiModel):
    display_name: str = ""
    description: str = ""
    cloud: str | None = None
    runtime_language: str | None = None
    environment: EnvironmentReference | None = None


class Plugin(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    spec: PluginSpec = PluginSpec()


class ConnectorClass(ApiModel):
    class_name: str
    type: str  # SOURCE | SINK


class UploadSource(ApiModel):
    location: str = "PRESIGNED_URL_LOCATION"
    upload_id: str = ""


class PluginVersionSpec(ApiModel):
    version: str = ""
    sensitive_config_properties: list[str] = []
    documentation_link: str | None = None
    content_format: str | None = None
    connector_classes: list[ConnectorClass] = []
    upload_source: UploadSource | None = None
    environment: EnvironmentReference | None = None


class PluginVersionStatus(ApiModel):
    # Extensible on Confluent's side: a phase it adds later stays a plain string.
    phase: VersionPhase | str = VersionPhase.PROCESSING
    error_message: str | None = None


class PluginVersion(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    spec: PluginVersionSpec = PluginVersionSpec()
    status: PluginVersionStatus = PluginVersionStatus()

    @property
    def phase(self) -> VersionPhase | str:
        return self.status.phase


class Plugins:
    """`/ccpm/v1/plugins` and `/ccpm/v1/presigned-upload-url`."""

    PATH = "/ccpm/v1/plugins"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(self, display_name: str, cloud: Cloud | str, environment_id: str, description: str = "") -> Plugin:
        spec = {
            "display_name": display_name,
            "description": description,
            "cloud": str(cloud).upper(),
            "environment": {"id": environment_id},
        }
        return await self._api.model(Plugin, "POST", self.PATH, json={"spec": spec})

    async def get(self, id: str, environment_id: str) -> Plugin:
        return await self._api.model(
            Plugin, "GET", f"{self.PATH}/{segment(id)}", params={"environment": environment_id}
        )

    async def list(self, environment_id: str, cloud: Cloud | str | None = None) -> builtins.list[Plugin]:
        params: Params = {"environment": environment_id}
        if cloud:
            params = {**params, "spec.cloud": str(cloud).upper()}
        return await self._api.paginate(Plugin, self.PATH, params)

    async def find_by_display_name(self, environment_id: str, name: str) -> Plugin | None:
        found = [p for p in await self.list(environment_id) if p.spec.display_name == name]
        return found[0] if found else None

    async def update(
        self, id: str, environment_id: str, display_name: str | None = None, description: str | None = None
    ) -> Plugin:
        spec: dict[str, object] = {"environment": {"id": environment_id}}
        spec |= {k: v for k, v in (("display_name", display_name), ("description", description)) if v is not None}
        # The environment goes in the body here, not in the query: Confluent's spec says so.
        return await self._api.model(Plugin, "PATCH", f"{self.PATH}/{segment(id)}", json={"spec": spec})

    async def delete(self, id: str, environment_id: str) -> None:
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}", params={"environment": environment_id})

    async def presigned_upload_url(
        self, content_format: ContentFormat | str, cloud: Cloud | str, environment_id: str
    ) -> PresignedUrl:
        body = {
            "content_format": str(content_format).upper(),
            "cloud": str(cloud).upper(),
            "environment": {"id": environment_id},
        }
        return await self._api.model(PresignedUrl, "POST", "/ccpm/v1/presigned-upload-url", json=body)


class PluginVersions:
    """`/ccpm/v1/plugins/{plugin_id}/versions` (versions are immutable: no update)."""

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    @staticmethod
    def _path(plugin_id: str) -> str:
        return f"{Plugins.PATH}/{segment(plugin_id)}/versions"

    async def create(
        self,
        plugin_id: str,
        environment_id: str,
        version: str,
        connector_classes: Iterable[ConnectorClass],
        upload_id: str,
        sensitive_config_properties: Iterable[str] = (),
        documentation_link: str | None = None,
    ) -> PluginVersion:
        spec = PluginVersionSpec(
            version=version,
            connector_classes=list(connector_classes),
            upload_source=UploadSource(upload_id=upload_id),
            environment=EnvironmentReference(id=environment_id),
            sensitive_config_properties=list(sensitive_config_properties),
            documentation_link=documentation_link,
        )
        return await self._api.model(PluginVersion, "POST", self._path(plugin_id), json={"spec": spec.payload()})

    async def get(self, plugin_id: str, id: str, environment_id: str) -> PluginVersion:
        return await self._api.model(
            PluginVersion, "GET", f"{self._path(plugin_id)}/{segment(id)}", params={"environment": environment_id}
        )

    async def list(self, plugin_id: str, environment_id: str) -> builtins.list[PluginVersion]:
        return await self._api.paginate(
            PluginVersion, self._path(plugin_id), {"environment": environment_id}, sized=False
        )

    async def delete(self, plugin_id: str, id: str, environment_id: str) -> None:
        await self._api.request(
            "DELETE", f"{self._path(plugin_id)}/{segment(id)}", params={"environment": environment_id}
        )
