"""What a reconcile ended with, and the one place Confluent errors become an outcome.

    Ready(reason, message)                   the resource is what the spec asks for
    Waiting(reason, message, after, synced)  nothing is wrong; look again soon (dependency, propagation)
    Retry(reason, message, after)            something transient failed; try again no sooner than `after`
    Terminal(reason, message)                only a change (spec, Secret, Confluent side) can help
    Paused(message)                          the pause annotation is set: nothing was looked at

Knows nothing of kopf; the handlers turn outcomes into kopf's errors and requeues.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccloud_operator.confluent import (
    ApiError,
    Conflict,
    ConfluentError,
    Forbidden,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from ccloud_operator.confluent.sts import TokenExchangeFailed

__all__ = ["Outcome", "Paused", "Ready", "Retry", "Terminal", "Waiting", "classify"]


@dataclass(frozen=True)
class Ready:
    reason: str = "Ready"
    message: str = ""
    # Look again this soon rather than at the next resync: something beside the spec is still settling.
    recheck: float | None = None


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str
    after: float
    synced: bool = True


@dataclass(frozen=True)
class Retry:
    reason: str
    message: str
    after: float


@dataclass(frozen=True)
class Terminal:
    reason: str
    message: str


@dataclass(frozen=True)
class Paused:
    message: str
    reason: str = "ReconcilePaused"


Outcome = Ready | Waiting | Retry | Terminal | Paused


def classify(
    error: ConfluentError,
    attempt: int,
    policy: RetryPolicy,
    cap: float,
    credentials: str = "the credentials Secret",
    *,
    workload_identity: bool = False,
) -> Retry | Terminal:
    """Turn a Confluent error into an outcome. `attempt` counts this object's failures in a row, from 1;
    `credentials` names where the credential came from, for the message that asks to fix it, and
    `workload_identity` says it is an identity pool's tokens rather than an API key."""
    message = str(error)
    match error:
        case TokenExchangeFailed(transient=True):
            return Retry("ConfluentUnavailable", message, min(cap, policy.delay(attempt, error)))
        case TokenExchangeFailed():
            # Fixed on the pool or the provider (its filter, issuer, keys), not here: retried, backing off.
            return Retry(
                "WorkloadIdentityRefused",
                f"{message}. Check the identity pool's filter and its provider's issuer and JWKS.",
                min(cap, max(policy.backoff(attempt + 3), 5.0)),
            )
        case Unauthorized() if workload_identity:
            return Terminal("CredentialsInvalid", f"{message}. Confluent refused the access token of {credentials}.")
        case RateLimited():
            return Retry("RateLimited", message, min(cap, max(policy.delay(attempt, error), 1.0)))
        case ServerError() | TransportError():
            return Retry("ConfluentUnavailable", message, min(cap, policy.delay(attempt, error)))
        case Unauthorized():
            return Terminal(
                "CredentialsInvalid",
                f"{message}. Check the Cloud API key in {credentials} (keys apiKey and apiSecret).",
            )
        case QuotaExceeded():
            return Terminal("QuotaExceeded", f"{message}. Free up quota in Confluent Cloud or raise the limit.")
        case ValidationFailed():
            return Terminal("Rejected", f"Confluent rejected the request: {message}")
        case Forbidden():
            return Terminal("Forbidden", f"{message}. The API key's principal lacks a role for this operation.")
        case Conflict():
            return Terminal("Conflict", message)
        case NotFound():
            # A dependency vanished between two calls; the next pass observes it afresh.
            return Retry("NotFound", message, min(cap, policy.delay(attempt, error)))
        case ApiError():
            return Terminal("ApiError", message)
    return Retry("Error", message, min(cap, policy.delay(attempt, error)))
