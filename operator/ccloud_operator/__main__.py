"""`ccloud-operator run` (also `python -m ccloud_operator run`) and `ccloud-operator crds DIR`."""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

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
    kopf.configure(
        verbose=settings.log_level.upper() == "DEBUG",
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger().setLevel(settings.log_level.upper())
    liveness = f"http://{settings.liveness_host}:{settings.liveness_port}/healthz" if settings.liveness_port else None
    del handlers  # imported for its registrations
    priority = settings.priority or (_seniority() if settings.peering else 0)
    kopf.run(
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=priority,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=liveness,
    )
    return 0


def _seniority() -> int:
    """A peering priority that favours the replica started first.

    kopf pauses every peer that sees another of its own priority, and a newcomer with a higher one
    would take over while the old leader still acts: so the earlier start wins, a newcomer stands by
    until the leader's keep-alive lapses, and a random tail breaks a tie within one millisecond.
    """
    return -(time.time_ns() // 1_000_000 * 1000 + random.SystemRandom().randrange(1000))


if __name__ == "__main__":
    raise SystemExit(main())
