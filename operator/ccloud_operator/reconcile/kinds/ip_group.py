"""IpGroup: named IPv4 networks (iam/v2), by ID or by name; the name and the CIDRs are kept as the spec says.

An IpGroup an IpFilter uses is not deleted while the filter exists (the filter declares it as a
dependency, so the engine waits and names the filter).
"""

from __future__ import annotations

from ccloud_operator.confluent.ip_filtering import IpGroup
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.access import IP_GROUP, IpGroupSpec, IpGroupStatus
from ccloud_operator.resources.base import ManagementPolicy

__all__ = ["IpGroupReconciler"]

GroupSession = Session[IpGroupSpec, IpGroupStatus]


def _named(s: GroupSession) -> Named[IpGroup]:
    name = s.spec.group_name or s.ref.name
    groups = s.client.ip_groups
    return Named(
        what="IP group",
        key=name,
        key_field="spec.groupName",
        get=groups.get,
        find=lambda: groups.find_by_name(name),
        create=lambda: groups.create(name, s.spec.cidr_blocks),
        delete=groups.delete,
        id_of=lambda g: g.id,
        adopt_id=s.spec.adopt_id,
    )


class IpGroupReconciler(BaseReconciler[IpGroupSpec, IpGroupStatus]):
    kind = IP_GROUP
    spec_model = IpGroupSpec
    status_model = IpGroupStatus

    async def sync(self, s: GroupSession) -> Outcome:
        named = _named(s)
        remote = await converge(s, named)
        if not isinstance(remote, IpGroup):
            return remote
        differs = []
        if remote.group_name != named.key:
            differs.append("groupName")
        if sorted(remote.cidr_blocks) != sorted(s.spec.cidr_blocks):
            differs.append("cidrBlocks")
        if differs and s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY:
            s.status.group_name = remote.group_name
            return Ready("Observed", f"Confluent differs from the spec ({', '.join(differs)}); ObserveOnly leaves it.")
        if differs:
            remote = await s.client.ip_groups.update(
                remote.id,
                group_name=named.key if "groupName" in differs else None,
                cidr_blocks=s.spec.cidr_blocks if "cidrBlocks" in differs else None,
            )
        s.status.group_name = remote.group_name
        return Ready("Observed" if s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY else "Ready")

    async def delete(self, s: GroupSession) -> Outcome:
        return await delete_named(s, _named(s))
