"""Pieces of Confluent's standard object model shared by every API group, as the API spells them.

Every model keeps the fields it does not know (`extra="allow"`): Confluent adds fields without
notice, and a read-modify-write must send them back untouched.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ApiModel", "EnvironmentReference", "ListMeta", "ObjectMeta", "ObjectReference"]


class ApiModel(BaseModel):
    """Base of every Confluent payload: unknown fields are kept, field names are the API's."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def payload(self) -> dict[str, object]:
        """The JSON body for this model, unknown fields included, unset optionals left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ObjectMeta(ApiModel):
    self: str | None = None
    resource_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None


class ListMeta(ApiModel):
    first: str | None = None
    last: str | None = None
    prev: str | None = None
    next: str | None = None
    total_size: int | None = None


class ObjectReference(ApiModel):
    """A reference to another resource; requests need only `id` (and `environment` when scoped)."""

    id: str
    environment: str | None = None
    related: str | None = None
    resource_name: str | None = None
    api_version: str | None = None
    kind: str | None = None


class EnvironmentReference(ApiModel):
    id: str
    related: str | None = None
    resource_name: str | None = None
