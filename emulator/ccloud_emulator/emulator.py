"""`Emulator`: a local Confluent Cloud as one ASGI app, with its Python admin API.

It assembles the API modules behind the `Gate` (faults, auth, rate limits, request log), seeds a
default organisation with one environment, one Kafka cluster and one Cloud API key, and loads or
saves the state file. Tests drive it in-process (httpx.ASGITransport) or over a socket
(`serve_in_thread`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ssl
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ccloud_emulator.admin import admin_routes
from ccloud_emulator.api_ccpm import CcpmApi
from ccloud_emulator.api_connect import ConnectApi, tasks_max
from ccloud_emulator.api_custom_plugins import CustomPluginApi
from ccloud_emulator.api_iam import IamApi
from ccloud_emulator.api_identity import IdentityApi
from ccloud_emulator.api_ip_filtering import IpFilteringApi
from ccloud_emulator.api_org import OrgApi
from ccloud_emulator.api_rbac import RbacApi
from ccloud_emulator.api_sts import StsApi
from ccloud_emulator.api_users import UsersApi, invitation_status
from ccloud_emulator.core import ARCHIVE_LIMIT, Core, Outcome, RequestRecord, Timing, TokenExchange
from ccloud_emulator.errors import ApiError, dialect_for, error_response
from ccloud_emulator.gate import Fault, Gate, RateLimiter
from ccloud_emulator.jose import JwksCache
from ccloud_emulator.state import (
    ApiKey,
    Cloud,
    ClusterKind,
    Connector,
    ConnectorState,
    Environment,
    Failure,
    InvitationStatus,
    KafkaCluster,
    Organization,
    State,
    User,
    UserStatus,
    VersionPhase,
)
from ccloud_emulator.uploads import UploadEndpoints

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "Emulator"]

DEFAULT_API_KEY = "EMUKEY0000000001"
DEFAULT_API_SECRET = ("EmulatorCloudApiSecret" * 3)[:64]
# The request log keeps the most recent calls only, so a long-running emulator stays small.
REQUEST_LOG_LIMIT = 100_000


def _failure(
    trace: str,
    task: int | None,
    errors_from_trace: Sequence[str],
    validation_errors: Sequence[str],
    override_message: str,
    heals_after: int | None,
) -> Failure:
    """A failure as a test asked for it, checked (a plain string is not a list of errors)."""
    for what, items in (("errors_from_trace", errors_from_trace), ("validation_errors", validation_errors)):
        if isinstance(items, str) or not all(isinstance(item, str) for item in items):
            raise ValueError(f"{what} must be a list of strings")
    if heals_after is not None and (isinstance(heals_after, bool) or heals_after < 1):
        raise ValueError("heals_after must be at least 1, or None for a failure no restart heals")
    if task is not None and (isinstance(task, bool) or task < 0):
        raise ValueError("task must be a task number, 0 or more")
    return Failure(
        trace=trace,
        task=task,
        errors_from_trace=list(errors_from_trace),
        validation_errors=list(validation_errors),
        override_message=override_message,
        heals_after=heals_after,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, dialect_for(request.url.path))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = "Not Found" if exc.status_code == 404 else exc.detail
    return error_response(ApiError(exc.status_code, detail, headers=exc.headers), dialect_for(request.url.path))


class Emulator:
    """A Confluent Cloud of one organisation (more can be seeded), in memory or in a state file."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        timing: Timing | None = None,
        state_file: Path | str | None = None,
        base_url: str | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        archive_limit: int = ARCHIVE_LIMIT,
        trusted_ca: Path | str | None = None,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`clock` (seconds, like time.time) replaces the real clock, for tests that move time;
        `sleep` (like asyncio.sleep) replaces how an injected latency waits, for tests that hold
        requests in flight and let them go; `archive_limit` lowers the largest upload the object
        stores take (Confluent's 1 GiB), for tests of the limit that send kilobytes.

        The STS fetches identity providers' JWKS over HTTPS trusting `trusted_ca` (a PEM bundle;
        default: the system's trust store), or through `jwks_transport` (an httpx transport: a test's
        own identity provider in process, with no socket and no TLS)."""
        if archive_limit < 1:
            raise ValueError("archive_limit must be at least one byte")
        self.core = Core(
            timing or Timing(), Path(state_file) if state_file else None, base_url, clock, sleep, archive_limit
        )
        # an unreadable bundle fails here, at start, not at the first token exchange
        trust = ssl.create_default_context(cafile=str(trusted_ca)) if trusted_ca else None
        self.jwks = JwksCache(verify=trust, transport=jwks_transport, now=self.core.now, monotonic=self.core.monotonic)
        self.limiter = RateLimiter()
        self.faults: list[Fault] = []
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._requests_lock = threading.Lock()
        path = self.core.state_file
        with self.core.lock:
            if path is not None and path.exists():
                self.core.state = State.load(path)
            else:
                self._seed_defaults()
            self._put_key(api_key, api_secret, self.organization_id, self.core.state.defaults["user_id"], "cloud")
            self.core.state.defaults["api_key"] = api_key
            self._seed = self._defaults_only()
            self.core.commit()
        self.api_key = api_key
        self.api_secret = api_secret
        self.app = self._build_app()

    def __repr__(self) -> str:
        return f"Emulator(organization={self.organization_id!r}, api_key={self.api_key!r})"

    # the seeded defaults

    @property
    def organization_id(self) -> str:
        return self.core.state.defaults["organization_id"]

    @property
    def environment_id(self) -> str:
        return self.core.state.defaults["environment_id"]

    @property
    def kafka_cluster_id(self) -> str:
        return self.core.state.defaults["kafka_cluster_id"]

    @property
    def timing(self) -> Timing:
        return self.core.timing

    def info(self) -> dict[str, Any]:
        """What a user needs to find their way in, and no secret: the defaults, the Cloud API key's
        ID, the timing, and every environment and Kafka cluster the emulator holds."""
        with self.core.lock:
            state = self.core.state
            environments = sorted(state.environments.values(), key=lambda e: (e.created_at, e.id))
            clusters = sorted(state.clusters.values(), key=lambda c: (c.created_at, c.id))
            return {
                "organization_id": self.organization_id,
                "environment_id": self.environment_id,
                "kafka_cluster_id": self.kafka_cluster_id,
                "api_key": self.api_key,
                "timing": dataclasses.asdict(self.timing),
                "environments": [
                    {"id": e.id, "display_name": e.display_name, "organization_id": e.org_id} for e in environments
                ],
                "kafka_clusters": [
                    {
                        "id": c.id,
                        "display_name": c.display_name,
                        "environment_id": c.env_id,
                        "bootstrap_endpoint": c.bootstrap,
                        "cloud": c.cloud.value,
                        "region": c.region,
                        "kind": c.kind.value,
                    }
                    for c in clusters
                ],
            }

    def _seed_defaults(self) -> None:
        org_id = self.add_organization("Emulated organization")
        env_id = self.add_environment("default", organization_id=org_id)
        cluster_id = self.add_kafka_cluster(env_id, display_name="cluster_0")
        self.core.state.defaults.update(
            organization_id=org_id,
            user_id=self._owner_of(org_id),
            environment_id=env_id,
            kafka_cluster_id=cluster_id,
        )

    def _defaults_only(self) -> State:
        state = self.core.state
        d = state.defaults
        seed = State(defaults=dict(d))
        seed.organizations[d["organization_id"]] = state.organizations[d["organization_id"]]
        seed.users[d["user_id"]] = state.users[d["user_id"]]
        seed.environments[d["environment_id"]] = state.environments[d["environment_id"]]
        seed.clusters[d["kafka_cluster_id"]] = state.clusters[d["kafka_cluster_id"]]
        seed.api_keys[d["api_key"]] = state.api_keys[d["api_key"]]
        return seed.copy()

    def _build_app(self) -> Starlette:
        routes = [
            *OrgApi(self.core).routes(),
            *IamApi(self.core).routes(),
            *UsersApi(self.core).routes(),
            *RbacApi(self.core).routes(),
            *IpFilteringApi(self.core).routes(),
            *IdentityApi(self.core, self.jwks).routes(),
            *StsApi(self.core, self.jwks).routes(),
            *CustomPluginApi(self.core).routes(),
            *CcpmApi(self.core).routes(),
            *ConnectApi(self.core).routes(),
            *UploadEndpoints(self.core).routes(),
            *admin_routes(self),
        ]
        return Starlette(
            routes=routes,
            middleware=[
                Middleware(Gate, core=self.core, limiter=self.limiter, faults=self.faults, record=self._record)
            ],
            exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        )

    # seeding

    def _owner_of(self, org_id: str) -> str:
        for user in self.core.state.users.values():
            if user.org_id == org_id:
                return user.id
        raise KeyError(f"organization {org_id} has no user")

    def _put_key(self, key: str, secret: str, org_id: str, owner: str, resource: str) -> None:
        if not key or not secret:
            raise ValueError("an API key and its secret must not be empty")
        now = self.core.now()
        self.core.state.api_keys[key] = ApiKey(
            id=key,
            secret=secret,
            org_id=org_id,
            owner_id=owner,
            resource_id=resource,
            display_name="",
            description="Seeded by the emulator",
            created_at=now,
            updated_at=now,
            usable_at=now,
        )

    def add_organization(self, display_name: str = "Emulated organization") -> str:
        with self.core.lock:
            now = self.core.now()
            org = Organization(id=self.core.new_uuid(), display_name=display_name, created_at=now)
            self.core.state.organizations[org.id] = org
            user = User(
                id=self.core.new_id("u-"),
                org_id=org.id,
                email=f"admin@{org.id[:8]}.example",
                full_name="Emulated admin",
                created_at=now,
                updated_at=now,
            )
            self.core.state.users[user.id] = user
            self.core.commit()
            return org.id

    def add_environment(
        self, display_name: str = "environment", organization_id: str | None = None, id: str | None = None
    ) -> str:
        """Seed an environment; `id` picks its ID (e.g. the one a demo manifest names)."""
        with self.core.lock:
            org_id = organization_id or self.organization_id
            if org_id not in self.core.state.organizations:
                raise KeyError(f"no organization {org_id}")
            if id is not None and (not id.startswith("env-") or id in self.core.state.environments):
                raise ValueError(f"environment ID {id!r} must start with env- and be new")
            now = self.core.now()
            env = Environment(
                id=id or self.core.new_id("env-"),
                org_id=org_id,
                display_name=display_name,
                created_at=now,
                updated_at=now,
            )
            self.core.state.environments[env.id] = env
            self.core.commit()
            return env.id

    def add_kafka_cluster(
        self,
        environment_id: str | None = None,
        display_name: str = "cluster",
        cloud: str = "AWS",
        region: str = "us-west-2",
        id: str | None = None,
        kind: str = "Basic",
    ) -> str:
        """Seed a Kafka cluster; `id` picks its ID (e.g. the one a demo manifest names), `kind` its
        `spec.config.kind` (Basic, Standard, Enterprise, Dedicated or Freight)."""
        with self.core.lock:
            env_id = environment_id or self.environment_id
            if env_id not in self.core.state.environments:
                raise KeyError(f"no environment {env_id}")
            if id is not None and (not id.startswith("lkc-") or id in self.core.state.clusters):
                raise ValueError(f"cluster ID {id!r} must start with lkc- and be new")
            kinds = {k.value.lower(): k for k in ClusterKind}
            if kind.lower() not in kinds:
                raise ValueError(f"cluster kind {kind!r} must be one of {', '.join(k.value for k in ClusterKind)}")
            now = self.core.now()
            cluster = KafkaCluster(
                id=id or self.core.new_id("lkc-"),
                env_id=env_id,
                display_name=display_name,
                cloud=Cloud(cloud.upper()),
                region=region,
                created_at=now,
                updated_at=now,
                kind=kinds[kind.lower()],
            )
            self.core.state.clusters[cluster.id] = cluster
            self.core.commit()
            return cluster.id

    def add_api_key(
        self,
        key: str,
        secret: str,
        owner: str | None = None,
        resource: str = "cloud",
        organization_id: str | None = None,
    ) -> str:
        """Seed an API key, usable at once: `resource` is "cloud" or a Kafka cluster ID."""
        with self.core.lock:
            state = self.core.state
            if resource.startswith("lkc-"):
                cluster = state.clusters.get(resource)
                if cluster is None:
                    raise KeyError(f"no Kafka cluster {resource}")
                org_id = state.environments[cluster.env_id].org_id
            else:
                resource = resource.lower()
                org_id = organization_id or self.organization_id
            if org_id not in state.organizations:
                raise KeyError(f"no organization {org_id}")
            if owner is None:
                owner = self._owner_of(org_id)
            elif owner.startswith("sa-"):
                if owner not in state.service_accounts:
                    raise KeyError(f"no service account {owner}")
            elif owner not in state.users:
                now = self.core.now()
                state.users[owner] = User(
                    id=owner, org_id=org_id, email=f"{owner}@example.com", created_at=now, updated_at=now
                )
            self._put_key(key, secret, org_id, owner, resource)
            self.core.commit()
            return key

    # invitations: what the invitee would do

    def accept_invitation(self, invitation_id: str, full_name: str = "") -> dict[str, str]:
        """The invitee accepts: the invitation turns INVITE_STATUS_ACCEPTED (with `accepted_at`) and
        its pending user active (with `full_name`, if given). KeyError for an unknown invitation,
        ValueError for one accepted already or expired. Returns the invitation and user IDs."""
        with self.core.lock:
            state = self.core.state
            invitation = state.invitations.get(invitation_id)
            if invitation is None:
                raise KeyError(f"no invitation {invitation_id}")
            now = self.core.now()
            status = invitation_status(invitation, now)
            if status != InvitationStatus.SENT:
                raise ValueError(f"invitation {invitation_id} is {status}: only a sent one can be accepted")
            user = state.users[invitation.user_id]
            invitation.status = InvitationStatus.ACCEPTED
            invitation.accepted_at = now
            invitation.updated_at = now
            user.status = UserStatus.ACTIVE
            if full_name:
                user.full_name = full_name
            user.updated_at = now
            self.core.commit()
            return {"id": invitation.id, "status": invitation.status.value, "user_id": user.id}

    def expire_invitation(self, invitation_id: str) -> None:
        """Make a sent invitation expire now (INVITE_STATUS_EXPIRED), as `timing.invitation_expiry`
        would. KeyError for an unknown invitation, ValueError for one no longer sent."""
        with self.core.lock:
            invitation = self.core.state.invitations.get(invitation_id)
            if invitation is None:
                raise KeyError(f"no invitation {invitation_id}")
            now = self.core.now()
            status = invitation_status(invitation, now)
            if status != InvitationStatus.SENT:
                raise ValueError(f"invitation {invitation_id} is {status}: only a sent one can expire")
            invitation.expires_at = now
            self.core.commit()

    # faults, limits, outcomes

    def fail(
        self,
        method: str = "*",
        path: str = "*",
        status: int | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
        drop: bool = False,
        count: int | None = None,
        probability: float = 1.0,
        after_processing: bool = False,
    ) -> Fault:
        """Inject a fault on requests matching `method` ("*" for any) and `path` (an fnmatch glob).

        `status` answers with that error (and `retry_after`); `latency` delays; `drop` closes the
        connection mid-answer, before the request takes effect or, with `after_processing`, after it
        (the create that happened but whose answer was lost). `count` limits how many requests it
        hits (None: all); `probability` makes each hit a coin toss.
        """
        if status is None and not drop and latency <= 0:
            raise ValueError("a fault needs a status, a latency or drop=True")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        fault = Fault(
            method=method.upper(),
            path=path,
            status=status,
            retry_after=retry_after,
            latency=latency,
            drop=drop,
            count=count,
            probability=probability,
            after_processing=after_processing,
        )
        with self.core.lock:
            self.faults.append(fault)
        return fault

    def fail_next(
        self,
        method: str,
        path: str,
        status: int | None = 500,
        retry_after: float | None = None,
        latency: float = 0.0,
        drop: bool = False,
        after_processing: bool = False,
    ) -> Fault:
        """Fail only the next matching request: `fail(..., count=1)`."""
        return self.fail(method, path, status, retry_after, latency, drop, count=1, after_processing=after_processing)

    def remove_fault(self, fault_id: str) -> bool:
        with self.core.lock:
            for fault in self.faults:
                if fault.id == fault_id:
                    self.faults.remove(fault)
                    return True
        return False

    def clear_faults(self) -> None:
        with self.core.lock:
            self.faults.clear()

    def set_rate_limit(self, rate: float | None, burst: int | None = None, concurrency: int | None = None) -> None:
        """Limit each API key, and each identity pool with Bearer tokens, to `rate` requests a second
        (bursts of `burst`) and `concurrency` in flight."""
        with self.core.lock:
            self.limiter.configure(rate, burst, concurrency)

    def set_connector_outcome(
        self,
        name: str | None,
        state: str,
        trace: str = "",
        *,
        errors_from_trace: Sequence[str] = (),
        validation_errors: Sequence[str] = (),
        override_message: str = "",
        heals_after: int | None = 1,
        environment_id: str | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """How the next provisioning (a create, or a restart) of connector `name` ends, once.

        None for `name`, `environment_id` or `cluster_id` matches any; an outcome set for the name
        is taken before one for any name. RUNNING, or FAILED (every task fails with it) or DEGRADED
        (task 0 fails), showing `trace`, `errors_from_trace` (as `[{"error": …}]`),
        `validation_errors` and `override_message` in the status. The failure then lasts like one
        from `fail_connector`: `heals_after` restarts heal it (None: none does).
        """
        outcome = ConnectorState(state)
        if outcome not in (ConnectorState.RUNNING, ConnectorState.FAILED, ConnectorState.DEGRADED):
            raise ValueError("a provisioning ends RUNNING, FAILED or DEGRADED")
        failure = _failure(trace, None, errors_from_trace, validation_errors, override_message, heals_after)
        with self.core.lock:
            self.core.outcomes[environment_id, cluster_id, name] = Outcome(
                outcome,
                failure.trace,
                tuple(failure.errors_from_trace),
                tuple(failure.validation_errors),
                failure.override_message,
                failure.heals_after,
            )

    def fail_connector(
        self,
        name: str,
        trace: str,
        *,
        task: int | None = None,
        errors_from_trace: Sequence[str] = (),
        validation_errors: Sequence[str] = (),
        override_message: str = "",
        heals_after: int | None = 1,
        environment_id: str | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """Make an existing connector FAILED now, every task with it; or, with `task`, make that task
        FAILED and the connector DEGRADED. The status shows `trace` (the connector's `trace` and the
        failed tasks' `msg`), `errors_from_trace` (as `[{"error": …}]`), `validation_errors` and
        `override_message`.

        A restart of what failed (the connector's restart for either; the task's restart for a task)
        counts down `heals_after`: the restart that reaches 0 heals it, so 1 (the default) fails once,
        N fails through N - 1 restarts, and None never heals. It replaces an earlier failure of the
        same connector or task. A connector still provisioning shows it once provisioned; a paused
        one once resumed. The connector is found by name in the environment and cluster given (None:
        any); KeyError if there is none, ValueError if the name is in several clusters.
        """
        failure = _failure(trace, task, errors_from_trace, validation_errors, override_message, heals_after)
        with self.core.lock:
            connector = self._find_connector(name, environment_id, cluster_id)
            if task is not None and not 0 <= task < tasks_max(connector.config):
                raise ValueError(f"connector {name} has no task {task}")
            connector.fail(failure)
            connector.updated_at = self.core.now()
            self.core.commit()

    def _find_connector(self, name: str, environment_id: str | None, cluster_id: str | None) -> Connector:
        found = [
            c
            for c in self.core.state.connectors.values()
            if c.name == name and environment_id in (None, c.env_id) and cluster_id in (None, c.cluster_id)
        ]
        if not found:
            raise KeyError(
                f"no connector {name!r} in environment {environment_id or 'any'}, cluster {cluster_id or 'any'}"
            )
        if len(found) > 1:
            raise ValueError(f"connector {name!r} is in several clusters: give cluster_id")
        return found[0]

    def set_version_outcome(self, version: str | None, phase: str, error_message: str = "") -> None:
        """How the processing of the next CCPM plugin version with this version string (None: of any
        version) ends: READY, or FAILED with `error_message` in its `status.error_message`. It applies
        to a version whose archive is good (a bad archive fails with Confluent's own message) and
        shows once `plugin_version_processing` has passed, like any outcome."""
        wanted = VersionPhase(phase)
        if wanted is VersionPhase.READY:
            message = ""
        elif wanted is VersionPhase.FAILED:
            if not error_message or len(error_message) > 256:
                raise ValueError("a FAILED version needs an error_message of 1 to 256 characters")
            message = error_message
        else:
            raise ValueError("a version's processing ends READY or FAILED")
        with self.core.lock:
            self.core.version_outcomes[version] = message

    # workload identity: token exchanges and the access tokens they issued

    def token_exchanges(self, pool_id: str | None = None, issued: bool | None = None) -> list[TokenExchange]:
        """The STS token exchanges so far, oldest first: for this identity pool (None: any), issued
        or refused (None: both). Each has the pool, the time, whether a token was issued and why
        not, and the identity claim's value; never a token."""
        with self.core.lock:
            return [
                e
                for e in self.core.exchanges
                if (pool_id is None or e.pool_id == pool_id) and (issued is None or e.issued is issued)
            ]

    def clear_token_exchanges(self) -> None:
        with self.core.lock:
            self.core.exchanges.clear()

    def expire_access_tokens(self, pool_id: str | None = None) -> int:
        """Make the live access tokens of this identity pool (None: of every pool) expire now, so
        their next use is a 401. Returns how many there were."""
        with self.core.lock:
            now = self.core.now()
            tokens = [
                t
                for t in self.core.state.access_tokens.values()
                if t.expires_at > now and (pool_id is None or t.pool_id == pool_id)
            ]
            for token in tokens:
                token.expires_at = now
            self.core.commit()
            return len(tokens)

    def access_tokens(self, pool_id: str | None = None) -> int:
        """How many access tokens of this identity pool (None: of any) are live now."""
        with self.core.lock:
            now = self.core.now()
            return sum(
                1
                for t in self.core.state.access_tokens.values()
                if t.expires_at > now and (pool_id is None or t.pool_id == pool_id)
            )

    # the request log

    def _record(self, record: RequestRecord) -> None:
        with self._requests_lock:
            self._requests.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._requests_lock:
            return list(self._requests)

    def calls(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """The recorded requests with this method and a path matching this fnmatch glob."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or fnmatch.fnmatchcase(r.path, path))
        ]

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def reset(self) -> None:
        """Back to the seeded defaults (organisation, environment, cluster, Cloud key): no faults, no
        limits, no identity providers, pools, access tokens or token exchanges."""
        with self.core.lock:
            self.core.state = self._seed.copy()
            self.faults.clear()
            self.limiter.configure(None, None, None)
            self.core.outcomes.clear()
            self.core.version_outcomes.clear()
            self.core.exchanges.clear()
            self.core.commit()
        self.jwks.clear()
        self.clear_requests()
