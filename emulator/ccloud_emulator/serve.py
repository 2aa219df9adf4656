"""Serving the emulator over a real socket: in a background thread for tests, or as the command.

It knows uvicorn and sockets; what the emulator answers is the `Emulator`'s business.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccloud_emulator.emulator import Emulator

__all__ = ["quiet_dropped_connections", "serve_in_thread"]


class _NotDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from ccloud_emulator.gate import ConnectionDropped

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ConnectionDropped)


_FILTER = _NotDrops()


def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging a traceback for each connection a fault drops on purpose."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


@contextmanager
def serve_in_thread(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `emulator.app` with uvicorn on `host` (a free port by default) until the block exits.

    Yields the base URL, like "http://127.0.0.1:43121".
    """
    import uvicorn

    quiet_dropped_connections()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        emulator.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ccloud-emulator", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.005)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
