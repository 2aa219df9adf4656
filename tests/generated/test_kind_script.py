"""tools/kind/e2e.sh cannot run here (no container engine), so each of its parts is checked where it
can be: the shell parses, the chart takes its --set flags and points the operator at the emulator's
Service, the images it builds are the ones the manifests run, the files its Dockerfiles copy exist, and
its seeding snippet creates what examples/ name in a real emulator.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from ccloud_emulator import Emulator, serve_in_thread

from .conftest import Render

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "tools" / "kind"
SCRIPT = (KIND / "e2e.sh").read_text()
MANIFESTS = list(yaml.safe_load_all((KIND / "emulator.yaml").read_text()))


def _service_url(port_name: str) -> str:
    [service] = [doc for doc in MANIFESTS if doc["kind"] == "Service"]
    [port] = [p for p in service["spec"]["ports"] if p["name"] == port_name]
    return f"http://{service['metadata']['name']}.{service['metadata']['namespace']}:{port['port']}"


def test_the_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(KIND / "e2e.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_chart_takes_its_flags_and_runs_the_image_it_built_against_the_emulator(render: Render) -> None:
    joined = SCRIPT.replace("\\\n", " ")
    [install] = [line for line in joined.splitlines() if line.strip().startswith("helm upgrade --install")]
    sets = [arg for flag, arg in zip(shlex.split(install), shlex.split(install)[1:], strict=False) if flag == "--set"]
    assert sets
    rendered = render(None, *sets)
    container = rendered.container
    assert f"docker build -t {container['image']} ." in SCRIPT
    assert container["imagePullPolicy"] == "Never"  # loaded by `kind load`, never pulled
    assert rendered.env["CCLOUD_API_URL"] == _service_url("api")


def test_the_emulator_manifest_runs_the_image_the_script_builds_and_serves_the_archives() -> None:
    [deployment] = [doc for doc in MANIFESTS if doc["kind"] == "Deployment"]
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert images == {"ccloud-emulator:dev"}
    assert "docker build -t ccloud-emulator:dev -f tools/kind/emulator.Dockerfile ." in SCRIPT
    assert f"s|https://artifacts.example.com|{_service_url('archives')}|" in SCRIPT
    assert "https://artifacts.example.com/" in (ROOT / "examples" / "30-connector-plugin.yaml").read_text()


def test_every_file_the_dockerfiles_copy_exists() -> None:
    for dockerfile in (ROOT / "Dockerfile", KIND / "emulator.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                *sources, _ = shlex.split(line)[1:]
                for source in sources:
                    assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}"


def test_the_seeding_snippet_makes_what_the_examples_name() -> None:
    snippet = re.search(r"python -c '(.*?)'", SCRIPT, re.S)
    assert snippet is not None
    emulator = Emulator()
    with serve_in_thread(emulator) as url:
        code = snippet.group(1).replace("http://ccloud-emulator:8080", str(url).rstrip("/"))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        info = httpx.get(f"{str(url).rstrip('/')}/_emulator/info").json()
    examples = "\n".join(p.read_text() for p in (ROOT / "examples").glob("*.yaml"))
    named = set(re.findall(r"\b(?:env|lkc)-demo01\b", examples))
    assert named == {"env-demo01", "lkc-demo01"}
    for id_ in named:
        assert id_ in str(info), id_
