"""RoleBinding: a role for a principal on a CRN pattern (iam/v2).

Confluent never changes a binding, so a change of principal, role or pattern replaces it: the new
binding is made first and the old one deleted after (`status.replacing` carries it across a crash),
so access never lapses. A binding deleted outside Kubernetes is made again. The principal is a
ServiceAccount here (which must be Ready) or an ID; the pattern is given, or built from a scope and
the organisation the credentials belong to.
"""

from __future__ import annotations

from ccloud_operator.confluent.crn import scope_crn
from ccloud_operator.confluent.rbac import RoleBinding
from ccloud_operator.reconcile.engine import BaseReconciler, delete_resource
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import ObjectKey, Reference, Role
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.access import ROLE_BINDING, BindingScope, RoleBindingSpec, RoleBindingStatus
from ccloud_operator.resources.base import ManagementPolicy
from ccloud_operator.resources.service_account import SERVICE_ACCOUNT

__all__ = ["RoleBindingReconciler"]

BindingSession = Session[RoleBindingSpec, RoleBindingStatus]
Desired = tuple[str, str, str]  # principal, role, CRN pattern


class RoleBindingReconciler(BaseReconciler[RoleBindingSpec, RoleBindingStatus]):
    kind = ROLE_BINDING
    spec_model = RoleBindingSpec
    status_model = RoleBindingStatus

    def references(self, spec: RoleBindingSpec, namespace: str, name: str) -> list[Reference]:
        account = spec.principal.service_account
        if account is None:
            return []
        target = ObjectKey(SERVICE_ACCOUNT.plural, namespace, account.name)
        return [Reference(Role.DEPENDENCY, target, "spec.principal.serviceAccount")]

    def may_exist(self, status: RoleBindingStatus) -> bool:
        return super().may_exist(status) or status.replacing is not None

    async def sync(self, s: BindingSession) -> Outcome:
        desired = await _desired(s)
        if not isinstance(desired, tuple):
            return desired
        principal, role, crn = desired
        named = _named(s, desired)
        remote = await converge(s, named)
        if not isinstance(remote, RoleBinding):
            return remote
        have = (remote.principal, remote.role_name, remote.crn_pattern)
        if have != desired:
            if s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY:
                _record(s, remote)
                return Ready(
                    "Observed", f"Confluent's binding {remote.id} differs from the spec; ObserveOnly leaves it."
                )
            # Replace: the new binding first, then the old one goes.
            s.status.replacing, s.status.id = remote.id, None
            await s.checkpoint()
            made = await converge(s, named)
            if not isinstance(made, RoleBinding):
                return made
            remote = made
        if s.status.replacing is not None and s.status.replacing != remote.id:
            old = s.status.replacing
            await _delete(s, old)
            s.status.replacing = None
            await s.checkpoint()
            await s.event(
                "Normal", "Replaced", f"Bound {role} to {principal} on {crn} as {remote.id}, then deleted {old}."
            )
        _record(s, remote)
        return Ready("Observed" if s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY else "Ready")

    async def delete(self, s: BindingSession) -> Outcome:
        if s.status.replacing is not None:
            await _delete(s, s.status.replacing)
            s.status.replacing = None
            await s.checkpoint()
        desired = (s.status.principal or "", s.status.role_name or "", s.status.crn_pattern or "")
        return await delete_named(s, _named(s, desired))


def _named(s: BindingSession, desired: Desired) -> Named[RoleBinding]:
    principal, role, crn = desired
    bindings = s.client.role_bindings
    return Named(
        what="role binding",
        key=f"{role} for {principal} on {crn}",
        key_field="spec.roleName, spec.principal or the pattern",
        get=bindings.get,
        find=lambda: bindings.find(principal, role, crn),
        create=lambda: bindings.create(principal, role, crn),
        delete=bindings.delete,
        id_of=lambda b: b.id,
    )


def _record(s: BindingSession, remote: RoleBinding) -> None:
    s.status.principal, s.status.role_name, s.status.crn_pattern = (
        remote.principal,
        remote.role_name,
        remote.crn_pattern,
    )


async def _delete(s: BindingSession, binding_id: str) -> None:
    await delete_resource(
        lambda: s.client.role_bindings.delete(binding_id), lambda: s.client.role_bindings.get(binding_id)
    )


async def _desired(s: BindingSession) -> Desired | Outcome:
    principal = await _principal(s)
    if not isinstance(principal, str):
        return principal
    if s.spec.crn_pattern is not None:
        crn = s.spec.crn_pattern
    else:
        assert s.spec.scope is not None  # the schema asks for one of the two
        try:
            crn = _crn(await s.client.organizations.current_id(), s.spec.scope)
        except ValueError as exc:
            return Terminal("InvalidSpec", f"spec.scope: {exc}")
    return principal, s.spec.role_name, crn


async def _principal(s: BindingSession) -> str | Waiting:
    if s.spec.principal.id is not None:
        return s.spec.principal.id
    account = s.spec.principal.service_account
    assert account is not None  # the schema asks for one of the two
    found = await s.dependency(SERVICE_ACCOUNT, account.name)
    if found is None or found.id is None or not found.is_ready:
        what = "does not exist" if found is None else f"is not Ready yet{found.why()}"
        return Waiting(
            "WaitingForServiceAccount",
            f"ServiceAccount {account.name} (spec.principal.serviceAccount) {what}: the binding is made once it is Ready.",
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    return f"User:{found.id}"


def _crn(organization: str, scope: BindingScope) -> str:
    kind, name = next(
        (
            (k, v)
            for k, v in (("topic", scope.topic), ("group", scope.group), ("transactional-id", scope.transactional_id))
            if v
        ),
        (None, None),
    )
    return scope_crn(
        organization,
        environment=scope.environment,
        kafka_cluster=scope.kafka_cluster,
        resource_type=kind,
        resource_name=name,
        prefix=scope.prefix,
    )
