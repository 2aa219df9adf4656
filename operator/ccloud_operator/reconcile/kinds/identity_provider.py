"""IdentityProvider: an OIDC issuer Confluent trusts (iam/v2), by ID or by display name.

Every field is kept as the spec says: what differs is PATCHed, so drift made in Confluent is put
back. Ready once Confluent reports it ENABLED. An IdentityPool that names it holds it (the pool
declares the dependency), so it is not deleted while the pool exists.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ccloud_operator.confluent.identity import ENABLED, IdentityProvider
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready, Waiting
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import ManagementPolicy
from ccloud_operator.resources.identity import IDENTITY_PROVIDER, IdentityProviderSpec, IdentityProviderStatus

__all__ = ["IdentityProviderReconciler", "ProviderRequest", "create_request", "status_of", "update_request"]

ProviderSession = Session[IdentityProviderSpec, IdentityProviderStatus]


@dataclass(frozen=True)
class ProviderRequest:
    display_name: str | None = None
    description: str | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    identity_claim: str | None = None

    def changes(self) -> dict[str, str]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


def create_request(spec: IdentityProviderSpec, name: str) -> ProviderRequest:
    return ProviderRequest(
        display_name=spec.display_name or name,
        description=spec.description,
        issuer=spec.issuer,
        jwks_uri=spec.jwks_uri,
        identity_claim=spec.identity_claim,
    )


def update_request(spec: IdentityProviderSpec, name: str, remote: IdentityProvider) -> ProviderRequest | None:
    """The PATCH that makes `remote` match the spec; None when it already does.

    An identityClaim the spec leaves out is Confluent's to keep.
    """
    want = create_request(spec, name)
    have = {
        "display_name": remote.display_name,
        "description": remote.description,
        "issuer": remote.issuer,
        "jwks_uri": remote.jwks_uri,
        "identity_claim": remote.identity_claim or "",
    }
    patch = ProviderRequest(**{key: value for key, value in want.changes().items() if have[key] != value})
    return None if patch == ProviderRequest() else patch


def status_of(remote: IdentityProvider, status: IdentityProviderStatus) -> None:
    status.display_name = remote.display_name
    status.state = remote.state
    status.resource_name = remote.metadata.resource_name if remote.metadata else None


def _named(s: ProviderSession) -> Named[IdentityProvider]:
    request = create_request(s.spec, s.ref.name)
    name = request.display_name or s.ref.name
    providers = s.client.identity_providers
    return Named(
        what="identity provider",
        key=name,
        key_field="spec.displayName",
        get=providers.get,
        find=lambda: providers.find_by_display_name(name),
        create=lambda: providers.create(**request.changes()),
        delete=providers.delete,
        id_of=lambda p: p.id,
        adopt_id=s.spec.adopt_id,
    )


class IdentityProviderReconciler(BaseReconciler[IdentityProviderSpec, IdentityProviderStatus]):
    kind = IDENTITY_PROVIDER
    spec_model = IdentityProviderSpec
    status_model = IdentityProviderStatus

    async def sync(self, s: ProviderSession) -> Outcome:
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        remote = await converge(s, _named(s))
        if not isinstance(remote, IdentityProvider):
            return remote
        patch = update_request(s.spec, s.ref.name, remote)
        if patch is not None and not observe_only:
            remote = await s.client.identity_providers.update(remote.id, **patch.changes())
        status_of(remote, s.status)
        if patch is not None and observe_only:
            differs = ", ".join(_camel(key) for key in patch.changes())
            return Ready("Observed", f"Confluent differs from the spec ({differs}); ObserveOnly leaves it.")
        if remote.state not in (None, ENABLED):
            return Waiting(
                "NotEnabled",
                f"Confluent reports identity provider {remote.id} {remote.state}, not {ENABLED}: its tokens "
                "are not accepted until it is.",
                after=s.ctx.settings.resync_seconds,
            )
        return Ready("Observed" if observe_only else "Ready")

    async def delete(self, s: ProviderSession) -> Outcome:
        return await delete_named(s, _named(s))


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)
