"""Scrubbing secrets out of text that may reach a log, a condition, an Event or an exception.

Shared by the Confluent client, the archive fetcher and the Kubernetes calls; knows nothing of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import httpx

__all__ = ["DETAIL_LIMIT", "no_queries_in_httpx_logs", "scrub"]

DETAIL_LIMIT = 200
_MASK = "****"
_SHORTEST_SECRET = 4
# Credentials that sneak into free text: an Authorization value, or `password=…` / `"secret": "…"`
# (not `secret: text`, which is how Confluent's prose names a config key).
_CREDENTIAL_PATTERNS = (
    re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{8,}"),
    re.compile(
        r"(?i)((?:secret|password|passwd|token|signature|sig|credential)[\w.-]*(?:\s*=\s*|[\"']\s*:\s*[\"']))"
        r"[^\s\"'&,;]+"
    ),
)


def scrub(text: str, secrets: Iterable[str] = (), limit: int = DETAIL_LIMIT) -> str:
    """Remove every secret from `text` and cut it to `limit` characters."""
    # Shorter values are no secrets worth the name, and replacing them would shred every text.
    for secret in sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    text = _CREDENTIAL_PATTERNS[0].sub(lambda m: f"{m.group(1)} {_MASK}", text)
    text = _CREDENTIAL_PATTERNS[1].sub(lambda m: f"{m.group(1)}{_MASK}", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _NoQueryInHttpxLogs(logging.Filter):
    """httpx logs every URL whole; a presigned or tokenised URL's query is a credential, so it goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def no_queries_in_httpx_logs() -> None:
    """Make httpx's own log lines drop every URL's query (once per process)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _NoQueryInHttpxLogs) for f in logger.filters):
        logger.addFilter(_NoQueryInHttpxLogs())
