"""connect/v1 custom connector plugins: the legacy, organisation-scoped plugin API.

One plugin is one archive (no versions); its presigned URL comes from
`/connect/v1/presigned-upload-url`, and the runtimes a custom connector can pick from are listed
under `/connect/v1/custom-connector-runtimes`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from ccloud_operator.confluent.models import ApiModel, ObjectMeta
from ccloud_operator.confluent.transport import ApiTransport, Params, segment
from ccloud_operator.confluent.uploads import Cloud, ContentFormat, PresignedUrl

__all__ = ["CustomConnectorPlugin", "CustomConnectorRuntime", "CustomPlugins"]


class CustomConnectorPlugin(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    display_name: str = ""
    description: str = ""
    documentation_link: str | None = None
    connector_class: str = ""
    connector_type: str = ""  # SOURCE | SINK
    cloud: str | None = None
    sensitive_config_properties: list[str] = []
    content_format: str | None = None
    runtime_language: str | None = None


class CustomConnectorRuntime(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str | None = None
    custom_connect_plugin_runtime_name: str = ""
    runtime_ak_version: str | None = None
    supported_java_versions: list[str] = []
    product_maturity: str | None = None
    end_of_life_at: str | None = None
    description: str | None = None


class CustomPlugins:
    """`/connect/v1/custom-connector-plugins`, its presigned URL, and the runtimes."""

    PATH = "/connect/v1/custom-connector-plugins"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(
        self,
        display_name: str,
        connector_class: str,
        connector_type: str,
        upload_id: str,
        *,
        cloud: Cloud | str = Cloud.AWS,
        description: str = "",
        documentation_link: str | None = None,
        sensitive_config_properties: Iterable[str] = (),
        runtime_language: str | None = None,
    ) -> CustomConnectorPlugin:
        body: dict[str, object] = {
            "display_name": display_name,
            "description": description,
            "connector_class": connector_class,
            "connector_type": connector_type.upper(),
            "cloud": str(cloud).upper(),
            "sensitive_config_properties": list(sensitive_config_properties),
            "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": upload_id},
        }
        if documentation_link is not None:
            body["documentation_link"] = documentation_link
        if runtime_language is not None:
            body["runtime_language"] = runtime_language
        return await self._api.model(CustomConnectorPlugin, "POST", self.PATH, json=body)

    async def get(self, id: str) -> CustomConnectorPlugin:
        return await self._api.model(CustomConnectorPlugin, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self, cloud: Cloud | str | None = None) -> builtins.list[CustomConnectorPlugin]:
        params: Params = {"cloud": str(cloud).upper()} if cloud else {}
        return await self._api.paginate(CustomConnectorPlugin, self.PATH, params)

    async def find_by_display_name(self, name: str) -> CustomConnectorPlugin | None:
        found = [p for p in await self.list() if p.display_name == name]
        return found[0] if found else None

    async def update(
        self,
        id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        documentation_link: str | None = None,
        sensitive_config_properties: Iterable[str] | None = None,
    ) -> CustomConnectorPlugin:
        body: dict[str, object] = {
            k: v
            for k, v in (
                ("display_name", display_name),
                ("description", description),
                ("documentation_link", documentation_link),
            )
            if v is not None
        }
        if sensitive_config_properties is not None:
            body["sensitive_config_properties"] = list(sensitive_config_properties)
        return await self._api.model(CustomConnectorPlugin, "PATCH", f"{self.PATH}/{segment(id)}", json=body)

    async def delete(self, id: str) -> None:
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")

    async def presigned_upload_url(
        self, content_format: ContentFormat | str, cloud: Cloud | str = Cloud.AWS
    ) -> PresignedUrl:
        body = {"content_format": str(content_format).upper(), "cloud": str(cloud).upper()}
        return await self._api.model(PresignedUrl, "POST", "/connect/v1/presigned-upload-url", json=body)

    async def runtimes(self) -> builtins.list[CustomConnectorRuntime]:
        return await self._api.paginate(CustomConnectorRuntime, "/connect/v1/custom-connector-runtimes")
