"""The emulator's core: the state behind one lock, the clock, timing, IDs, and persistence.

Every API module and the admin API share one `Core`. It knows nothing of routes or HTTP framing;
only `base_url` looks at a request, to build the absolute URLs Confluent puts in its answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request

from ccloud_emulator.state import AccessToken, ApiKey, ConnectorState, Failure, State

__all__ = [
    "ARCHIVE_LIMIT",
    "INVITATION_EXPIRY",
    "Caller",
    "Core",
    "Outcome",
    "OutcomeKey",
    "RequestRecord",
    "Timing",
    "TokenExchange",
    "timestamp",
]

# CONTRACT.md §5: the Confluent CLI refuses archives over 1 GiB
ARCHIVE_LIMIT = 1 << 30
# How long an invitation waits to be accepted (no spec says; 30 days)
INVITATION_EXPIRY = 30 * 24 * 3600.0
# The token exchanges remembered for tests (the most recent ones)
EXCHANGE_LOG_LIMIT = 10_000

_LOWER = string.ascii_lowercase + string.digits
_UPPER = string.ascii_uppercase + string.digits
_SECRET = string.ascii_letters + string.digits + "+/"


@dataclass
class Timing:
    """How long Confluent's asynchronous phases take, in seconds. Zero means at once (for all but
    `invitation_expiry`, whose default is 30 days)."""

    connector_provisioning: float = 0.0  # PROVISIONING -> RUNNING (or the outcome set for it)
    plugin_version_processing: float = 0.0  # CCPM version PROCESSING -> READY / FAILED
    api_key_propagation: float = 0.0  # a new API key answers 401 until then
    connector_listing: float = 0.0  # a new connector is missing from the lists until then
    connector_pause_resume: float = 0.0  # a pause or resume shows in the status after this long
    invitation_expiry: float = INVITATION_EXPIRY  # an invitation not accepted by then is EXPIRED


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered (the admin API is not recorded).

    `status` is 0 when no answer was sent: the connection was dropped on purpose, or the client hung
    up first; `time` is the wall-clock arrival. `api_key` is the Basic key ID presented (None for
    none, or a Bearer token); `identity` who authenticated: that key, or the identity pool of a
    Bearer token (never the token), None when nobody did.
    """

    method: str
    path: str
    query: str
    status: int
    time: float
    api_key: str | None
    duration: float = 0.0
    identity: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who is calling, and in which organisation: a Cloud API key (`api_key`), or an identity pool
    through an access token from the STS (`pool_id`); the other is empty."""

    org_id: str
    api_key: str = ""
    pool_id: str = ""

    @property
    def identity(self) -> str:
        """What the request log shows and the rate limit keys on: the key ID or the pool ID."""
        return self.api_key or self.pool_id


@dataclass(frozen=True)
class TokenExchange:
    """One call of the STS token exchange: for which pool, when (wall clock), whether a token was
    issued, and why not. `subject` is the identity claim's value on success. No token is kept."""

    time: float
    pool_id: str
    issued: bool
    reason: str = ""
    subject: str = ""


@dataclass(frozen=True)
class Outcome:
    """How the next provisioning of a connector ends: RUNNING, or FAILED or DEGRADED (task 0 fails)."""

    state: ConnectorState
    trace: str
    errors_from_trace: tuple[str, ...] = ()
    validation_errors: tuple[str, ...] = ()
    override_message: str = ""
    heals_after: int | None = 1

    def failure(self) -> Failure | None:
        """The failure the provisioning ends with, fresh for each connector it falls on."""
        if self.state is ConnectorState.RUNNING:
            return None
        return Failure(
            trace=self.trace,
            task=None if self.state is ConnectorState.FAILED else 0,
            errors_from_trace=list(self.errors_from_trace),
            validation_errors=list(self.validation_errors),
            override_message=self.override_message,
            heals_after=self.heals_after,
        )


# whom an outcome is for: (environment, Kafka cluster, connector name), None matching any
OutcomeKey = tuple[str | None, str | None, str | None]


def timestamp(epoch: float) -> str:
    """RFC 3339 UTC with microseconds, as Confluent writes them."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Core:
    def __init__(
        self,
        timing: Timing,
        state_file: Path | None,
        base_url: str | None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        archive_limit: int = ARCHIVE_LIMIT,
    ) -> None:
        self.timing = timing
        # Seconds since the epoch for timestamps and phases, and a steady clock for rate limits;
        # an injected clock stands in for both so tests move time instead of sleeping.
        self.now: Callable[[], float] = clock or time.time
        self.monotonic: Callable[[], float] = clock or time.monotonic
        # How an injected latency waits; a test's own sleep holds requests until it lets them go.
        self.sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self.state_file = state_file
        self.base_url_override = base_url.rstrip("/") if base_url else None
        self.state = State()
        # A threading lock, not an asyncio one: the Python admin API is called from other threads
        # (serve_in_thread); no handler awaits while holding it.
        self.lock = threading.RLock()
        self.outcomes: dict[OutcomeKey, Outcome] = {}
        # the error message the next CCPM version with this version string (None: any) fails with;
        # "" makes it READY
        self.version_outcomes: dict[str | None, str] = {}
        # the largest archive an upload takes, in bytes (Confluent's 1 GiB unless a test lowers it)
        self.archive_limit = archive_limit
        # the STS token exchanges, for tests; in memory only, like the request log
        self.exchanges: deque[TokenExchange] = deque(maxlen=EXCHANGE_LOG_LIMIT)

    def base_url(self, request: Request) -> str:
        if self.base_url_override:
            return self.base_url_override
        return f"{request.url.scheme}://{request.url.netloc}"

    def commit(self) -> None:
        """Persist after a mutation (callers hold the lock)."""
        if self.state_file is not None:
            self.state.save(self.state_file)

    def new_id(self, prefix: str, length: int = 6) -> str:
        while True:
            candidate = prefix + "".join(secrets.choice(_LOWER) for _ in range(length))
            if not self.state.has_id(candidate):
                return candidate

    def new_api_key_id(self) -> str:
        while True:
            candidate = "".join(secrets.choice(_UPPER) for _ in range(16))
            if candidate not in self.state.api_keys and candidate not in self.state.tombstones:
                return candidate

    @staticmethod
    def new_secret() -> str:
        return "".join(secrets.choice(_SECRET) for _ in range(64))

    @staticmethod
    def new_uuid() -> str:
        return str(uuid.uuid4())

    def take_outcome(self, env_id: str, cluster_id: str, name: str) -> Outcome | None:
        """The outcome set for this connector (one set for its name first, then one for any), used once."""
        for wanted in (name, None):
            for key in list(self.outcomes):
                env, cluster, named = key
                if named == wanted and env in (None, env_id) and cluster in (None, cluster_id):
                    return self.outcomes.pop(key)
        return None

    def take_version_outcome(self, version: str) -> str | None:
        """The outcome set for this version string (or for any), used once: a message, or "" for READY."""
        for key in (version, None):
            if key in self.version_outcomes:
                return self.version_outcomes.pop(key)
        return None

    def key_usable(self, key: ApiKey, now: float) -> bool:
        return now >= key.usable_at

    @staticmethod
    def token_digest(token: str) -> str:
        """How an access token is stored and found: a 256-bit random token's hash reveals nothing."""
        return hashlib.sha256(token.encode()).hexdigest()

    def issue_access_token(self, pool_id: str, org_id: str, lifetime: float) -> tuple[str, AccessToken]:
        """A new opaque access token for this pool (callers hold the lock and commit). Expired
        tokens are dropped on the way, so the table holds live tokens only."""
        now = self.now()
        tokens = self.state.access_tokens
        for digest in [d for d, t in tokens.items() if t.expires_at <= now]:
            del tokens[digest]
        token = secrets.token_urlsafe(32)
        issued = AccessToken(
            digest=self.token_digest(token), pool_id=pool_id, org_id=org_id, issued_at=now, expires_at=now + lifetime
        )
        tokens[issued.digest] = issued
        return token, issued

    def access_token(self, token: str) -> AccessToken | None:
        """The live access token this is (callers hold the lock), or None: unknown, or expired."""
        found = self.state.access_tokens.get(self.token_digest(token))
        if found is None or self.now() >= found.expires_at:
            return None
        return found
