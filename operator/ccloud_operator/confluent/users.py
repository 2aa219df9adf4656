"""iam/v2 users (read) and invitations.

An invitation makes a pending user at once (`Invitation.user_id`), who can be given role bindings
before accepting. Deleting an invitation never accepted deactivates that user. `Invitation.status`
is one of `InvitationStatus` (kept as a plain string should Confluent add one).
"""

from __future__ import annotations

import builtins
from enum import StrEnum

from pydantic import field_validator

from ccloud_operator.confluent.models import ApiModel, ObjectMeta, ObjectReference
from ccloud_operator.confluent.transport import ApiTransport, Params, segment

__all__ = ["AUTH_TYPE_LOCAL", "AUTH_TYPE_SSO", "Invitation", "InvitationStatus", "Invitations", "User", "Users"]

AUTH_TYPE_LOCAL = "AUTH_TYPE_LOCAL"
AUTH_TYPE_SSO = "AUTH_TYPE_SSO"


class InvitationStatus(StrEnum):
    SENT = "INVITE_STATUS_SENT"
    STAGED = "INVITE_STATUS_STAGED"
    ACCEPTED = "INVITE_STATUS_ACCEPTED"
    EXPIRED = "INVITE_STATUS_EXPIRED"
    DEACTIVATED = "INVITE_STATUS_DEACTIVATED"


class User(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    email: str = ""
    full_name: str = ""
    auth_type: str | None = None


class Invitation(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    id: str
    metadata: ObjectMeta | None = None
    email: str = ""
    auth_type: str | None = None
    # Extensible on Confluent's side: a status it adds later stays a plain string.
    status: InvitationStatus | str | None = None
    accepted_at: str | None = None
    expires_at: str | None = None
    user: ObjectReference | None = None
    creator: ObjectReference | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: object) -> object:
        # a status the enum knows reads as its member, so `is InvitationStatus.SENT` holds
        return (
            InvitationStatus(value)
            if isinstance(value, str) and value in InvitationStatus._value2member_map_
            else value
        )

    @property
    def user_id(self) -> str | None:
        """The invited user's ID (`u-…`), pending until the invitation is accepted."""
        return self.user.id if self.user else None


class Users:
    """`/iam/v2/users` (read only: users join by invitation)."""

    PATH = "/iam/v2/users"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def get(self, id: str) -> User:
        return await self._api.model(User, "GET", f"{self.PATH}/{segment(id)}")

    async def list(self) -> builtins.list[User]:
        return await self._api.paginate(User, self.PATH)

    async def find_by_email(self, email: str) -> User | None:
        """The user with this address (without regard to case; the list has no filter for it)."""
        found = [u for u in await self.list() if u.email.casefold() == email.casefold()]
        return found[0] if found else None


class Invitations:
    """`/iam/v2/invitations` (create, read, list, delete: no update)."""

    PATH = "/iam/v2/invitations"

    def __init__(self, api: ApiTransport) -> None:
        self._api = api

    async def create(self, email: str, auth_type: str | None = None) -> Invitation:
        """Invite; `Conflict` (with `location`: the open invitation, or the user) when the address
        is a member's or has an open invitation."""
        body = {"email": email, **({"auth_type": auth_type} if auth_type else {})}
        return await self._api.model(Invitation, "POST", self.PATH, json=body)

    async def get(self, id: str) -> Invitation:
        return await self._api.model(Invitation, "GET", f"{self.PATH}/{segment(id)}")

    async def list(
        self,
        *,
        email: str | None = None,
        status: InvitationStatus | str | None = None,
        user: str | None = None,
        creator: str | None = None,
    ) -> builtins.list[Invitation]:
        """Every invitation, or those matching each filter given exactly."""
        pairs = (("email", email), ("status", status and str(status)), ("user", user), ("creator", creator))
        params: Params = {k: v for k, v in pairs if v}
        return await self._api.paginate(Invitation, self.PATH, params)

    async def find_by_email(self, email: str) -> Invitation | None:
        """The newest invitation for this address, if any (the list is oldest first)."""
        found = await self.list(email=email)
        return found[-1] if found else None

    async def delete(self, id: str) -> None:
        """Withdraw it (its user, if it never accepted, is deactivated); `NotFound` if already gone."""
        await self._api.request("DELETE", f"{self.PATH}/{segment(id)}")
