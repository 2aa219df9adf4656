"""The local Kubernetes control plane harness: real etcd, kube-apiserver and kube-controller-manager.

Tests, the demo and users start it with `ControlPlane` (or `ccloud-testenv up`); the binaries are
built from pinned Go modules by tools/controlplane/build.sh. It knows nothing of the operator or the
emulator, except that the demo starts whichever of them exists.
"""

from ccloud_testenv.binaries import (
    HELM_VERSION,
    K8S_VERSION,
    BinariesMissing,
    default_bin_dir,
    ensure_binaries,
)
from ccloud_testenv.controlplane import ControlPlane, ControlPlaneError

__all__ = [
    "HELM_VERSION",
    "K8S_VERSION",
    "BinariesMissing",
    "ControlPlane",
    "ControlPlaneError",
    "default_bin_dir",
    "ensure_binaries",
]
