"""`ccloud-operator run` (also `python -m ccloud_operator run`) and `ccloud-operator crds DIR`."""

from __future__ import annotations

import argparse
import logging
import os
import random
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccloud-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the operator (settings come from CCLOUD_* environment variables)")
    crds = commands.add_parser("crds", help="write the CustomResourceDefinitions, one file per kind")
    crds.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    if args.command == "crds":
        from ccloud_operator.resources import KINDS
        from ccloud_operator.resources.crd import write_crds

        for path in write_crds(KINDS, args.directory):
            print(path)
        return 0
    return _run()


def _run() -> int:
    import kopf
    from pydantic import ValidationError

    from ccloud_operator import handlers
    from ccloud_operator.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"ccloud-operator: invalid settings: {exc}", file=sys.stderr)
        return 2
    _configure_logging(kopf, settings.log_format, settings.log_level)
    priority = settings.priority or (_seniority() if settings.peering else 0)
    identity = f"{os.environ.get('POD_ID') or socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    if settings.peering:
        handlers.PEERING = handlers.Peering(settings.peering, priority, identity, tuple(settings.namespaces))
    kopf.run(
        identity=identity,  # type: ignore[arg-type]  # kopf's Identity is a NewType of str
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=priority,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        # No liveness_endpoint: the startup handler serves /healthz beside /readyz and /metrics.
    )
    return 0


def _configure_logging(kopf: Any, log_format: str, level: str) -> None:
    """Timestamps, levels and the object each line is about: plain text, or one JSON object a line."""
    from ccloud_operator.logs import PLAIN_FORMAT, NoHandlerChatter, ObjectFilter

    kopf.configure(
        verbose=level.upper() == "DEBUG",
        log_format=kopf.LogFormat.JSON if log_format == "json" else PLAIN_FORMAT,
        log_prefix=False,
    )
    root = logging.getLogger()
    root.setLevel(level.upper())
    quiet = level.upper() != "DEBUG"
    for handler in root.handlers:
        handler.addFilter(ObjectFilter())
        if quiet:
            handler.addFilter(NoHandlerChatter())
    if quiet:  # httpx logs every request at INFO; the client logs its own line at DEBUG
        logging.getLogger("httpx").setLevel(logging.WARNING)


def _seniority() -> int:
    """A peering priority that favours the replica started first.

    kopf pauses every peer that sees another of its own priority, and a newcomer with a higher one
    would take over while the old leader still acts: so the earlier start wins, a newcomer stands by
    until the leader's keep-alive lapses, and a random tail breaks a tie within one millisecond.
    """
    return -(time.time_ns() // 1_000_000 * 1000 + random.SystemRandom().randrange(1000))


if __name__ == "__main__":
    raise SystemExit(main())
