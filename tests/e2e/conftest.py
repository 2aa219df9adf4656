"""Fixtures for end-to-end tests on the real control plane (etcd, kube-apiserver, kube-controller-manager).

The session-scoped `control_plane` comes from tests/conftest.py, so every tier shares one control plane
per session; `namespace` gives each test here a fresh namespace and deletes it afterwards without
waiting (the controller manager finishes the deletion). For kopf-based tests, point KUBECONFIG at
`control_plane.kubeconfig`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from ccloud_testenv import ControlPlane


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted after it."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:48].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
