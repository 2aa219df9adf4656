"""Fixtures for end-to-end tests on the real control plane (etcd, kube-apiserver, kube-controller-manager).

`control_plane` is started once per session and stopped after it; `namespace` gives each test a fresh
namespace and deletes it afterwards without waiting (the controller manager finishes the deletion).
For kopf-based tests, point KUBECONFIG at `control_plane.kubeconfig`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from ccloud_testenv import ControlPlane


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A started ControlPlane shared by the session; stopped (every process gone) when it ends."""
    with ControlPlane() as plane:
        yield plane


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted after it."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:48].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
