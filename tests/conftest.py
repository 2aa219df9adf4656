"""Fixtures every tier may share. The control plane is started once per session, only when a test asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ccloud_testenv.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A real etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, stopped after the session."""
    with ControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> None:
    """The operator's CRDs, applied and established."""
    control_plane.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
