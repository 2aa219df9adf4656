"""IpFilter: which IP groups may reach the organisation's APIs (iam/v2), by ID or by name.

The IpGroups it names in this namespace must be Ready first; their IDs, with any given by ID, are
the filter's groups. A filter without `resourceScope` covers the organisation, which Confluent
reports as the organisation's CRN: the two are one scope, never drift.
"""

from __future__ import annotations

from ccloud_operator.confluent.crn import organization_crn
from ccloud_operator.confluent.ip_filtering import IpFilter
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready, Waiting
from ccloud_operator.reconcile.references import ObjectKey, Reference, Role
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.access import IP_FILTER, IP_GROUP, IpFilterSpec, IpFilterStatus
from ccloud_operator.resources.base import ManagementPolicy

__all__ = ["IpFilterReconciler"]

FilterSession = Session[IpFilterSpec, IpFilterStatus]


class IpFilterReconciler(BaseReconciler[IpFilterSpec, IpFilterStatus]):
    kind = IP_FILTER
    spec_model = IpFilterSpec
    status_model = IpFilterStatus

    def references(self, spec: IpFilterSpec, namespace: str, name: str) -> list[Reference]:
        return [
            Reference(Role.DEPENDENCY, ObjectKey(IP_GROUP.plural, namespace, group.name), f"spec.ipGroups[{i}].name")
            for i, group in enumerate(spec.ip_groups)
            if group.name is not None
        ]

    async def sync(self, s: FilterSession) -> Outcome:
        groups = await _group_ids(s)
        if not isinstance(groups, list):
            return groups
        named = _named(s, groups)
        name, filters = named.key, s.client.ip_filters
        remote = await converge(s, named)
        if not isinstance(remote, IpFilter):
            return remote
        differs = await _differs(s, remote, name, groups)
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        if differs and not observe_only:
            # The whole desired state at once: Confluent checks a PATCH as a whole (operation groups
            # must be emptied in the same call that moves a filter to management).
            remote = await filters.update(
                remote.id,
                filter_name=name,
                resource_group=s.spec.resource_group.value,
                ip_group_ids=groups,
                operation_groups=s.spec.operation_groups,
                resource_scope=s.spec.resource_scope,
            )
        s.status.filter_name = remote.filter_name
        s.status.ip_group_ids = remote.ip_group_ids
        if differs and observe_only:
            return Ready("Observed", f"Confluent differs from the spec ({', '.join(differs)}); ObserveOnly leaves it.")
        return Ready("Observed" if observe_only else "Ready")

    async def delete(self, s: FilterSession) -> Outcome:
        return await delete_named(s, _named(s, []))


def _named(s: FilterSession, groups: list[str]) -> Named[IpFilter]:
    name = s.spec.filter_name or s.ref.name
    filters = s.client.ip_filters
    return Named(
        what="IP filter",
        key=name,
        key_field="spec.filterName",
        get=filters.get,
        find=lambda: filters.find_by_name(name),
        create=lambda: filters.create(
            name,
            s.spec.resource_group.value,
            groups,
            operation_groups=s.spec.operation_groups,
            resource_scope=s.spec.resource_scope,
        ),
        delete=filters.delete,
        id_of=lambda f: f.id,
        adopt_id=s.spec.adopt_id,
    )


async def _group_ids(s: FilterSession) -> list[str] | Waiting:
    """The IDs of the filter's groups: those given, and those of its IpGroups, which must be Ready."""
    ids = []
    for group in s.spec.ip_groups:
        if group.id is not None:
            ids.append(group.id)
            continue
        assert group.name is not None
        found = await s.dependency(IP_GROUP, group.name)
        if found is None or found.id is None or not found.is_ready:
            what = "does not exist" if found is None else f"is not Ready yet{found.why()}"
            return Waiting(
                "WaitingForIpGroup",
                f"IpGroup {group.name} (spec.ipGroups) {what}: the filter is sent once it is Ready.",
                # Its Ready turning True wakes this filter; the resync is only the safety net.
                after=s.ctx.settings.resync_seconds,
                synced=False,
            )
        ids.append(found.id)
    return ids


async def _differs(s: FilterSession, remote: IpFilter, name: str, groups: list[str]) -> list[str]:
    differs = []
    if remote.filter_name != name:
        differs.append("filterName")
    if (remote.resource_group or "").lower() != s.spec.resource_group.value:
        differs.append("resourceGroup")
    if sorted(g.upper() for g in remote.operation_groups) != sorted(s.spec.operation_groups):
        differs.append("operationGroups")
    if sorted(remote.ip_group_ids) != sorted(groups):
        differs.append("ipGroups")
    if (remote.resource_scope or None) != s.spec.resource_scope:
        organization = organization_crn(await s.client.organizations.current_id())
        if (remote.resource_scope or organization) != (s.spec.resource_scope or organization):
            differs.append("resourceScope")
    return differs
