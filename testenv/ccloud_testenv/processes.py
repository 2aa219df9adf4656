"""Child processes that cannot outlive the Python process that started them.

Each child runs in its own process group (so Ctrl-C in a terminal reaches only us, and we stop the
children in order) with its output in a log file. Every live child is remembered: atexit, SIGTERM
and SIGHUP kill them all; on Linux the kernel also kills them if the parent dies by SIGKILL.
It knows nothing of Kubernetes.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

__all__ = ["ManagedProcess", "kill_all", "live_processes"]

_PR_SET_PDEATHSIG = 1
_live: dict[int, ManagedProcess] = {}
_atexit_registered = False
_previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}


class ManagedProcess:
    """One child process in its own process group, logging to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _install_handlers()
        # The death signal follows the creating thread, so only children of the main thread get it.
        on_main = threading.current_thread() is threading.main_thread()
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if on_main and sys.platform == "linux" else None,
            )
        self.pid = self._popen.pid
        _live[self.pid] = self

    def alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group, wait up to `grace` seconds, then SIGKILL it; always reaps the child."""
        try:
            if self._popen.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self._popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self._popen.wait(timeout=10.0)
        finally:
            _live.pop(self.pid, None)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, signum: int) -> None:
        # Signalled only while the leader is unreaped, so the group id cannot belong to anyone else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive()})"


def live_processes() -> list[ManagedProcess]:
    """Every child started here and not yet stopped."""
    return list(_live.values())


def kill_all(grace: float = 3.0) -> None:
    """SIGTERM every live child at once, then SIGKILL whatever is left after `grace` seconds."""
    procs = live_processes()
    for proc in procs:
        if proc.alive():
            proc._signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if proc.alive():
            proc._signal(signal.SIGKILL)
        _live.pop(proc.pid, None)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    kill_all()
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        # Die of the same signal, as the default disposition would have.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(kill_all)
        _atexit_registered = True
    # Python lets only the main thread set signal handlers; a later start from it installs them.
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signum not in _previous:
            _previous[signum] = signal.getsignal(signum)
            signal.signal(signum, _on_signal)
