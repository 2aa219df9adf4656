"""The operator as a child process (`python -m ccloud_operator run`), for the demo and end-to-end tests.

Settings go in as CCLOUD_* environment variables, exactly as the chart passes them. Knows nothing of
the operator's internals: it starts the command, waits for its liveness endpoint, and stops or kills it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from ccloud_testenv.processes import ManagedProcess

__all__ = ["OperatorProcess"]


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, settings: Mapping[str, str]) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.settings = dict(settings)
        self._process: ManagedProcess | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> OperatorProcess:
        self.port = _free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "CCLOUD_LIVENESS_HOST": "127.0.0.1",
            "CCLOUD_LIVENESS_PORT": str(self.port),
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

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
