"""The admin HTTP API under `/_emulator/`, a prefix no real client uses.

Each route is a thin JSON wrapper over the Python admin API of `Emulator` (faults, rate limit,
request log, reset, timing, connector outcomes and failures, plugin version outcomes, seeding,
what an invitee does: accept or let expire an invitation, and the STS's token exchanges and access
tokens: list the one, expire the other). It is exempt from auth, rate limiting and the request log.
It never returns a secret: no key secret, no access token.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.gate import ADMIN_PREFIX
from ccloud_emulator.state import ConnectorState

if TYPE_CHECKING:
    from ccloud_emulator.emulator import Emulator

__all__ = ["admin_routes"]


class AdminError(Exception):
    pass


def _json(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise AdminError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AdminError("the body must be a JSON object")
    return data


def _opt_float(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AdminError(f"{name} must be a number")
    return float(value)


def _opt_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise AdminError(f"{name} must be an integer")
    return value


def _str(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise AdminError(f"{name} must be a string")
    return value


def _opt_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise AdminError(f"{name} must be a string")
    return value


def _strings(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AdminError(f"{name} must be a list of strings")
    return value


def _failure_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What connector outcomes and failures share; `heals_after` null means no restart heals it."""
    return {
        "errors_from_trace": _strings(data, "errors_from_trace"),
        "validation_errors": _strings(data, "validation_errors"),
        "override_message": _str(data, "override_message", ""),
        "heals_after": _opt_int(data, "heals_after") if "heals_after" in data else 1,
        "environment_id": _opt_str(data, "environment_id"),
        "cluster_id": _opt_str(data, "cluster_id"),
    }


def admin_routes(emu: Emulator) -> list[Route]:
    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def info(request: Request) -> Response:
        return _json(emu.info())

    async def reset(request: Request) -> Response:
        emu.reset()
        return Response(status_code=204)

    async def timing(request: Request) -> Response:
        if request.method == "PUT":
            data = await _body(request)
            for f in dataclasses.fields(emu.timing):
                value = _opt_float(data, f.name)
                if value is not None:
                    setattr(emu.timing, f.name, value)
        return _json(dataclasses.asdict(emu.timing))

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return _json([f.to_json() for f in emu.faults])
        if request.method == "DELETE":
            emu.clear_faults()
            return Response(status_code=204)
        data = await _body(request)
        fault = emu.fail(
            method=_str(data, "method", "*"),
            path=_str(data, "path", "*"),
            status=_opt_int(data, "status"),
            retry_after=_opt_float(data, "retry_after"),
            latency=_opt_float(data, "latency") or 0.0,
            drop=bool(data.get("drop", False)),
            count=_opt_int(data, "count"),
            probability=1.0 if data.get("probability") is None else float(_opt_float(data, "probability") or 0.0),
            after_processing=bool(data.get("after_processing", False)),
        )
        return _json(fault.to_json(), 201)

    async def fault(request: Request) -> Response:
        if not emu.remove_fault(request.path_params["id"]):
            return _json({"error": "no such fault"}, 404)
        return Response(status_code=204)

    async def rate_limit(request: Request) -> Response:
        if request.method == "PUT":
            data = await _body(request)
            emu.set_rate_limit(
                rate=_opt_float(data, "rate"), burst=_opt_int(data, "burst"), concurrency=_opt_int(data, "concurrency")
            )
        elif request.method == "DELETE":
            emu.set_rate_limit(rate=None)
        limiter = emu.limiter
        return _json({"rate": limiter.rate, "burst": limiter.burst, "concurrency": limiter.concurrency})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            emu.clear_requests()
            return Response(status_code=204)
        return _json([dataclasses.asdict(r) for r in emu.requests])

    async def organizations(request: Request) -> Response:
        data = await _body(request)
        return _json({"id": emu.add_organization(_str(data, "display_name", "Emulated organization"))}, 201)

    async def environments(request: Request) -> Response:
        data = await _body(request)
        org = data.get("organization_id")
        wanted = data.get("id")
        env_id = emu.add_environment(
            _str(data, "display_name", "environment"),
            organization_id=org if isinstance(org, str) else None,
            id=wanted if isinstance(wanted, str) else None,
        )
        return _json({"id": env_id}, 201)

    async def clusters(request: Request) -> Response:
        data = await _body(request)
        env = data.get("environment_id")
        cluster_id = emu.add_kafka_cluster(
            env if isinstance(env, str) else None,
            display_name=_str(data, "display_name", "cluster"),
            cloud=_str(data, "cloud", "AWS"),
            region=_str(data, "region", "us-west-2"),
            id=data["id"] if isinstance(data.get("id"), str) else None,
            kind=_str(data, "kind", "Basic"),
        )
        return _json({"id": cluster_id}, 201)

    async def api_keys(request: Request) -> Response:
        data = await _body(request)
        owner = data.get("owner")
        org = data.get("organization_id")
        key = emu.add_api_key(
            _str(data, "key"),
            _str(data, "secret"),
            owner=owner if isinstance(owner, str) else None,
            resource=_str(data, "resource", "cloud"),
            organization_id=org if isinstance(org, str) else None,
        )
        return _json({"id": key}, 201)

    async def outcomes(request: Request) -> Response:
        data = await _body(request)
        name = data.get("name")
        state = _str(data, "state")
        if state not in ConnectorState.__members__:
            raise AdminError(f"state must be one of {', '.join(ConnectorState.__members__)}")
        emu.set_connector_outcome(
            name if isinstance(name, str) else None, state, _str(data, "trace", ""), **_failure_fields(data)
        )
        return Response(status_code=204)

    async def connector_failures(request: Request) -> Response:
        data = await _body(request)
        emu.fail_connector(
            _str(data, "name"), _str(data, "trace"), task=_opt_int(data, "task"), **_failure_fields(data)
        )
        return Response(status_code=204)

    async def version_outcomes(request: Request) -> Response:
        data = await _body(request)
        version = data.get("version")
        emu.set_version_outcome(
            version if isinstance(version, str) else None,
            _str(data, "phase", "FAILED"),
            _str(data, "error_message", ""),
        )
        return Response(status_code=204)

    async def accept_invitation(request: Request) -> Response:
        data = await _body(request)
        return _json(emu.accept_invitation(request.path_params["id"], _str(data, "full_name", "")))

    async def expire_invitation(request: Request) -> Response:
        emu.expire_invitation(request.path_params["id"])
        return Response(status_code=204)

    async def token_exchanges(request: Request) -> Response:
        if request.method == "DELETE":
            emu.clear_token_exchanges()
            return Response(status_code=204)
        pool = request.query_params.get("pool_id")
        return _json([dataclasses.asdict(e) for e in emu.token_exchanges(pool)])

    async def expire_access_tokens(request: Request) -> Response:
        data = await _body(request)
        return _json({"expired": emu.expire_access_tokens(_opt_str(data, "pool_id"))})

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except (AdminError, ValueError, KeyError) as error:
                # a KeyError's str() is its repr; its message reads better
                message = error.args[0] if isinstance(error, KeyError) and error.args else error
                return _json({"error": str(message)}, 400)
            return response

        return run

    p = ADMIN_PREFIX
    table: list[tuple[str, Any, list[str]]] = [
        ("/health", health, ["GET"]),
        ("/info", info, ["GET"]),
        ("/reset", reset, ["POST"]),
        ("/timing", timing, ["GET", "PUT"]),
        ("/faults", faults, ["GET", "POST", "DELETE"]),
        ("/faults/{id}", fault, ["DELETE"]),
        ("/rate-limit", rate_limit, ["GET", "PUT", "DELETE"]),
        ("/requests", requests, ["GET", "DELETE"]),
        ("/organizations", organizations, ["POST"]),
        ("/environments", environments, ["POST"]),
        ("/kafka-clusters", clusters, ["POST"]),
        ("/api-keys", api_keys, ["POST"]),
        ("/connector-outcomes", outcomes, ["POST"]),
        ("/connector-failures", connector_failures, ["POST"]),
        ("/version-outcomes", version_outcomes, ["POST"]),
        ("/invitations/{id}/accept", accept_invitation, ["POST"]),
        ("/invitations/{id}/expire", expire_invitation, ["POST"]),
        ("/token-exchanges", token_exchanges, ["GET", "DELETE"]),
        ("/access-tokens/expire", expire_access_tokens, ["POST"]),
    ]
    return [Route(p + path, guarded(handler), methods=methods) for path, handler, methods in table]
