"""The `ccloud-emulator` command: `ccloud-emulator serve --port 8080 --api-key K --api-secret S`.

Arguments are parsed before anything heavy is imported, so the server listens well within two
seconds of the command starting.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccloud-emulator", description="A local Confluent Cloud.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulated Confluent Cloud over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--api-key", help="the Cloud API key to accept (default EMUKEY0000000001)")
    serve.add_argument("--api-secret", help="its secret (default: the emulator's fixed default)")
    serve.add_argument("--state-file", help="JSON file the state is loaded from and saved to")
    serve.add_argument("--base-url", help="absolute URL to write in links (default: from each request)")
    for name, what in (
        ("connector-provisioning", "a connector stays PROVISIONING"),
        ("plugin-version-processing", "a CCPM plugin version stays PROCESSING"),
        ("api-key-propagation", "a new API key answers 401"),
        ("connector-listing", "a new connector is missing from the lists"),
        ("connector-pause-resume", "a pause or resume takes to show in the status"),
    ):
        serve.add_argument(f"--{name}", type=float, default=0.0, metavar="SECONDS", help=f"how long {what}")
    serve.add_argument(
        "--invitation-expiry",
        type=float,
        metavar="SECONDS",
        help="how long an invitation waits to be accepted before it is EXPIRED (default 30 days)",
    )
    serve.add_argument(
        "--trusted-ca",
        metavar="FILE",
        help="PEM bundle of the CAs to trust when fetching identity providers' JWKS (default: the system's)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import uvicorn

    from ccloud_emulator.core import Timing
    from ccloud_emulator.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
    from ccloud_emulator.serve import quiet_dropped_connections

    if bool(args.api_key) != bool(args.api_secret):
        print("ccloud-emulator: give --api-key and --api-secret together", file=sys.stderr)
        return 2
    try:
        emulator = Emulator(
            api_key=args.api_key or DEFAULT_API_KEY,
            api_secret=args.api_secret or DEFAULT_API_SECRET,
            timing=Timing(
                connector_provisioning=args.connector_provisioning,
                plugin_version_processing=args.plugin_version_processing,
                api_key_propagation=args.api_key_propagation,
                connector_listing=args.connector_listing,
                connector_pause_resume=args.connector_pause_resume,
                **({} if args.invitation_expiry is None else {"invitation_expiry": args.invitation_expiry}),
            ),
            state_file=args.state_file,
            base_url=args.base_url,
            trusted_ca=args.trusted_ca,
        )
    except ssl.SSLError as error:
        print(f"ccloud-emulator: cannot read --trusted-ca {args.trusted_ca}: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        what = "--trusted-ca" if args.trusted_ca and not Path(args.trusted_ca).is_file() else "the state"
        print(f"ccloud-emulator: cannot load {what}: {error}", file=sys.stderr)
        return 1
    print(
        f"ccloud-emulator: organization {emulator.organization_id}, environment {emulator.environment_id}, "
        f"Kafka cluster {emulator.kafka_cluster_id}, Cloud API key {emulator.api_key}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        emulator.app,
        host=args.host,
        port=args.port,
        access_log=args.access_log,
        lifespan="off",
        log_level="info",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    quiet_dropped_connections()
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
