"""The operator as a child process (`python -m ccloud_operator run`), for the demo and end-to-end tests.

Settings go in as CCLOUD_* environment variables, exactly as the chart passes them. Knows nothing of
the operator's internals: it starts the command, waits for its liveness endpoint, and stops, kills or
restarts it. Every start appends to the same log; a restart first writes a line saying so.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from ccloud_testenv.processes import ManagedProcess

__all__ = ["RESTARTED", "OperatorProcess"]

# The start of the line `restart` writes into the log between one operator's lines and the next one's.
RESTARTED = "===== the operator was restarted"


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, settings: Mapping[str, str]) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.settings = dict(settings)
        self._process: ManagedProcess | None = None
        self.port = 0

    def start(self, timeout: float = 30.0, *, port: int = 0) -> OperatorProcess:
        """Start the operator (its liveness endpoint on `port` if that is free, else on any free port)
        and wait until it is healthy; its output is appended to `log_path`."""
        self.port = _free_port(port)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "CCLOUD_LIVENESS_HOST": "127.0.0.1",
            "CCLOUD_LIVENESS_PORT": str(self.port),
            # Its metrics on loopback too, on a port of their own (settings may say otherwise, or 0).
            "CCLOUD_METRICS_HOST": "127.0.0.1",
            "CCLOUD_METRICS_PORT": str(_free_port(0)),
            **self.settings,
        }
        self._process = ManagedProcess(
            "operator", [sys.executable, "-m", "ccloud_operator", "run"], self.log_path, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._process.alive():
                raise RuntimeError(f"the operator exited at start:\n{self._process.log_tail()}")
            if _healthy(self.port):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the operator was not healthy within {timeout:.0f}s:\n{self.log_tail()}")

    def restart(self, reason: str, timeout: float = 30.0) -> OperatorProcess:
        """Start a new operator with the same settings, after a separator line with `reason` in the log.

        Meant for after the operator died: a live one is stopped first. The liveness port stays the same
        when it is still free. Raises RuntimeError as `start` does.
        """
        if self._process is not None:
            self._process.stop(grace=10.0)  # reaps a dead one, stops a live one
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a+b") as log:
            # A process killed in the middle of a line leaves no newline at the end.
            end = log.seek(0, os.SEEK_END)
            newline = b""
            if end:
                log.seek(end - 1)
                newline = b"" if log.read(1) == b"\n" else b"\n"
            log.write(newline + f"{RESTARTED} at {stamp}: {reason} =====\n".encode())  # "a": at the end
        return self.start(timeout, port=self.port)

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def pid(self) -> int | None:
        """The pid of the operator started last, None before the first start."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """None while it runs; its exit code, or minus the signal that killed it (-9 for SIGKILL)."""
        return self._process.returncode if self._process is not None else None

    def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill would: no cleanup of any kind."""
        if self._process is not None and self._process.alive():
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.stop(grace=5.0)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(grace=10.0)

    def log_tail(self, lines: int = 60) -> str:
        return self._process.log_tail(lines) if self._process is not None else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _free_port(prefer: int = 0) -> int:
    """`prefer` if it can be bound on 127.0.0.1 right now, else a free port the kernel picks."""
    for candidate in (prefer, 0) if prefer else (0,):
        with socket.socket() as sock:
            if candidate:
                # As the operator's server binds (asyncio's default on POSIX): the connections of the
                # health checks to a dead operator, left in TIME_WAIT, do not keep its port from us.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("no free port on 127.0.0.1")  # pragma: no cover (binding port 0 does not fail)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
