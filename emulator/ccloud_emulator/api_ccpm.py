"""ccpm/v1 custom connect plugins (environment-scoped), their versions, and their presigned upload URL.

A version takes its archive through a presigned upload (see `uploads`), which it uses up, and is
PROCESSING until `timing.plugin_version_processing` has passed, then READY, or FAILED with Confluent's
message when the upload was not a zip or jar (or the message a test set with
`Emulator.set_version_outcome`). Display names are unique per environment; a plugin or version that
a connector uses cannot be deleted.
"""

from __future__ import annotations

import re
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
    env_crn,
    env_ref,
    json_object,
    json_response,
    link_field,
    page,
    property_names,
    require_query,
    text_field,
)
from ccloud_emulator.state import (
    CcpmPlugin,
    CcpmVersion,
    Cloud,
    ConnectorClass,
    ContentFormat,
    Environment,
    UploadApi,
    VersionPhase,
)
from ccloud_emulator.uploads import consume, new_upload, presign, upload_source

__all__ = ["INVALID_ARCHIVE", "CcpmApi", "version_phase"]

INVALID_ARCHIVE = "Version creation failed due to invalid plugin archive."
# SemVer, with the leading "v" that Confluent's own docs use
_VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def version_phase(version: CcpmVersion, now: float) -> VersionPhase:
    if now < version.ready_at:
        return VersionPhase.PROCESSING
    return VersionPhase.FAILED if version.failure else VersionPhase.READY


class CcpmApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/ccpm/v1/presigned-upload-url", self.ccpm_presigned_url, methods=["POST"]),
            Route("/ccpm/v1/plugins", self.list_plugins, methods=["GET"]),
            Route("/ccpm/v1/plugins", self.create_plugin, methods=["POST"]),
            Route("/ccpm/v1/plugins/{id}", self.get_plugin, methods=["GET"]),
            Route("/ccpm/v1/plugins/{id}", self.update_plugin, methods=["PATCH"]),
            Route("/ccpm/v1/plugins/{id}", self.delete_plugin, methods=["DELETE"]),
            Route("/ccpm/v1/plugins/{plugin_id}/versions", self.list_versions, methods=["GET"]),
            Route("/ccpm/v1/plugins/{plugin_id}/versions", self.create_version, methods=["POST"]),
            Route("/ccpm/v1/plugins/{plugin_id}/versions/{id}", self.get_version, methods=["GET"]),
            Route("/ccpm/v1/plugins/{plugin_id}/versions/{id}", self.delete_version, methods=["DELETE"]),
        ]

    def _environment(self, who: Caller, env_id: object, *, pointer: str = "", parameter: str = "") -> Environment:
        env = self.core.state.environments.get(env_id) if isinstance(env_id, str) else None
        if env is None or env.org_id != who.org_id:
            if pointer:
                raise ApiError(400, f"Environment '{env_id}' was not found", code="invalid_input", pointer=pointer)
            raise ApiError(
                403, f"Environment '{env_id}' is not accessible", code="forbidden_access", parameter=parameter
            )
        return env

    # presigned URL

    async def ccpm_presigned_url(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        fmt = enum_field(body.get("content_format"), ContentFormat, "/content_format")
        cloud = enum_field(body.get("cloud"), Cloud, "/cloud")
        env_field = body.get("environment")
        env_id = env_field.get("id") if isinstance(env_field, dict) else None
        if not env_id:
            raise ApiError(400, "'environment.id' is required", code="invalid_input", pointer="/environment/id")
        base = self.core.base_url(request)
        with self.core.lock:
            env = self._environment(who, env_id, pointer="/environment/id")
            upload = new_upload(self.core, who, UploadApi.CCPM, cloud, fmt, env.id)
        url, form = presign(base, upload, self.core.archive_limit)
        return json_response(
            {
                "api_version": "ccpm/v1",
                "kind": "PresignedUrl",
                "content_format": fmt.value,
                "cloud": cloud.value,
                "upload_id": upload.id,
                "upload_url": url,
                "upload_form_data": form,
                "environment": env_ref(base, who.org_id, env.id),
            },
            201,
        )

    # plugins

    @staticmethod
    def render_plugin(base: str, plugin: CcpmPlugin) -> dict[str, Any]:
        return {
            "api_version": "ccpm/v1",
            "kind": "CustomConnectPlugin",
            "id": plugin.id,
            "metadata": {
                "self": f"{base}/ccpm/v1/plugins/{plugin.id}",
                "resource_name": f"{env_crn(plugin.org_id, plugin.env_id)}/custom-connect-plugin={plugin.id}",
                "created_at": timestamp(plugin.created_at),
                "updated_at": timestamp(plugin.updated_at),
            },
            "spec": {
                "display_name": plugin.display_name,
                "description": plugin.description,
                "cloud": plugin.cloud.value,
                "runtime_language": "JAVA",
                "environment": env_ref(base, plugin.org_id, plugin.env_id),
            },
        }

    def _plugin(self, who: Caller, plugin_id: str, env_id: str) -> CcpmPlugin:
        plugin = self.core.state.ccpm_plugins.get(plugin_id)
        if plugin is None or plugin.org_id != who.org_id or plugin.env_id != env_id:
            raise plugin_not_found()
        return plugin

    def _plugin_name_taken(self, who: Caller, env_id: str, name: str, base: str, but: str = "") -> None:
        for plugin in self.core.state.ccpm_plugins.values():
            if (
                plugin.org_id == who.org_id
                and plugin.env_id == env_id
                and plugin.display_name == name
                and plugin.id != but
            ):
                raise ApiError(
                    409,
                    f"A custom connect plugin named '{name}' already exists in environment {env_id}",
                    location=f"{base}/ccpm/v1/plugins/{plugin.id}",
                )

    @staticmethod
    def _spec(body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise ApiError(400, "'spec' is required", code="invalid_input", pointer="/spec")
        return spec

    @staticmethod
    def _spec_env(spec: dict[str, Any]) -> str:
        env = spec.get("environment")
        env_id = env.get("id") if isinstance(env, dict) else None
        if not isinstance(env_id, str) or not env_id:
            raise ApiError(
                400, "'spec.environment.id' is required", code="invalid_input", pointer="/spec/environment/id"
            )
        return env_id

    async def list_plugins(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        cloud = enum_filter(request, "spec.cloud", Cloud)
        base = self.core.base_url(request)
        with self.core.lock:
            self._environment(who, env_id, parameter="environment")
            plugins = [
                p for p in self.core.state.ccpm_plugins.values() if p.env_id == env_id and cloud in (None, p.cloud)
            ]
            plugins.sort(key=lambda p: (p.created_at, p.id))
            body = page(
                request,
                base,
                api_version="ccpm/v1",
                kind="CustomConnectPluginList",
                items=plugins,
                render=lambda p: self.render_plugin(base, p),
                filters=("environment", "spec.cloud"),
            )
        return json_response(body)

    async def create_plugin(self, request: Request) -> Response:
        who = caller(request)
        spec = self._spec(await json_object(request))
        name = text_field(spec, "display_name", "/spec/display_name", required=True, max_length=60)
        description = text_field(spec, "description", "/spec/description", required=False, max_length=256)
        if spec.get("cloud") is None:
            raise ApiError(400, "'spec.cloud' is required", code="invalid_input", pointer="/spec/cloud")
        cloud = enum_field(spec.get("cloud"), Cloud, "/spec/cloud")
        env_id = self._spec_env(spec)
        base = self.core.base_url(request)
        with self.core.lock:
            env = self._environment(who, env_id, pointer="/spec/environment/id")
            self._plugin_name_taken(who, env.id, name, base)
            now = self.core.now()
            plugin = CcpmPlugin(
                id=self.core.new_id("ccp-", 10),
                org_id=who.org_id,
                env_id=env.id,
                display_name=name,
                description=description,
                cloud=cloud,
                created_at=now,
                updated_at=now,
            )
            self.core.state.ccpm_plugins[plugin.id] = plugin
            self.core.commit()
            rendered = self.render_plugin(base, plugin)
        return json_response(rendered, 202, {"Location": rendered["metadata"]["self"]})

    async def get_plugin(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        with self.core.lock:
            plugin = self._plugin(who, request.path_params["id"], env_id)
            return json_response(self.render_plugin(self.core.base_url(request), plugin))

    async def update_plugin(self, request: Request) -> Response:
        who = caller(request)
        spec = self._spec(await json_object(request))
        env_id = self._spec_env(spec)
        base = self.core.base_url(request)
        with self.core.lock:
            plugin = self._plugin(who, request.path_params["id"], env_id)
            if "cloud" in spec and str(spec["cloud"]).upper() != plugin.cloud.value:
                raise ApiError(400, "'spec.cloud' cannot be changed", code="invalid_input", pointer="/spec/cloud")
            if "display_name" in spec:
                name = text_field(spec, "display_name", "/spec/display_name", required=True, max_length=60)
                self._plugin_name_taken(who, plugin.env_id, name, base, but=plugin.id)
                plugin.display_name = name
            if "description" in spec:
                plugin.description = text_field(spec, "description", "/spec/description", required=True, max_length=256)
            plugin.updated_at = self.core.now()
            self.core.commit()
            return json_response(self.render_plugin(base, plugin))

    async def delete_plugin(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        with self.core.lock:
            plugin = self._plugin(who, request.path_params["id"], env_id)
            users = self.core.state.connectors_using(plugin_id=plugin.id)
            if users:
                raise ApiError(400, f"The plugin is used by connector(s): {', '.join(users)}", code="plugin_in_use")
            state = self.core.state
            for vid in [v.id for v in state.ccpm_versions.values() if v.plugin_id == plugin.id]:
                del state.ccpm_versions[vid]
            del state.ccpm_plugins[plugin.id]
            self.core.commit()
        return Response(status_code=204)

    # versions

    def render_version(self, base: str, org_id: str, version: CcpmVersion) -> dict[str, Any]:
        phase = version_phase(version, self.core.now())
        status: dict[str, Any] = {"phase": phase.value}
        if phase is VersionPhase.FAILED:
            status["error_message"] = version.failure
        plugin_crn = f"{env_crn(org_id, version.env_id)}/custom-connect-plugin={version.plugin_id}"
        return {
            "api_version": "ccpm/v1",
            "kind": "CustomConnectPluginVersion",
            "id": version.id,
            "metadata": {
                "self": f"{base}/ccpm/v1/plugins/{version.plugin_id}/versions/{version.id}",
                "resource_name": f"{plugin_crn}/custom-connect-plugin-version={version.id}",
                "created_at": timestamp(version.created_at),
                "updated_at": timestamp(version.created_at),
            },
            "spec": {
                "version": version.version,
                "sensitive_config_properties": version.sensitive_config_properties,
                "documentation_link": version.documentation_link,
                "content_format": version.content_format.value,
                "connector_classes": [{"class_name": c.class_name, "type": c.type} for c in version.connector_classes],
                # "returns an empty string in all responses" (spec)
                "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": ""},
                "environment": env_ref(base, org_id, version.env_id),
            },
            "status": status,
        }

    @staticmethod
    def _classes(spec: dict[str, Any]) -> list[ConnectorClass]:
        raw = spec.get("connector_classes")
        pointer = "/spec/connector_classes"
        if not isinstance(raw, list) or not raw:
            raise ApiError(400, "'spec.connector_classes' is required", code="invalid_input", pointer=pointer)
        if len(raw) > 10:
            raise ApiError(422, "At most 10 connector classes are allowed", pointer=pointer)
        classes = []
        for i, item in enumerate(raw):
            name = item.get("class_name") if isinstance(item, dict) else None
            kind = str(item.get("type", "")).upper() if isinstance(item, dict) else ""
            if not isinstance(name, str) or len(name) > 150 or not JAVA_CLASS.match(name):
                raise ApiError(422, "class_name is not a valid Java class name", pointer=f"{pointer}/{i}/class_name")
            if kind not in ("SOURCE", "SINK"):
                raise ApiError(422, "type must be SOURCE or SINK", pointer=f"{pointer}/{i}/type")
            classes.append(ConnectorClass(class_name=name, type=kind))
        return classes

    async def list_versions(self, request: Request) -> Response:
        who = caller(request)
        env_id = require_query(request, "environment")
        base = self.core.base_url(request)
        with self.core.lock:
            plugin = self._plugin(who, request.path_params["plugin_id"], env_id)
            versions = [v for v in self.core.state.ccpm_versions.values() if v.plugin_id == plugin.id]
            versions.sort(key=lambda v: (v.created_at, v.id))
            # The spec gives this list no page parameters: one page holds every version.
            body = {
                "api_version": "ccpm/v1",
                "kind": "CustomConnectPluginVersionList",
                "metadata": {"total_size": len(versions)},
                "data": [self.render_version(base, who.org_id, v) for v in versions],
            }
        return json_response(body)

    async def create_version(self, request: Request) -> Response:
        who = caller(request)
        spec = self._spec(await json_object(request))
        version_text = text_field(spec, "version", "/spec/version", required=True, max_length=60)
        if not _VERSION.match(version_text):
            raise ApiError(422, f"'{version_text}' is not a semantic version (like 1.2.3)", pointer="/spec/version")
        classes = self._classes(spec)
        sensitive = property_names(spec.get("sensitive_config_properties"), "/spec/sensitive_config_properties")
        link = link_field(spec, "/spec/documentation_link")
        env_id = self._spec_env(spec)
        base = self.core.base_url(request)
        with self.core.lock:
            plugin = self._plugin(who, request.path_params["plugin_id"], env_id)
            for existing in self.core.state.ccpm_versions.values():
                if existing.plugin_id == plugin.id and existing.version == version_text:
                    raise ApiError(
                        409,
                        f"Version '{version_text}' already exists for plugin {plugin.id}",
                        location=f"{base}/ccpm/v1/plugins/{plugin.id}/versions/{existing.id}",
                    )
            upload = upload_source(self.core, who, spec, "/spec/upload_source", UploadApi.CCPM)
            if upload.env_id != plugin.env_id or upload.cloud is not plugin.cloud:
                raise ApiError(
                    400,
                    "The upload was made for another environment or cloud than the plugin's",
                    code="invalid_input",
                    pointer="/spec/upload_source/upload_id",
                )
            # a forced outcome waits for a version whose archive is good: a bad one fails anyway
            failure = (self.core.take_version_outcome(version_text) or "") if upload.valid_archive else INVALID_ARCHIVE
            now = self.core.now()
            version = CcpmVersion(
                id=self.core.new_id("ccp-ver-"),
                plugin_id=plugin.id,
                env_id=plugin.env_id,
                version=version_text,
                sensitive_config_properties=sensitive,
                documentation_link=link,
                content_format=upload.content_format,
                connector_classes=classes,
                failure=failure,
                created_at=now,
                ready_at=now + self.core.timing.plugin_version_processing,
            )
            consume(upload, version.id)
            self.core.state.ccpm_versions[version.id] = version
            self.core.commit()
            rendered = self.render_version(base, who.org_id, version)
        return json_response(rendered, 202, {"Location": rendered["metadata"]["self"]})

    def _version(self, who: Caller, request: Request) -> CcpmVersion:
        env_id = require_query(request, "environment")
        plugin = self._plugin(who, request.path_params["plugin_id"], env_id)
        version = self.core.state.ccpm_versions.get(request.path_params["id"])
        if version is None or version.plugin_id != plugin.id:
            raise ApiError(404, "failed to retrieve custom plugin version: Not Found", code="not_found")
        return version

    async def get_version(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            version = self._version(who, request)
            return json_response(self.render_version(self.core.base_url(request), who.org_id, version))

    async def delete_version(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            version = self._version(who, request)
            users = self.core.state.connectors_using(version_id=version.id)
            if users:
                raise ApiError(
                    400, f"The plugin version is used by connector(s): {', '.join(users)}", code="plugin_in_use"
                )
            del self.core.state.ccpm_versions[version.id]
            self.core.commit()
        return Response(status_code=204)
