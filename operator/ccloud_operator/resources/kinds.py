"""The description of a kind that the CRD generator, the handlers and the reconcilers share."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from ccloud_operator.resources.base import GROUP, VERSION

__all__ = ["CATEGORY", "Kind", "PrinterColumn"]

CATEGORY = "ccloud"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    description: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


READY = PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', "Whether the resource is Ready.")
STATUS = PrinterColumn("Status", '.status.conditions[?(@.type=="Ready")].reason', "Why it is, or is not, Ready.")
ID = PrinterColumn("ID", ".status.id", "The Confluent Cloud ID.")
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "Time since creation.", type="date")
MESSAGE = PrinterColumn(
    "Message", '.status.conditions[?(@.type=="Ready")].message', "What to do, if anything.", priority=1
)
