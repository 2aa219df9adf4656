"""kube-apiserver restarts (same port, same etcd) in the middle of a run, and again while deleting.

The operator's watches break, its status writes fail and its Secret reads fail for a few seconds; it
must pick everything up again by itself: every object Ready, nothing made twice, every API key's
Secret good, and after the deletion (with the second restart) nothing left in Confluent.
"""

from __future__ import annotations

import random
import time

import pytest

from ccloud_testenv import workload

from .conftest import Rig

pytestmark = pytest.mark.e2e  # in every run: under a minute

PER_KIND = 8


def test_a_kube_apiserver_restart_mid_run_and_everything_still_converges(rig: Rig, seed: int) -> None:
    rng = random.Random(seed)
    objects = rig.objects(PER_KIND, tag="a")
    workload.create_all(rig.kube.api, objects)
    time.sleep(rng.uniform(0.5, 3.0))
    in_flight = len(rig.not_converged(objects))
    before = time.monotonic()
    rig.control_plane.restart_apiserver()
    away = time.monotonic() - before
    why = f"(seed {seed}; the apiserver was away {away:.1f}s with {in_flight} objects not Ready)"
    assert in_flight, f"everything was Ready before the restart: it tested nothing {why}"

    took = rig.wait_converged(objects, timeout=120, why=why)
    rig.assert_operator_healthy(why)
    rig.assert_exactly_once(objects, why)
    rig.assert_secrets_hold_live_keys(objects, why)

    def restart_again() -> None:
        time.sleep(rng.uniform(0.2, 1.5))
        rig.control_plane.restart_apiserver()

    rig.delete_all(objects, timeout=60, during=restart_again)
    rig.assert_operator_healthy(f"while deleting {why}")
    rig.assert_nothing_left(objects, f"after deleting everything {why}")
    rig.assert_emulator_holds_nothing(f"after deleting everything {why}")
    rig.assert_no_secret_leaked()
    print(f"seed {seed}: {len(objects)} objects Ready {took:.0f}s after the restart {why}")
