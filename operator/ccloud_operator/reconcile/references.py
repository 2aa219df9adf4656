"""What an object's spec points at, declared by its kind; the wake-ups, guards and finalizers follow.

A kind lists its references (`KindReconciler.references`): the Secrets and ConfigMaps its spec reads,
and the objects of ours it depends on. Each reference says what it is for:

    CREDENTIALS   the Cloud API key Secret: held by a finalizer while any object uses it, so deleting a
                  namespace with everything in it can still delete what is in Confluent
    INPUT         a Secret or ConfigMap whose change must reach Confluent within seconds
    OUTPUT        a Secret the kind writes (an API key's): deleting or editing it wakes the writer
    DEPENDENCY    an object that must be Ready first: its Ready changing wakes the dependent, and it
                  cannot be deleted while the dependent exists
    USES          a part of another object (`part_of`: a plugin's version) that the owner must keep
                  while the user exists; the owner asks who uses a part before removing it

The controller indexes these declarations (through kopf's indexes in the handlers) and answers
"who refers to this?"; nothing else in the code knows which kind points at which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "CONFIGMAP",
    "SECRET",
    "ObjectKey",
    "Reference",
    "ReferenceIndex",
    "Role",
    "credentials_reference",
    "owner_of",
    "part_of",
]

_PARTS = "#parts"
SECRET = "secrets"
CONFIGMAP = "configmaps"


class Role(StrEnum):
    CREDENTIALS = "credentials"
    INPUT = "input"
    OUTPUT = "output"
    DEPENDENCY = "dependency"
    USES = "uses"


@dataclass(frozen=True, order=True)
class ObjectKey:
    """An object by plural (`secrets`, `configmaps`, or one of our kinds), namespace and name."""

    plural: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.plural}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Reference:
    """One thing a spec points at, what for, and the field that says so (for messages)."""

    role: Role
    target: ObjectKey
    field: str

    @property
    def index_key(self) -> tuple[str, str, str, str]:
        return (self.role.value, self.target.plural, self.target.namespace, self.target.name)


def part_of(owner: ObjectKey, part: str) -> ObjectKey:
    """A part of an object (version `part` of a plugin), as a target of USES references.

    `owner` is one of our objects by name, or, with an empty namespace, a Confluent resource by ID
    (`ObjectKey("connectorplugins", "", "ccp-…")`) for users that name it so.
    """
    return ObjectKey(f"{owner.plural}{_PARTS}", owner.namespace, f"{owner.name}#{part}")


def owner_of(part: ObjectKey) -> ObjectKey | None:
    """The object (or, with an empty namespace, the Confluent ID) a `part_of` key belongs to."""
    if not part.plural.endswith(_PARTS):
        return None
    return ObjectKey(part.plural.removesuffix(_PARTS), part.namespace, part.name.rsplit("#", 1)[0])


class ReferenceIndex(Protocol):
    """Who refers to what, across every kind; kept current by the watch."""

    def referrers(self, target: ObjectKey, roles: Iterable[Role]) -> set[ObjectKey]:
        """Every object whose spec refers to `target` in one of `roles`."""
        ...


def credentials_reference(
    namespace: str, secret_ref: str | None, default_secret: str | None, allowed: Iterable[str] = ()
) -> Reference | None:
    """The credentials Secret an object uses: its own reference, or the operator's default where allowed."""
    if secret_ref:
        return Reference(Role.CREDENTIALS, ObjectKey(SECRET, namespace, secret_ref), "spec.credentialsSecretRef")
    allowed = list(allowed)
    if default_secret and (not allowed or namespace in allowed):
        ns, name = default_secret.split("/", 1)
        return Reference(Role.CREDENTIALS, ObjectKey(SECRET, ns, name), "the operator's default credentials")
    return None
