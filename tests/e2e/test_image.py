"""The Dockerfile, followed step by step without a container engine (none runs here, and no registry
serves its base image): the build stage's COPY and RUN lines in a scratch folder and a fresh virtual
environment, then the runtime stage's ENV, USER and ENTRYPOINT/CMD, the operator started from that
environment as the image's numeric user against the real apiserver, until /healthz answers.

What this proves: the files the build copies are enough to install the operator, `constraints.txt`
resolves, the environment holds the operator's runtime dependencies and nothing else (no emulator,
no test harness, no development tool), and the installed operator starts unprivileged. What it
cannot: the base image itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, by stage: (INSTRUCTION, arguments), continuations joined."""
    joined = dockerfile.replace("\\\n", " ")
    found: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            found.append([])
        found[-1].append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_has_a_build_and_a_slim_non_root_runtime_stage() -> None:
    build, runtime = stages((ROOT / "Dockerfile").read_text())
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert runtime[0] == ("FROM", "python:3.11-slim")
    runtime_words = [word for word, _ in runtime]
    assert "RUN" not in runtime_words and "COPY" in runtime_words  # only the built venv is copied in
    [user] = [rest for word, rest in runtime if word == "USER"]
    uid, gid = user.split(":")
    assert int(uid) > 0 and int(gid) > 0  # numeric, so the kubelet can check runAsNonRoot


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the image's user can read (pytest's own are the invoking user's alone), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="ccloud-image-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _reachable_by_all(path: Path) -> bool:
    """Whether any user may run `path`: it and every folder above it let others in."""
    real = path.resolve()
    return os.access(real, os.X_OK) and all(p.stat().st_mode & 0o001 for p in [real, *real.parents])


def _interpreter_for_everyone() -> str:
    """A Python 3.11 the image's user may run, as the image's own is: this one, or the system's."""
    for candidate in (Path(getattr(sys, "_base_executable", sys.executable)), Path("/usr/bin/python3.11")):
        if candidate.exists() and _reachable_by_all(candidate):
            return str(candidate)
    pytest.skip("no Python 3.11 here that a non-root user may run (this one lives in a private folder)")


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()  # type: ignore[union-attr]


def extras(venv: Path) -> set[str]:
    """What is installed in `venv` beyond ccloud-operator and what it needs, transitively."""
    [site] = list((venv / "lib").glob("python3*/site-packages"))
    installed = {_name(d.metadata["Name"]): d for d in importlib.metadata.distributions(path=[str(site)])}
    assert {"ccloud-operator", "kopf", "httpx"} <= set(installed)
    needed, todo = set(), ["ccloud-operator"]
    while todo:
        name = todo.pop()
        if name in needed or name not in installed:
            continue
        needed.add(name)
        todo += [_name(r) for r in installed[name].requires or () if "extra ==" not in r]
    return set(installed) - needed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.skipif(os.geteuid() != 0, reason="running as the image's user needs root to switch to it")
def test_following_the_dockerfile_installs_an_operator_that_starts_as_its_user(
    control_plane: ControlPlane, crds: None, scratch: Path
) -> None:
    build, runtime = stages((ROOT / "Dockerfile").read_text())
    python = _interpreter_for_everyone()
    src, prefix = scratch / "src", scratch / "opt"
    src.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # pip's cache stays the user's: the registry is the same, only the download is saved.
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    for word, rest in build[1:]:
        if word == "WORKDIR":
            continue
        if word == "ENV":
            continue  # the build's ENV only quietens pip
        if word == "COPY":
            *sources, dest = shlex.split(rest)
            into = src / dest
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(path, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, into / path.name)
            continue
        assert word == "RUN", f"a build instruction this test does not follow: {word}"
        # The image's python has pip; so has this one, and both are Python 3.11.
        command = (
            rest.replace("/opt/venv", str(prefix / "venv"))
            .replace("python -m venv", f"{python} -m venv")
            .replace("python -m pip", f"{sys.executable} -m pip")
        )
        done = subprocess.run(["sh", "-c", command], cwd=src, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    venv = prefix / "venv"
    assert (venv / "bin" / "python").exists()
    # Runtime dependencies only: every distribution in the image is the operator or one it needs.
    assert extras(venv) == set()
    assert not list(venv.glob("lib/python3*/site-packages/ccloud_emulator"))
    assert not list(venv.glob("lib/python3*/site-packages/ccloud_testenv"))
    # The runtime stage: its ENV, its USER, its ENTRYPOINT and CMD.
    run_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": "/nonexistent"}
    for word, rest in runtime:
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                run_env[key] = value.replace("/opt/venv", str(venv)).replace("$PATH", run_env["PATH"])
    [user] = [rest for word, rest in runtime if word == "USER"]
    uid, gid = user.split(":")
    entrypoint = json.loads(next(rest for word, rest in runtime if word == "ENTRYPOINT"))
    cmd = json.loads(next(rest for word, rest in runtime if word == "CMD"))
    kubeconfig = scratch / "kubeconfig"
    shutil.copy2(control_plane.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o644)
    port = _free_port()
    run_env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "CCLOUD_LIVENESS_HOST": "127.0.0.1",
            "CCLOUD_LIVENESS_PORT": str(port),
            "CCLOUD_METRICS_HOST": "127.0.0.1",
            "CCLOUD_METRICS_PORT": str(_free_port()),
            "CCLOUD_API_URL": "http://127.0.0.1:9",  # nothing is reconciled: no object exists
        }
    )
    argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *entrypoint, *cmd]
    log = scratch / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=run_env, stdout=out, stderr=subprocess.STDOUT, cwd="/")
        try:
            deadline = time.monotonic() + 60
            healthy = False
            while time.monotonic() < deadline and process.poll() is None and not healthy:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                        healthy = answer.status == 200
                except OSError:
                    time.sleep(0.2)
            assert healthy, log.read_text()[-3000:]
            status = subprocess.run(["ps", "-o", "uid=", "-p", str(process.pid)], capture_output=True, text=True)
            assert status.stdout.strip() == uid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
