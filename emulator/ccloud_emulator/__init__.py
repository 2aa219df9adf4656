"""ccloud_emulator: a local Confluent Cloud for the demo, the tests and users' own CI.

Real HTTP on the spec's paths (connect/v1, ccpm/v1, iam/v2, org/v2, cmk/v2, sts/v1 and the
presigned upload endpoints), with Confluent's status codes, error shapes, masking, pagination,
asynchronous phases, rate limits, injected faults, and workload identity: identity providers and
pools, the STS token exchange and Bearer access tokens. It knows nothing of Kubernetes or of the operator.

    from ccloud_emulator import Emulator, Timing, serve_in_thread
    emu = Emulator(timing=Timing(connector_provisioning=0.5))
    transport = httpx.ASGITransport(app=emu.app)        # in-process
    with serve_in_thread(emu) as base_url: ...           # over a socket

Exports resolve lazily, so the command starts without importing the web stack twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccloud_emulator.core import RequestRecord, Timing, TokenExchange
    from ccloud_emulator.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
    from ccloud_emulator.gate import ConnectionDropped, Fault
    from ccloud_emulator.serve import serve_in_thread
    from ccloud_emulator.state import ConnectorState, VersionPhase

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "ConnectionDropped",
    "ConnectorState",
    "Emulator",
    "Fault",
    "RequestRecord",
    "Timing",
    "TokenExchange",
    "VersionPhase",
    "serve_in_thread",
]

_HOMES = {
    "DEFAULT_API_KEY": "emulator",
    "DEFAULT_API_SECRET": "emulator",
    "Emulator": "emulator",
    "Timing": "core",
    "RequestRecord": "core",
    "TokenExchange": "core",
    "Fault": "gate",
    "ConnectionDropped": "gate",
    "serve_in_thread": "serve",
    "ConnectorState": "state",
    "VersionPhase": "state",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ccloud_emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ccloud_emulator.{home}"), name)
