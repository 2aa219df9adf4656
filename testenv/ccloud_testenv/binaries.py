"""Where the Go-built control-plane binaries live, and how to get them when they are missing.

tools/controlplane/build.sh builds them from pinned Go modules into a cache folder keyed by version;
this module finds that folder (or $CCLOUD_CONTROLPLANE_BIN) and runs the script when the folder is
not complete. It knows nothing of starting the binaries.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = [
    "BINARIES",
    "BUILD_SCRIPT",
    "HELM_VERSION",
    "K8S_VERSION",
    "BinariesMissing",
    "default_bin_dir",
    "ensure_binaries",
    "find_binaries",
    "run_build",
]

# Must match tools/controlplane/build.sh (a test checks it): both key the cache folder.
K8S_VERSION = "v1.34.1"
HELM_VERSION = "v3.19.5"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "controlplane" / "build.sh"
_STAMP = ".complete"


class BinariesMissing(RuntimeError):
    """The binaries are not built and building them was not allowed or failed."""


def default_bin_dir() -> Path:
    """The folder build.sh writes to: $CCLOUD_CONTROLPLANE_BIN, else the user's cache dir."""
    explicit = os.environ.get("CCLOUD_CONTROLPLANE_BIN")
    if explicit:
        return Path(explicit)
    # Same rule as the script's ${XDG_CACHE_HOME:-$HOME/.cache}: empty counts as unset.
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ccloud-operator" / f"controlplane-{K8S_VERSION}-helm-{HELM_VERSION}"


def find_binaries(bin_dir: Path | None = None) -> Path | None:
    """The folder if its build finished and every binary is there, else None."""
    folder = bin_dir or default_bin_dir()
    if not (folder / _STAMP).is_file():
        return None
    if not all(os.access(folder / name, os.X_OK) for name in BINARIES):
        return None
    return folder


def run_build(bin_dir: Path | None = None) -> None:
    """Run build.sh, its output going straight to this process's stdout and stderr."""
    if not BUILD_SCRIPT.is_file():
        raise BinariesMissing(f"{BUILD_SCRIPT} is missing: is this a checkout of the repository?")
    env = dict(os.environ)
    if bin_dir is not None:
        env["CCLOUD_CONTROLPLANE_BIN"] = str(bin_dir)
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, check=False)
    if result.returncode != 0:
        raise BinariesMissing(f"{BUILD_SCRIPT} failed with exit code {result.returncode} (output above)")


def ensure_binaries(bin_dir: Path | None = None, *, build: bool = True) -> Path:
    """The binaries folder, building it first when it is incomplete and `build` allows it."""
    found = find_binaries(bin_dir)
    if found is not None:
        return found
    folder = bin_dir or default_bin_dir()
    if not build:
        raise BinariesMissing(f"no complete control-plane build in {folder}: run `ccloud-testenv build`")
    run_build(bin_dir)
    found = find_binaries(bin_dir)
    if found is None:
        raise BinariesMissing(f"{BUILD_SCRIPT} finished but {folder} is still incomplete")
    return found
