"""iam/v2 users (read) and invitations.

An invitation makes a pending user at once (`user.id` in its answer): listed and readable among the
users, usable as a role binding's principal. It is INVITE_STATUS_SENT until accepted (the admin API
stands in for the invitee) or until `timing.invitation_expiry` has passed, when it reads
INVITE_STATUS_EXPIRED. Deleting an invitation never accepted deactivates its user (unless another
invitation for it is still open): gone from the users API (404), its role bindings deleted;
deleting an accepted one leaves the user be. A deleted invitation answers 404. Inviting an e-mail
address (compared without case) that a pending or active user of the organisation has is a 409
pointing at its open invitation, or at the user; an expired invitation's user may be invited again
(the same pending user, a new invitation).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Caller, Core, timestamp
from ccloud_emulator.errors import ApiError
from ccloud_emulator.rest import caller, json_object, json_response, org_crn, page, text_field
from ccloud_emulator.state import Invitation, InvitationStatus, State, User, UserStatus

__all__ = ["AUTH_TYPES", "EXPIRED", "UsersApi", "invitation_status"]

AUTH_TYPES = ("AUTH_TYPE_LOCAL", "AUTH_TYPE_SSO")
EXPIRED = "INVITE_STATUS_EXPIRED"
# an address: something without spaces or @, an @, and a domain of dot-separated labels
_EMAIL = re.compile(
    r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def invitation_status(invitation: Invitation, now: float) -> str:
    """What an invitation reads: SENT turns EXPIRED once `expires_at` has passed."""
    if invitation.status is InvitationStatus.SENT and now >= invitation.expires_at:
        return EXPIRED
    return invitation.status.value


def _reference(base: str, org_id: str, principal: str) -> dict[str, str]:
    """A GlobalObjectReference to a user or a service account."""
    if principal.startswith("sa-"):
        return {
            "id": principal,
            "related": f"{base}/iam/v2/service-accounts/{principal}",
            "resource_name": f"{org_crn(org_id)}/service-account={principal}",
        }
    return {
        "id": principal,
        "related": f"{base}/iam/v2/users/{principal}",
        "resource_name": f"{org_crn(org_id)}/user={principal}",
    }


def deactivate(state: State, user: User, now: float) -> None:
    """A user who never got in leaves: hidden from the users API, its role bindings gone."""
    user.status = UserStatus.DEACTIVATED
    user.updated_at = now
    state.delete_role_bindings(lambda rb: rb.org_id == user.org_id and rb.principal == f"User:{user.id}")


class UsersApi:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        return [
            Route("/iam/v2/users", self.list_users, methods=["GET"]),
            Route("/iam/v2/users/{id}", self.get_user, methods=["GET"]),
            Route("/iam/v2/invitations", self.list_invitations, methods=["GET"]),
            Route("/iam/v2/invitations", self.create_invitation, methods=["POST"]),
            Route("/iam/v2/invitations/{id}", self.get_invitation, methods=["GET"]),
            Route("/iam/v2/invitations/{id}", self.delete_invitation, methods=["DELETE"]),
        ]

    # users

    @staticmethod
    def render_user(base: str, user: User) -> dict[str, Any]:
        return {
            "api_version": "iam/v2",
            "kind": "User",
            "id": user.id,
            "metadata": {
                "self": f"{base}/iam/v2/users/{user.id}",
                "resource_name": f"{org_crn(user.org_id)}/user={user.id}",
                "created_at": timestamp(user.created_at),
                "updated_at": timestamp(user.updated_at),
            },
            "email": user.email,
            "full_name": user.full_name,
            "auth_type": user.auth_type,
        }

    def _visible(self, who: Caller, user: User) -> bool:
        return user.org_id == who.org_id and user.status is not UserStatus.DEACTIVATED

    async def list_users(self, request: Request) -> Response:
        who = caller(request)
        base = self.core.base_url(request)
        with self.core.lock:
            users = [u for u in self.core.state.users.values() if self._visible(who, u)]
            users.sort(key=lambda u: (u.created_at, u.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="UserList",
                items=users,
                render=lambda u: self.render_user(base, u),
            )
        return json_response(body)

    async def get_user(self, request: Request) -> Response:
        who = caller(request)
        user_id = request.path_params["id"]
        with self.core.lock:
            user = self.core.state.users.get(user_id)
            if user is None or not self._visible(who, user):
                raise ApiError(404, "User Not Found", code="user_not_found", title="Not Found")
            return json_response(self.render_user(self.core.base_url(request), user))

    # invitations

    def render_invitation(self, base: str, invitation: Invitation) -> dict[str, Any]:
        org = invitation.org_id
        return {
            "api_version": "iam/v2",
            "kind": "Invitation",
            "id": invitation.id,
            "metadata": {
                "self": f"{base}/iam/v2/invitations/{invitation.id}",
                "resource_name": f"{org_crn(org)}/invitation={invitation.id}",
                "created_at": timestamp(invitation.created_at),
                "updated_at": timestamp(invitation.updated_at),
            },
            "email": invitation.email,
            "auth_type": invitation.auth_type,
            "status": invitation_status(invitation, self.core.now()),
            "accepted_at": None if invitation.accepted_at is None else timestamp(invitation.accepted_at),
            "expires_at": timestamp(invitation.expires_at),
            "user": _reference(base, org, invitation.user_id),
            "creator": _reference(base, org, invitation.creator_id),
        }

    def _invitation(self, who: Caller, invitation_id: str) -> Invitation:
        invitation = self.core.state.invitations.get(invitation_id)
        if invitation is None or invitation.org_id != who.org_id:
            raise ApiError(404, "Invitation Not Found", code="invitation_not_found", title="Not Found")
        return invitation

    async def list_invitations(self, request: Request) -> Response:
        who = caller(request)
        wanted = {
            name: request.query_params.get(name)
            for name in ("email", "status", "user", "creator")
            if request.query_params.get(name) is not None
        }
        base = self.core.base_url(request)
        with self.core.lock:
            now = self.core.now()

            def matches(i: Invitation) -> bool:
                fields = {
                    "email": i.email,
                    "status": invitation_status(i, now),
                    "user": i.user_id,
                    "creator": i.creator_id,
                }
                return all(fields[name] == value for name, value in wanted.items())

            found = [i for i in self.core.state.invitations.values() if i.org_id == who.org_id and matches(i)]
            found.sort(key=lambda i: (i.created_at, i.id))
            body = page(
                request,
                base,
                api_version="iam/v2",
                kind="InvitationList",
                items=found,
                render=lambda i: self.render_invitation(base, i),
                filters=("email", "status", "user", "creator"),
            )
        return json_response(body)

    async def create_invitation(self, request: Request) -> Response:
        who = caller(request)
        body = await json_object(request)
        email = text_field(body, "email", "/email", required=True, max_length=254)
        if not _EMAIL.match(email):
            raise ApiError(400, f"'{email}' is not a valid email address", code="invalid_input", pointer="/email")
        auth_type = body.get("auth_type") or "AUTH_TYPE_LOCAL"
        if auth_type not in AUTH_TYPES:
            raise ApiError(
                400, f"'auth_type' must be one of {', '.join(AUTH_TYPES)}", code="invalid_input", pointer="/auth_type"
            )
        base = self.core.base_url(request)
        with self.core.lock:
            state = self.core.state
            now = self.core.now()
            user = self._holder(who, email, base, now)
            if user is None:
                user = User(
                    id=self.core.new_id("u-"),
                    org_id=who.org_id,
                    email=email,
                    auth_type=auth_type,
                    status=UserStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                )
                state.users[user.id] = user
            invitation = Invitation(
                id=self.core.new_id("i-", 5),
                org_id=who.org_id,
                email=email,
                auth_type=auth_type,
                user_id=user.id,
                creator_id=self._creator(who),
                status=InvitationStatus.SENT,
                created_at=now,
                updated_at=now,
                expires_at=now + self.core.timing.invitation_expiry,
            )
            state.invitations[invitation.id] = invitation
            self.core.commit()
            rendered = self.render_invitation(base, invitation)
        return json_response(rendered, 201, {"Location": rendered["metadata"]["self"]})

    def _creator(self, who: Caller) -> str:
        key = self.core.state.api_keys.get(who.api_key)
        return key.owner_id if key is not None else self.core.state.defaults["user_id"]

    def _holder(self, who: Caller, email: str, base: str, now: float) -> User | None:
        """The pending user an expired invitation left for this address (invited again), or None;
        a 409 when a user of the organisation has it, or an invitation for it is open."""
        state = self.core.state
        for user in state.users.values():
            if user.org_id != who.org_id or user.status is UserStatus.DEACTIVATED:
                continue
            if user.email.casefold() != email.casefold():
                continue
            open_ = [
                i
                for i in state.invitations.values()
                if i.user_id == user.id and invitation_status(i, now) == InvitationStatus.SENT
            ]
            if user.status is UserStatus.PENDING and not open_:
                return user
            where = f"{base}/iam/v2/invitations/{open_[0].id}" if open_ else f"{base}/iam/v2/users/{user.id}"
            what = "An invitation for" if open_ else "A user with"
            raise ApiError(
                409,
                f"{what} email '{email}' already exists in the organization",
                code="resource_already_exists",
                location=where,
            )
        return None

    async def get_invitation(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            invitation = self._invitation(who, request.path_params["id"])
            return json_response(self.render_invitation(self.core.base_url(request), invitation))

    async def delete_invitation(self, request: Request) -> Response:
        who = caller(request)
        with self.core.lock:
            state = self.core.state
            invitation = self._invitation(who, request.path_params["id"])
            now = self.core.now()
            del state.invitations[invitation.id]
            user = state.users.get(invitation.user_id)
            still_open = any(
                i.user_id == invitation.user_id and invitation_status(i, now) == InvitationStatus.SENT
                for i in state.invitations.values()
            )
            if user is not None and user.status is UserStatus.PENDING and not still_open:
                deactivate(state, user, now)
            state.tombstones.add(invitation.id)
            self.core.commit()
        return Response(status_code=204)
