"""`python -m ccloud_testenv demo` survives the death of its operator.

On the real control plane: the demo reaches Ready, its operator child is SIGKILLed, and the demo says
so, starts a new operator (a new pid, the same log with a separator line) that reconciles the next
change, and leaves nothing behind on Ctrl-C. Without a control plane: the crash-loop guard, with fake
processes that die on cue.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from ccloud_emulator.emulator import DEFAULT_API_SECRET
from ccloud_testenv import demo
from ccloud_testenv.binaries import find_binaries
from ccloud_testenv.demo import DemoContext, Step, Supervised, run_demo
from ccloud_testenv.operator_process import RESTARTED

# --- helpers -----------------------------------------------------------------------------------------


def eventually(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.1)


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ...]; [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def children(parent: int) -> list[int]:
    """The running children of `parent`."""
    return [pid for pid in running_pids() if (f := stat_fields(pid)) and f[1] == str(parent) and f[0] != "Z"]


def processes_mentioning(text: str) -> list[int]:
    return [pid for pid in running_pids() if text in cmdline(pid) and running(pid)]


class Demo:
    """`python -m ccloud_testenv demo --dir WORK` as a child, its output read by a thread as it comes."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "ccloud_testenv", "demo", "--dir", str(work_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # A shell running us in the background may have set SIGINT to ignored; Ctrl-C must work here.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.pid = self.popen.pid
        self._lines: list[str] = []
        self._done = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="demo-output", daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of the regular expression `pattern` in the output, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = re.search(pattern, "".join(self._lines), re.MULTILINE)
                if found:
                    return found
                left = deadline - time.monotonic()
                if self._done or left <= 0:
                    why = "the demo ended" if self._done else f"{timeout:.0f}s passed"
                    pytest.fail(f"{why} before its output matched {pattern!r}; it printed:\n{''.join(self._lines)}")
                self._changed.wait(left)

    def stop(self) -> None:
        """Whatever happened: SIGTERM (the demo's orderly way out), then SIGKILL; reap it and the reader."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()  # its children die with it (PR_SET_PDEATHSIG)
                self.popen.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()


@pytest.fixture
def kubectl(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    bin_dir = find_binaries()
    assert bin_dir is not None, "the control plane is not built: run `ccloud-testenv build`"
    kubeconfig = tmp_path / "demo" / "admin.kubeconfig"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'kube-cache'}"]
        result = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run


@pytest.fixture
def running_demo(tmp_path: Path, kubectl: object) -> Iterator[Demo]:
    """The demo in tmp_path/demo (after `kubectl` checked that the binaries are built), stopped afterwards."""
    started = Demo(tmp_path / "demo")
    try:
        yield started
    finally:
        started.stop()


# --- on the real control plane -------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_demo_restarts_a_killed_operator_and_goes_on_reconciling(
    running_demo: Demo, kubectl: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    demo_run = running_demo
    log = demo_run.work_dir / "logs" / "operator.log"
    began = time.monotonic()
    demo_run.wait_for(r"^==> Running until Ctrl-C$", timeout=150)
    up_in = time.monotonic() - began
    assert "every example is Ready" in demo_run.output
    # It ends with the connector RUNNING, built from the demo's plugin, service account and key.
    [row] = [
        line for line in demo_run.output.splitlines() if "customconnector.ccloud.operators.dev/orders-source" in line
    ]
    fields = row.split()  # namespace, name, Ready, Status, ID, State, Plugin, Version, Age
    assert fields[2:4] == ["True", "Running"] and fields[4].startswith("clcc-"), row
    assert fields[5:8] == ["RUNNING", "datagen", "0.6.7"], row
    plane = sorted(pid for pid in children(demo_run.pid) if str(demo_run.work_dir) in cmdline(pid))
    assert len(plane) == 3  # etcd, kube-apiserver, kube-controller-manager
    [first] = [pid for pid in children(demo_run.pid) if "ccloud_operator" in cmdline(pid)]
    assert f"python -m ccloud_operator run (pid {first})" in demo_run.output
    first_lines = log.read_text()
    assert first_lines.strip(), "the first operator wrote nothing into its log"
    old_key = kubectl("get", "secret", "orders-kafka", "-n", "team-a", "-o", "jsonpath={.data.key}").stdout

    signal_sent = time.monotonic()
    os.kill(first, signal.SIGKILL)  # as the OOM killer would: the operator alone, no warning
    demo_run.wait_for(
        rf"^==> The operator \(pid {first}\) was killed by SIGKILL; see {re.escape(str(log))}\. Restarting it",
        timeout=10,
    )
    healthy = demo_run.wait_for(r"^==> The operator is healthy again after [\d.]+s \(pid (\d+), restart 1\b", 40)
    restarted_in = time.monotonic() - signal_sent
    second = int(healthy.group(1))
    assert second != first
    assert not running(first)
    operators = [pid for pid in children(demo_run.pid) if "ccloud_operator" in cmdline(pid)]
    assert operators == [second]
    assert sorted(pid for pid in children(demo_run.pid) if pid != second) == plane  # the control plane stayed up

    text = log.read_text()
    assert text.startswith(first_lines), "the log of the first operator was not kept"
    separator = next(line for line in text.splitlines() if line.startswith(RESTARTED))
    assert f"the previous one (pid {first}) was killed by SIGKILL" in separator
    assert text.index(RESTARTED) >= len(first_lines)

    # The new operator reconciles: a deleted output Secret is written again, with a new key.
    kubectl("delete", "secret", "orders-kafka", "-n", "team-a")
    deleted = time.monotonic()

    def new_key() -> bool:
        got = kubectl("get", "secret", "orders-kafka", "-n", "team-a", "-o", "jsonpath={.data.key}", check=False)
        return got.returncode == 0 and got.stdout not in ("", old_key)

    eventually(new_key, timeout=60, what="the Secret orders-kafka written again with a new key")
    rewritten_in = time.monotonic() - deleted
    key = kubectl("get", "secret", "orders-kafka", "-n", "team-a", "-o", "jsonpath={.data.key}").stdout
    assert base64.b64decode(key).decode() != base64.b64decode(old_key).decode()
    kubectl("wait", "--for=condition=Ready", "apikeys.ccloud.operators.dev/orders-kafka", "-n", "team-a")

    # Workload identity, by the demo's own hint: the ServiceAccount moves from the Secret to the pool,
    # and the operator reaches Confluent with its Kubernetes ServiceAccount's token alone.
    hint = next(
        line.strip() for line in demo_run.output.splitlines() if line.strip().startswith(demo.TO_WORKLOAD_IDENTITY)
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(demo_run.work_dir / "admin.kubeconfig"),
        "PATH": f"{find_binaries()}:{os.environ['PATH']}",
    }
    moved = subprocess.run(["bash", "-c", hint.split("   #")[0]], env=env, capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0, moved.stderr
    pool = kubectl("get", "ccpool", "ccloud-operator", "-n", "team-a", "-o", "jsonpath={.status.id}").stdout
    spec = kubectl(
        "get", "ccsa", "orders", "-n", "team-a", "-o", "jsonpath={.spec.credentials.workloadIdentity.identityPoolId}"
    )
    assert spec.stdout == pool and pool.startswith("pool-")
    kubectl(
        "patch",
        "ccsa",
        "orders",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        '{"spec":{"description":"by workload identity"}}',
    )
    emulator_url = re.search(r"curl -s (http://127\.0\.0\.1:\d+)/_emulator/info", demo_run.output).group(1)  # type: ignore[union-attr]

    def exchanged() -> bool:
        with urllib.request.urlopen(f"{emulator_url}/_emulator/token-exchanges?pool_id={pool}", timeout=5) as answer:
            return any(e["issued"] for e in json.loads(answer.read()))

    eventually(exchanged, timeout=30, what=f"a token exchanged for {pool}")
    kubectl("wait", "--for=condition=Synced", "serviceaccounts.ccloud.operators.dev/orders", "-n", "team-a")

    # Ctrl-C: everything the demo started stops with it.
    left = children(demo_run.pid)
    assert sorted(left) == sorted([*plane, second]), [cmdline(pid) for pid in left]
    interrupted = time.monotonic()
    demo_run.popen.send_signal(signal.SIGINT)
    assert demo_run.popen.wait(timeout=60) == 130
    stopped_in = time.monotonic() - interrupted
    demo_run.wait_for(r"^==> Stopping$", timeout=5)
    eventually(lambda: not any(map(running, left)), timeout=10, what="every child's exit")
    assert processes_mentioning(str(demo_run.work_dir)) == []
    assert DEFAULT_API_SECRET not in demo_run.output
    assert "died 5 times" not in demo_run.output
    print(
        f"\nup in {up_in:.1f}s; the operator healthy again {restarted_in:.1f}s after the SIGKILL; the Secret"
        f" written again {rewritten_in:.1f}s after its deletion; stopped {stopped_in:.1f}s after SIGINT"
    )


# --- the crash-loop guard, with fake processes -------------------------------------------------------


@dataclass
class FakeProcess:
    """A child that dies whenever `dead` says so; `restart` counts calls and may fail."""

    log_path: Path
    dead: Callable[[], bool]
    fail_restart: bool = False
    restarts: int = 0
    pid: int | None = 1000
    returncode: int | None = None
    port: int = 8080

    def alive(self) -> bool:
        if self.dead():
            self.returncode = 3
            return False
        self.returncode = None
        return True

    def restart(self, reason: str) -> object:
        self.restarts += 1
        self.pid = 1000 + self.restarts
        if self.fail_restart:
            raise RuntimeError("the operator exited at start:\nTraceback (most recent call last): ...")
        return self


def supervise(fake: FakeProcess) -> Step:
    def step(ctx: DemoContext) -> str:
        ctx.processes.append(Supervised("operator", fake))
        return "fake operator"

    return Step("Start a fake operator", step)


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "POLL_SECONDS", 0.01)


@pytest.mark.usefixtures("fast_polls")
@pytest.mark.parametrize("fail_restart", [False, True], ids=["dies-after-each-restart", "every-restart-fails"])
def test_an_operator_that_keeps_dying_stops_the_demo(tmp_path: Path, fail_restart: bool) -> None:
    fake = FakeProcess(tmp_path / "operator.log", dead=lambda: True, fail_restart=fail_restart)
    out = io.StringIO()
    assert run_demo([supervise(fake)], out=out) == 1
    printed = out.getvalue()
    assert fake.restarts == demo.CRASH_LOOP_DEATHS - 1 == 4
    assert printed.count("exited with code 3; see ") == 5
    assert printed.count("Restarting it with the same settings") == 4
    assert "==> The operator died 5 times within 60s: not restarting it again; stopping the demo (" in printed
    if fail_restart:
        assert printed.count("==> The operator did not come back: the operator exited at start:\n") == 4
        assert "Traceback" not in printed  # the log has it; the demo names the log
    else:
        assert printed.count("==> The operator is healthy again") == 4


@pytest.mark.usefixtures("fast_polls")
def test_deaths_further_apart_than_the_window_are_restarted_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "CRASH_LOOP_SECONDS", 0.03)
    deaths_left = [8]
    calls = [0]

    def dead() -> bool:
        calls[0] += 1
        if calls[0] > 100:
            raise KeyboardInterrupt  # Ctrl-C, once the test has seen enough
        if deaths_left[0] and calls[0] % 5 == 0:  # every fifth look, 0.05s apart: outside the window
            deaths_left[0] -= 1
            return True
        return False

    fake = FakeProcess(tmp_path / "operator.log", dead=dead)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_demo([supervise(fake)], out=out)
    assert fake.restarts == 8
    assert "died 5 times" not in out.getvalue()
    assert out.getvalue().endswith("==> Stopping\n")


def test_a_dead_control_plane_process_ends_the_demo_without_restarts(tmp_path: Path) -> None:
    etcd = SimpleNamespace(name="etcd", returncode=-9, log_path=tmp_path / "etcd.log", alive=lambda: False)

    def plane(ctx: DemoContext) -> str:
        ctx.control_plane = SimpleNamespace(processes=[etcd])  # type: ignore[assignment]
        return "fake control plane"

    fake = FakeProcess(tmp_path / "operator.log", dead=lambda: True)
    out = io.StringIO()
    assert run_demo([Step("Start a fake control plane", plane), supervise(fake)], out=out) == 1
    assert f"==> etcd exited (-9); see {tmp_path / 'etcd.log'}" in out.getvalue()
    assert fake.restarts == 0


@pytest.mark.parametrize(
    ("returncode", "said"),
    [
        (-9, "was killed by SIGKILL"),
        (-15, "was killed by SIGTERM"),
        (1, "exited with code 1"),
        (0, "exited with code 0"),
    ],
)
def test_the_exit_status_is_said_in_words(returncode: int, said: str) -> None:
    assert demo.describe_exit(returncode) == said
