"""Invitation: a person invited to the organisation (iam/v2), by ID or by e-mail.

Sent and accepted are both Ready (the status says which, with the user it made); an invitation
that expired or was deactivated is not, and says how to send a new one. The e-mail and auth type
never change (the schema refuses it), so there is nothing to update.
"""

from __future__ import annotations

from ccloud_operator.confluent.users import Invitation, InvitationStatus
from ccloud_operator.reconcile.engine import BaseReconciler
from ccloud_operator.reconcile.named import Named, converge, delete_named
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.access import INVITATION, InvitationSpec, InvitedUser
from ccloud_operator.resources.access import InvitationStatus as Status
from ccloud_operator.resources.base import ManagementPolicy

__all__ = ["InvitationReconciler"]

InviteSession = Session[InvitationSpec, Status]


def _named(s: InviteSession) -> Named[Invitation]:
    invitations = s.client.invitations
    return Named(
        what="invitation",
        key=s.spec.email,
        key_field="spec.email",
        get=invitations.get,
        find=lambda: invitations.find_by_email(s.spec.email),
        create=lambda: invitations.create(s.spec.email, s.spec.auth_type.value),
        delete=invitations.delete,
        id_of=lambda i: i.id,
    )


class InvitationReconciler(BaseReconciler[InvitationSpec, Status]):
    kind = INVITATION
    spec_model = InvitationSpec
    status_model = Status

    async def sync(self, s: InviteSession) -> Outcome:
        remote = await converge(s, _named(s))
        if not isinstance(remote, Invitation):
            return remote
        s.status.invitation_status = str(remote.status) if remote.status else None
        s.status.user = InvitedUser(id=remote.user_id) if remote.user_id else None
        s.status.expires_at, s.status.accepted_at = remote.expires_at, remote.accepted_at
        observed = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        match remote.status:
            case InvitationStatus.ACCEPTED:
                return Ready("Accepted", f"{s.spec.email} accepted the invitation: user {remote.user_id}.")
            case InvitationStatus.SENT | InvitationStatus.STAGED:
                return Ready(
                    "Observed" if observed else "Sent",
                    f"Invitation sent to {s.spec.email}; it expires at {remote.expires_at or 'a time Confluent did not say'}.",
                )
            case _:
                return Terminal(
                    "InvitationClosed",
                    f"The invitation to {s.spec.email} is {remote.status}: delete this Invitation and create it "
                    "again to send a new one.",
                )

    async def delete(self, s: InviteSession) -> Outcome:
        return await delete_named(s, _named(s))
