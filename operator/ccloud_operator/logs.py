"""Log lines a person can use: a timestamp, a level, the logger, and the object a line is about.

The controller sets `about` around each reconcile, so every line logged while working on an object,
the Confluent client's included, names its kind, namespace and name. `ObjectFilter` puts that on each
record as `object` (for the JSON format) and `object_prefix` (for the plain one). Knows nothing of kopf.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["PLAIN_FORMAT", "NoHandlerChatter", "ObjectFilter", "about", "current_object"]

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(object_prefix)s%(message)s"

current_object: ContextVar[str | None] = ContextVar("current_object", default=None)


@contextlib.contextmanager
def about(what: str) -> Iterator[None]:
    """Attribute every log line inside to `what` ("ApiKey team-a/orders-kafka")."""
    token = current_object.set(what)
    try:
        yield
    finally:
        current_object.reset(token)


class ObjectFilter(logging.Filter):
    """Adds `object` and `object_prefix` to every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        what = getattr(record, "object", None) or current_object.get()
        if what is None and (ref := getattr(record, "k8s_ref", None)):  # kopf's own object loggers
            what = f"{ref.get('kind', '')} {ref.get('namespace', '')}/{ref.get('name', '')}".strip()
        record.object = what or ""
        record.object_prefix = f"[{what}] " if what else ""
        return True


class NoHandlerChatter(logging.Filter):
    """Drops kopf's "Handler 'watch' succeeded." lines: the watch handlers run on every event of every
    watched object, Secrets included, and saying each returned is noise, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "kopf.objects" or record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        return not (message.startswith("Handler '") and message.endswith("' succeeded."))
