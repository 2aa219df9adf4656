"""ServiceAccount: observe by ID (or by display name when adopting or recovering), then create,
update or nothing. Display names are unique in an organisation, which makes them a safe natural key."""

from __future__ import annotations

from dataclasses import dataclass

from ccloud_operator.confluent import Conflict, NotFound
from ccloud_operator.confluent.iam import ServiceAccount
from ccloud_operator.reconcile.engine import BaseReconciler, delete_confirmed
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import AdoptionPolicy, ManagementPolicy
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


class ServiceAccountReconciler(BaseReconciler[ServiceAccountSpec, ServiceAccountStatus]):
    kind = SERVICE_ACCOUNT
    spec_model = ServiceAccountSpec
    status_model = ServiceAccountStatus

    async def sync(self, s: SaSession) -> Outcome:
        name = create_request(s.spec, s.ref.name).display_name or s.ref.name
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        remote = await self._observe(s, name)
        if remote is not None and remote.id != s.status.id and (holder := s.holder(remote.id)) is not None:
            return Terminal(
                "AlreadyManaged",
                f"Service account {remote.id} ({remote.display_name}) is already managed by ServiceAccount "
                f"{holder.namespace}/{holder.name}: two objects must not own one account. "
                "Choose another spec.displayName, or delete one of them.",
            )
        if remote is not None:
            s.status.pending_create = None  # whatever a crashed create left, this is it
        if remote is None:
            if s.spec.adopt_id is not None:
                return Terminal("NotFound", f"spec.adoptId: no service account {s.spec.adopt_id} in Confluent Cloud.")
            if observe_only or s.spec.adoption_policy == AdoptionPolicy.ADOPT:
                return Waiting(
                    "NotFound",
                    f'No service account named "{name}" exists in Confluent Cloud to '
                    f"{'observe' if observe_only else 'adopt'}.",
                    after=s.ctx.settings.resync_seconds,
                    synced=False,
                )
            created = await self._create(s, name)
            if not isinstance(created, ServiceAccount):
                return created
            remote = created
        elif (patch := update_request(s.spec, s.ref.name, remote)) is not None:
            if observe_only:
                status_of(remote, s.status)
                return Ready("Observed", f"Confluent differs from spec ({_describe(patch)}); ObserveOnly leaves it.")
            remote = await s.client.service_accounts.update(remote.id, **_kwargs(patch))
        status_of(remote, s.status)
        return Ready("Observed" if observe_only else "Ready")

    async def _create(self, s: SaSession, name: str) -> ServiceAccount | Outcome:
        gone = s.status.id
        earlier = s.status.pending_create is not None  # a create of ours may have landed already
        await s.begin_create(name=name)
        try:
            remote = await s.client.service_accounts.create(**_kwargs(create_request(s.spec, s.ref.name)))
        except Conflict:
            taken = await s.client.service_accounts.find_by_display_name(name)
            holder = s.holder(taken.id) if taken else None
            if earlier and taken is not None and holder is None:
                # Our earlier create made it and the list did not show it yet: it is ours, adopt it.
                await s.created(taken.id)
                return taken
            s.status.pending_create = None
            if holder is not None:
                return Terminal(
                    "AlreadyExists",
                    f'A service account named "{name}" already exists in Confluent Cloud ({taken.id if taken else "?"}) '
                    f"and is managed by ServiceAccount {holder.namespace}/{holder.name}: choose another spec.displayName.",
                )
            return Terminal(
                "AlreadyExists",
                f'A service account named "{name}" already exists in Confluent Cloud'
                f"{f' ({taken.id})' if taken else ''}: set spec.adoptionPolicy: AdoptOrCreate to adopt it, "
                "or choose another spec.displayName.",
            )
        await s.created(remote.id)
        if gone is not None:
            await s.event(
                "Warning",
                "Recreated",
                f"Service account {gone} was deleted outside Kubernetes; created {remote.id} in its place.",
            )
        return remote

    async def _observe(self, s: SaSession, name: str) -> ServiceAccount | None:
        wanted = s.status.id or s.spec.adopt_id
        if wanted is not None:
            try:
                return await s.client.service_accounts.get(wanted)
            except NotFound:
                if s.status.pending_create is None:
                    return None
        by_name = (
            s.status.pending_create is not None  # a create of ours may have landed before the crash
            or s.spec.adoption_policy != AdoptionPolicy.CREATE_ONLY
            or s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        )
        if by_name and s.spec.adopt_id is None:
            return await s.client.service_accounts.find_by_display_name(name)
        return None

    async def delete(self, s: SaSession) -> Outcome:
        target = s.status.id
        if target is None and s.status.pending_create is not None:
            name = create_request(s.spec, s.ref.name).display_name or s.ref.name
            found = await s.client.service_accounts.find_by_display_name(name)
            target = found.id if found is not None and s.holder(found.id) is None else None
        if target is None:
            return Ready("Deleted", "Nothing to delete.")
        sa_id = target
        gone = await delete_confirmed(
            lambda: s.client.service_accounts.delete(sa_id), lambda: s.client.service_accounts.get(sa_id)
        )
        if not gone:
            return Waiting(
                "Deleting",
                f"Service account {sa_id} is still visible in Confluent Cloud.",
                after=s.ctx.settings.wait_seconds,
            )
        return Ready("Deleted", f"Service account {sa_id} deleted.")


def _kwargs(request: ServiceAccountRequest) -> dict[str, str]:
    return {k: v for k, v in vars(request).items() if v is not None}


def _describe(patch: ServiceAccountRequest) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in vars(patch).items() if v is not None)
