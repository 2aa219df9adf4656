"""ServiceAccount: observe by ID (or by display name when adopting or recovering), then create,
update or nothing (the life named resources share: `reconcile.named`). Display names are unique in
an organisation, which makes them a safe natural key."""

from __future__ import annotations

from dataclasses import dataclass

from ccloud_operator.confluent.iam import ServiceAccount
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import ManagementPolicy
from ccloud_operator.resources.service_account import (
    SERVICE_ACCOUNT,
    ServiceAccountSpec,
    ServiceAccountStatus,
)

__all__ = [
    "ServiceAccountReconciler",
    "ServiceAccountRequest",
    "create_request",
    "status_of",
    "update_request",
]

SaSession = Session[ServiceAccountSpec, ServiceAccountStatus]


@dataclass(frozen=True)
class ServiceAccountRequest:
    display_name: str | None = None
    description: str | None = None


def create_request(spec: ServiceAccountSpec, name: str) -> ServiceAccountRequest:
    return ServiceAccountRequest(display_name=spec.display_name or name, description=spec.description)


def update_request(spec: ServiceAccountSpec, name: str, remote: ServiceAccount) -> ServiceAccountRequest | None:
    """The PATCH that makes `remote` match the spec; None when it already does."""
    want = create_request(spec, name)
    patch = ServiceAccountRequest(
        display_name=want.display_name if remote.display_name != want.display_name else None,
        description=want.description if (remote.description or "") != want.description else None,
    )
    return None if patch == ServiceAccountRequest() else patch


def status_of(remote: ServiceAccount, status: ServiceAccountStatus) -> None:
    status.id = remote.id
    status.display_name = remote.display_name
    status.resource_name = remote.metadata.resource_name if remote.metadata else None


def _named(s: SaSession) -> Named[ServiceAccount]:
    name = create_request(s.spec, s.ref.name).display_name or s.ref.name
    accounts = s.client.service_accounts
    return Named(
        what="service account",
        key=name,
        key_field="spec.displayName",
        get=accounts.get,
        find=lambda: accounts.find_by_display_name(name),
        create=lambda: accounts.create(**_kwargs(create_request(s.spec, s.ref.name))),
        delete=accounts.delete,
        id_of=lambda account: account.id,
        adopt_id=s.spec.adopt_id,
    )


class ServiceAccountReconciler(BaseReconciler[ServiceAccountSpec, ServiceAccountStatus]):
    kind = SERVICE_ACCOUNT
    spec_model = ServiceAccountSpec
    status_model = ServiceAccountStatus

    async def sync(self, s: SaSession) -> Outcome:
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        remote = await converge(s, _named(s))
        if not isinstance(remote, ServiceAccount):
            return remote
        if (patch := update_request(s.spec, s.ref.name, remote)) is not None:
            if observe_only:
                status_of(remote, s.status)
                return Ready("Observed", f"Confluent differs from spec ({_describe(patch)}); ObserveOnly leaves it.")
            remote = await s.client.service_accounts.update(remote.id, **_kwargs(patch))
        status_of(remote, s.status)
        return Ready("Observed" if observe_only else "Ready")

    async def delete(self, s: SaSession) -> Outcome:
        return await delete_named(s, _named(s))


def _kwargs(request: ServiceAccountRequest) -> dict[str, str]:
    return {k: v for k, v in vars(request).items() if v is not None}


def _describe(patch: ServiceAccountRequest) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in vars(patch).items() if v is not None)
