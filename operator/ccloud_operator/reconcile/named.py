"""The life of a Confluent resource with a natural key (a name, an e-mail), shared by the kinds that
have one: observe by ID (or `adoptId`), else by the key when adopting, observing or recovering a lost
create; refuse what another object holds; create with the checkpoint marks, a 409 resolved as our own
earlier create or reported as a conflict; delete and confirm. A kind describes its resource once
(`Named`) and keeps only what is its own: what to compare and what to change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ccloud_operator.confluent import Conflict, NotFound
from ccloud_operator.reconcile.engine import delete_resource
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import AdoptionPolicy, ManagementPolicy

__all__ = ["Named", "converge", "delete_named"]

R = TypeVar("R")


@dataclass(frozen=True)
class Named(Generic[R]):
    """A kind's Confluent resource, by ID and by natural key."""

    what: str  # how messages call it: "IP group"
    key: str  # the natural key's value: the name, the e-mail
    key_field: str  # the spec field that sets it, for messages: "spec.groupName"
    get: Callable[[str], Awaitable[R]]
    find: Callable[[], Awaitable[R | None]]
    create: Callable[[], Awaitable[R]]
    delete: Callable[[str], Awaitable[None]]
    id_of: Callable[[R], str]
    adopt_id: str | None = None


async def observe(s: Session[Any, Any], named: Named[R]) -> R | None:
    wanted = s.status.id or named.adopt_id
    if wanted is not None:
        try:
            return await named.get(wanted)
        except NotFound:
            if s.status.pending_create is None:
                return None
    by_key = (
        s.status.pending_create is not None  # a create of ours may have landed before a crash
        or s.spec.adoption_policy != AdoptionPolicy.CREATE_ONLY
        or s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
    )
    if by_key and named.adopt_id is None:
        return await named.find()
    return None


async def converge(s: Session[Any, Any], named: Named[R]) -> R | Outcome:
    """The resource this object owns, found or made; or the outcome that says why there is none."""
    observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
    remote = await observe(s, named)
    if remote is not None:
        found = named.id_of(remote)
        if found != s.status.id and (holder := await s.holder(found)) is not None:
            return Terminal(
                "AlreadyManaged",
                f"{named.what} {found} ({named.key}) is already managed by {s.ref.kind} "
                f"{holder.namespace}/{holder.name}: two objects must not own one. Change {named.key_field}, "
                "or delete one of them.",
            )
        if s.status.pending_create is not None or s.status.id != found:
            await s.created(found)  # adopted, or what a crashed create of ours made
        return remote
    if named.adopt_id is not None:
        return Terminal("NotFound", f"spec.adoptId: no {named.what} {named.adopt_id} in Confluent Cloud.")
    if observe_only or s.spec.adoption_policy == AdoptionPolicy.ADOPT:
        return Waiting(
            "NotFound",
            f'No {named.what} "{named.key}" exists in Confluent Cloud to {"observe" if observe_only else "adopt"}.',
            after=s.ctx.settings.resync_seconds,
            synced=False,
        )
    return await _create(s, named)


async def _create(s: Session[Any, Any], named: Named[R]) -> R | Outcome:
    gone = s.status.id
    earlier = s.status.pending_create is not None
    await s.begin_create(name=named.key)
    try:
        made = await named.create()
    except Conflict as conflict:
        taken = await named.find()
        holder = await s.holder(named.id_of(taken)) if taken is not None else None
        if earlier and taken is not None and holder is None:
            await s.created(named.id_of(taken))  # our earlier create made it; the list had not shown it
            return taken
        s.status.pending_create = None
        where = f" ({named.id_of(taken)})" if taken is not None else ""
        if holder is not None:
            return Terminal(
                "AlreadyExists",
                f'A {named.what} "{named.key}"{where} already exists and is managed by {s.ref.kind} '
                f"{holder.namespace}/{holder.name}: change {named.key_field}.",
            )
        if taken is None and not earlier:
            # Nothing has our key, so the conflict is over another field (an identity provider's issuer):
            # adopting by the key would find nothing, so say what Confluent said.
            return Terminal(
                "AlreadyExists",
                f'Confluent Cloud refused {named.what} "{named.key}" as a conflict, though none has this '
                f"{named.key_field}: {conflict}. Change the field it names.",
            )
        return Terminal(
            "AlreadyExists",
            f'A {named.what} "{named.key}" already exists in Confluent Cloud{where}: set spec.adoptionPolicy: '
            f"AdoptOrCreate to adopt it, or change {named.key_field}.",
        )
    await s.created(named.id_of(made))
    if gone is not None:
        await s.event(
            "Warning",
            "Recreated",
            f"{named.what} {gone} was deleted outside Kubernetes; created {named.id_of(made)} in its place.",
        )
    return made


async def delete_named(s: Session[Any, Any], named: Named[R]) -> Outcome:
    target = s.status.id
    if target is None and s.status.pending_create is not None:
        found = await named.find()
        target = named.id_of(found) if found is not None and await s.holder(named.id_of(found)) is None else None
    if target is None:
        return Ready("Deleted", "Nothing to delete.")
    gone_id = target
    await delete_resource(lambda: named.delete(gone_id), lambda: named.get(gone_id))
    return Ready("Deleted", f"{named.what} {gone_id} deleted.")
