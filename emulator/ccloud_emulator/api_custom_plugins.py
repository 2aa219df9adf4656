"""connect/v1 custom connector plugins (the legacy, org-scoped API), their presigned upload URL, and
the custom connector runtimes.

A plugin takes its archive through a presigned upload (see `uploads`), which it uses up, and is
checked when it is created: the upload must have arrived and be a zip or jar (this API has no status
to fail later in, so a bad archive is a 400). Display names are unique per
organisation; a plugin that a connector uses cannot be deleted. Runtimes are a fixed list.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError, plugin_not_found
from ccloud_emulator.rest import (
    JAVA_CLASS,
    caller,
    enum_field,
    enum_filter,
    json_object,
    json_response,
    link_field,
    org_crn,
    page,
    property_names,
    text_field,
)
from ccloud_emulator.state import Cloud, ContentFormat, LegacyPlugin, UploadApi
from ccloud_emulator.uploads import consume, new_upload, presign, upload_source

__all__ = ["CustomPluginApi"]

_RUNTIMES = [
    {
        "id": "ccr-3-9-0",
        "custom_connect_plugin_runtime_name": "3.9.0",
        "runtime_ak_version": "3.9.0",
        "supported_java_versions": ["11", "17"],
        "product_maturity": "GA",
        "end_of_life_at": "2027-06-30T00:00:00.000000Z",
        "description": "Apache Kafka 3.9 runtime",
    },
    {
        "id": "ccr-4-2",
        "custom_connect_plugin_runtime_name": "4.2",
        "runtime_ak_version": "4.2.0",
        "supported_java_versions": ["17", "21"],
        "product_maturity": "PREVIEW",
        "end_of_life_at": "2028-06-30T00:00:00.000000Z",
        "description": "Apache Kafka 4.2 runtime",
    },
]


class CustomPluginApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/connect/v1/presigned-upload-url", self.connect_presigned_url, methods=["POST"]),
            Route("/connect/v1/custom-connector-plugins", self.list_legacy, methods=["GET"]),
            Route("/connect/v1/custom-connector-plugins", self.create_legacy, methods=["POST"]),
            Route("/connect/v1/custom-connector-plugins/{id}", self.get_legacy, methods=["GET"]),
            Route("/connect/v1/custom-connector-plugins/{id}", self.update_legacy, methods=["PATCH"]),
            Route("/connect/v1/custom-connector-plugins/{id}", self.delete_legacy, methods=["DELETE"]),
            Route("/connect/v1/custom-connector-runtimes", self.list_runtimes, methods=["GET"]),
        ]

    async def connect_presigned_url(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        fmt = enum_field(body.get("content_format"), ContentFormat, "/content_format")
        cloud = enum_field(body.get("cloud"), Cloud, "/cloud", default="AWS")
        base = self.core.base_url(request)
        with self.core.lock:
            upload = new_upload(self.core, who, UploadApi.CONNECT, cloud, fmt, None)
        url, form = presign(base, upload, self.core.archive_limit)
        return json_response(
            {
                "api_version": "connect/v1",
                "kind": "PresignedUrl",
                "content_format": fmt.value,
                "cloud": cloud.value,
                "upload_id": upload.id,
                "upload_url": url,
                "upload_form_data": form,
            }
        )

    @staticmethod
    def render_legacy(base: str, plugin: LegacyPlugin) -> dict[str, Any]:
        return {
            "api_version": "connect/v1",
            "kind": "CustomConnectorPlugin",
            "id": plugin.id,
            "metadata": {
                "self": f"{base}/connect/v1/custom-connector-plugins/{plugin.id}",
                "resource_name": f"{org_crn(plugin.org_id)}/custom-connector-plugin={plugin.id}",
                "created_at": timestamp(plugin.created_at),
                "updated_at": timestamp(plugin.updated_at),
            },
            "display_name": plugin.display_name,
            "description": plugin.description,
            "documentation_link": plugin.documentation_link,
            "connector_class": plugin.connector_class,
            "connector_type": plugin.connector_type,
            "cloud": plugin.cloud.value,
            "sensitive_config_properties": plugin.sensitive_config_properties,
            "content_format": plugin.content_format.value,
            "runtime_language": plugin.runtime_language,
            # Confluent ignores upload_source on reads but its schema requires it
            "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": ""},
        }

    def _legacy(self, who: Caller, plugin_id: str) -> LegacyPlugin:
        plugin = self.core.state.legacy_plugins.get(plugin_id)
        if plugin is None or plugin.org_id != who.org_id:
            raise plugin_not_found()
        return plugin

    def _legacy_name_taken(self, who: Caller, name: str, base: str, but: str = "") -> None:
        for plugin in self.core.state.legacy_plugins.values():
            if plugin.org_id == who.org_id and plugin.display_name == name and plugin.id != but:
                raise ApiError(
                    409,
                    f"A custom connector plugin named '{name}' already exists",
                    location=f"{base}/connect/v1/custom-connector-plugins/{plugin.id}",
                )

    async def list_legacy(self, request: Request) -> Response:
        who = caller(request)
        cloud = enum_filter(request, "cloud", Cloud)
        base = self.core.base_url(request)
        with self.core.lock:
            plugins = [
                p
                for p in self.core.state.legacy_plugins.values()
                if p.org_id == who.org_id and cloud in (None, p.cloud)
            ]
            plugins.sort(key=lambda p: (p.created_at, p.id))
            body = page(
                request,
                base,
                api_version="connect/v1",
                kind="CustomConnectorPluginList",
                items=plugins,
                render=lambda p: self.render_legacy(base, p),
                filters=("cloud",),
            )
        return json_response(body)

    async def create_legacy(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        name = text_field(body, "display_name", "/display_name", required=True, max_length=60)
        description = text_field(body, "description", "/description", required=False, max_length=256)
        link = link_field(body, "/documentation_link")
        connector_class = text_field(body, "connector_class", "/connector_class", required=True, max_length=150)
        if not JAVA_CLASS.match(connector_class):
            raise ApiError(422, "connector_class is not a valid Java class name", pointer="/connector_class")
        connector_type = text_field(body, "connector_type", "/connector_type", required=True).upper()
        if connector_type not in ("SOURCE", "SINK"):
            raise ApiError(
                400, "connector_type must be SOURCE or SINK", code="invalid_input", pointer="/connector_type"
            )
        cloud = enum_field(body.get("cloud"), Cloud, "/cloud", default="AWS")
        sensitive = property_names(body.get("sensitive_config_properties"), "/sensitive_config_properties")
        runtime = text_field(body, "runtime_language", "/runtime_language", required=False).upper() or "JAVA"
        if runtime not in ("JAVA", "PYTHON"):
            raise ApiError(
                400, "runtime_language must be JAVA or PYTHON", code="invalid_input", pointer="/runtime_language"
            )
        base = self.core.base_url(request)
        with self.core.lock:
            self._legacy_name_taken(who, name, base)
            upload = upload_source(self.core, who, body, "/upload_source", UploadApi.CONNECT)
            if upload.cloud is not cloud:
                raise ApiError(
                    400, "The upload was made for another cloud", code="invalid_input", pointer="/upload_source"
                )
            if not upload.valid_archive:
                raise ApiError(
                    400,
                    "Failed to create custom plugin: the uploaded archive is not a valid zip or jar",
                    code="invalid_input",
                    pointer="/upload_source/upload_id",
                )
            now = self.core.now()
            plugin = LegacyPlugin(
                id=self.core.new_id("ccp-"),
                org_id=who.org_id,
                display_name=name,
                description=description,
                documentation_link=link,
                connector_class=connector_class,
                connector_type=connector_type,
                cloud=cloud,
                sensitive_config_properties=sensitive,
                content_format=upload.content_format,
                runtime_language=runtime,
                created_at=now,
                updated_at=now,
            )
            consume(upload, plugin.id)
            self.core.state.legacy_plugins[plugin.id] = plugin
            self.core.commit()
            rendered = self.render_legacy(base, plugin)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    async def get_legacy(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            plugin = self._legacy(who, request.path_params["id"])
            return json_response(self.render_legacy(self.core.base_url(request), plugin))

    async def update_legacy(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        base = self.core.base_url(request)
        with self.core.lock:
            plugin = self._legacy(who, request.path_params["id"])
            for immutable in ("connector_class", "connector_type", "cloud"):
                if immutable in body and str(body[immutable]).upper() != str(getattr(plugin, immutable)).upper():
                    raise ApiError(
                        400, f"'{immutable}' cannot be changed", code="invalid_input", pointer=f"/{immutable}"
                    )
            if "display_name" in body:
                name = text_field(body, "display_name", "/display_name", required=True, max_length=60)
                self._legacy_name_taken(who, name, base, but=plugin.id)
                plugin.display_name = name
            if "description" in body:
                plugin.description = text_field(body, "description", "/description", required=True, max_length=256)
            if "documentation_link" in body:
                plugin.documentation_link = link_field(body, "/documentation_link")
            if "sensitive_config_properties" in body:
                plugin.sensitive_config_properties = property_names(
                    body["sensitive_config_properties"], "/sensitive_config_properties"
                )
            plugin.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_legacy(base, plugin))

    async def delete_legacy(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            plugin = self._legacy(who, request.path_params["id"])
            users = self.core.state.connectors_using(plugin_id=plugin.id)
            if users:
                raise ApiError(400, f"The plugin is used by connector(s): {', '.join(users)}", code="plugin_in_use")
            del self.core.state.legacy_plugins[plugin.id]
            self.core.commit()
        return Response(status_code=204)

    async def list_runtimes(self, request: Request) -> Response:
        base = self.core.base_url(request)
        body = page(
            request,
            base,
            api_version="connect/v1",
            kind="CustomConnectorRuntimeList",
            items=_RUNTIMES,
            render=lambda r: {"api_version": "connect/v1", "kind": "CustomConnectorRuntime", **r},
        )
        return json_response(body)
