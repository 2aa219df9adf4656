"""IdentityPool: which tokens of an identity provider Confluent admits (iam/v2), by ID or by display
name within its provider.

The provider is an IdentityProvider here, which must be Ready first and is held while the pool
exists, or an ID. Its ID goes to status before a create is sent, so the pool is found, and deleted,
in its provider after any crash. The provider never changes (the schema refuses it); every other
field is kept as the spec says, drift made in Confluent put back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ccloud_operator.confluent import NotFound
from ccloud_operator.confluent.identity import ENABLED, IdentityPool
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready, Waiting
from ccloud_operator.reconcile.references import ObjectKey, Reference, Role
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import ManagementPolicy
from ccloud_operator.resources.identity import (
    IDENTITY_POOL,
    IDENTITY_PROVIDER,
    IdentityPoolSpec,
    IdentityPoolStatus,
)

__all__ = ["IdentityPoolReconciler", "PoolRequest", "create_request", "status_of", "update_request"]

PoolSession = Session[IdentityPoolSpec, IdentityPoolStatus]


@dataclass(frozen=True)
class PoolRequest:
    display_name: str | None = None
    description: str | None = None
    identity_claim: str | None = None
    filter: str | None = None

    def changes(self) -> dict[str, str]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


def create_request(spec: IdentityPoolSpec, name: str) -> PoolRequest:
    return PoolRequest(
        display_name=spec.display_name or name,
        description=spec.description,
        identity_claim=spec.identity_claim,
        filter=spec.filter,
    )


def update_request(spec: IdentityPoolSpec, name: str, remote: IdentityPool) -> PoolRequest | None:
    """The PATCH that makes `remote` match the spec; None when it already does."""
    have = {
        "display_name": remote.display_name,
        "description": remote.description,
        "identity_claim": remote.identity_claim,
        "filter": remote.filter,
    }
    want = create_request(spec, name).changes()
    patch = PoolRequest(**{key: value for key, value in want.items() if have[key] != value})
    return None if patch == PoolRequest() else patch


def status_of(remote: IdentityPool, status: IdentityPoolStatus) -> None:
    status.display_name = remote.display_name
    status.state = remote.state


def _named(s: PoolSession, provider: str) -> Named[IdentityPool]:
    request = create_request(s.spec, s.ref.name)
    name = request.display_name or s.ref.name
    pools = s.client.identity_pools
    return Named(
        what="identity pool",
        key=name,
        key_field="spec.displayName",
        get=lambda pool_id: pools.get(provider, pool_id),
        find=lambda: pools.find_by_display_name(provider, name),
        create=lambda: pools.create(provider, **request.changes()),
        delete=lambda pool_id: pools.delete(provider, pool_id),
        id_of=lambda p: p.id,
        adopt_id=s.spec.adopt_id,
    )


class IdentityPoolReconciler(BaseReconciler[IdentityPoolSpec, IdentityPoolStatus]):
    kind = IDENTITY_POOL
    spec_model = IdentityPoolSpec
    status_model = IdentityPoolStatus

    def references(self, spec: IdentityPoolSpec, namespace: str, name: str) -> list[Reference]:
        provider = spec.identity_provider.name
        if provider is None:
            return []
        target = ObjectKey(IDENTITY_PROVIDER.plural, namespace, provider)
        return [Reference(Role.DEPENDENCY, target, "spec.identityProvider.name")]

    async def sync(self, s: PoolSession) -> Outcome:
        provider = await _provider_id(s)
        if not isinstance(provider, str):
            return provider
        # Written with the create mark (or the ID): the pool is always looked for in its provider.
        s.status.identity_provider_id = provider
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        remote = await converge(s, _named(s, provider))
        if not isinstance(remote, IdentityPool):
            return remote
        patch = update_request(s.spec, s.ref.name, remote)
        if patch is not None and not observe_only:
            remote = await s.client.identity_pools.update(provider, remote.id, **patch.changes())
        status_of(remote, s.status)
        if patch is not None and observe_only:
            differs = ", ".join(_camel(key) for key in patch.changes())
            return Ready("Observed", f"Confluent differs from the spec ({differs}); ObserveOnly leaves it.")
        if remote.state not in (None, ENABLED):
            return Waiting(
                "NotEnabled",
                f"Confluent reports identity pool {remote.id} {remote.state}, not {ENABLED}: it admits no "
                "token until it is.",
                after=s.ctx.settings.resync_seconds,
            )
        return Ready("Observed" if observe_only else "Ready")

    async def delete(self, s: PoolSession) -> Outcome:
        provider = s.status.identity_provider_id or s.spec.identity_provider.id
        if provider is None:
            return Ready("Deleted", "No identity provider was ever resolved, so no pool was created.")
        try:
            return await delete_named(s, _named(s, provider))
        except NotFound:
            # Its provider's pools answer 404: the provider is gone (or never was), and a pool cannot outlive it.
            return Ready("Deleted", f"Identity provider {provider} does not exist, so neither does this pool.")


async def _provider_id(s: PoolSession) -> str | Waiting:
    ref = s.spec.identity_provider
    if ref.id is not None:
        return ref.id
    assert ref.name is not None  # the schema asks for one of the two
    found = await s.dependency(IDENTITY_PROVIDER, ref.name)
    if found is None or found.id is None or not found.is_ready:
        what = "does not exist" if found is None else f"is not Ready yet{found.why()}"
        return Waiting(
            "WaitingForIdentityProvider",
            f"IdentityProvider {ref.name} (spec.identityProvider) {what}: the pool is made once it is Ready.",
            # Its Ready turning True wakes this pool; the resync is only the safety net.
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    return found.id


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)
