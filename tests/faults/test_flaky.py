"""A flaky Confluent (30 % of requests answered 5xx, bursts of 429 with Retry-After) with a 60-second
outage (every request failing) in the middle of creating objects of every kind.

Everything converges afterwards (with the flakiness still on), nothing is made twice, and over the
run the operator sent at most 3 requests per successful one, counted from the emulator's request log.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from ccloud_testenv import workload

from .conftest import Rig

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

PER_KIND = 20
FIVE_XX = (500, 502, 503, 504)
# The emulator tosses one coin per fault in turn: four faults of p each fail 1 - (1 - p)^4 = 30 %.
P_EACH = 1 - 0.7 ** (1 / len(FIVE_XX))
OUTAGE_SECONDS = 60.0
REQUESTS_PER_SUCCESS = 3.0


def test_flaky_confluent_and_a_minute_long_outage_converge_at_3_requests_per_success(rig: Rig, seed: int) -> None:
    rng = random.Random(seed)
    emulator = rig.emulator
    objects = rig.objects(PER_KIND, tag="f")
    started = time.time()
    flaky = [emulator.fail("*", "*", status=status, probability=P_EACH) for status in FIVE_XX]
    stop = threading.Event()
    bursts: list[tuple[float, float]] = []

    def burst_429s() -> None:
        # A burst is a window of time in which every request is refused with 429: bounded by time, not
        # by count, so that an operator that backs off (as it must) does not keep the burst going.
        while not stop.wait(rng.uniform(3.0, 8.0)):
            length, retry_after = rng.uniform(0.5, 2.0), rng.choice((0.5, 1.0, 2.0))
            bursts.append((round(length, 1), retry_after))
            burst = emulator.fail("*", "*", status=429, retry_after=retry_after)
            stop.wait(length)
            emulator.remove_fault(burst.id)

    burster = threading.Thread(target=burst_429s, name="429 bursts", daemon=True)
    burster.start()
    try:
        workload.create_all(rig.kube.api, objects)
        # The outage comes once the operator is at work: a seeded share of the objects Ready (5 to 30 %).
        share = rng.uniform(0.05, 0.3)
        deadline = time.monotonic() + 180  # a precondition of the outage, not a figure: a loaded machine is slower
        while (in_flight := len(rig.not_converged(objects))) > (1 - share) * len(objects):
            assert time.monotonic() < deadline, f"under 30 % 5xx, {in_flight} objects still not Ready after 180s"
            time.sleep(0.5)
        outage = emulator.fail("*", "*", status=503)
        down = time.time()
        time.sleep(OUTAGE_SECONDS)
        emulator.remove_fault(outage.id)
        up = time.time()
        took = rig.wait_converged(objects, timeout=120, why=f"after the outage (seed {seed})")
        converged = time.time()
    finally:
        stop.set()
        burster.join(timeout=10)
        emulator.clear_faults()
    why = f"(seed {seed}; {len(bursts)} bursts of 429)"
    assert in_flight > len(objects) // 2, f"only {in_flight} objects were still on their way at the outage {why}"
    during = [r for r in emulator.requests if down <= r.time < up]
    assert during, "nothing was sent during the outage: it tested nothing"
    assert not [r for r in during if r.status < 400], "a request succeeded during the outage"
    sent, succeeded = rig.requests_since(started, until=converged)
    assert sent <= REQUESTS_PER_SUCCESS * succeeded, (
        f"{sent} requests for {succeeded} successes ({sent / max(succeeded, 1):.2f} a success, "
        f"{len(during)} during the outage) {why}"
    )
    rig.assert_operator_healthy(why)
    rig.assert_exactly_once(objects, why)
    rig.assert_secrets_hold_live_keys(objects, why)
    rig.delete_all(objects, timeout=90)
    rig.assert_nothing_left(objects, f"after deleting everything {why}")
    rig.assert_emulator_holds_nothing(f"after deleting everything {why}")
    rig.assert_no_secret_leaked()
    print(
        f"seed {seed}: {sent} requests, {succeeded} successes ({sent / succeeded:.2f} a success), "
        f"{len(during)} during the outage, {in_flight} objects in flight at it, Ready {took:.0f}s after it; "
        f"{len(flaky)} 5xx faults, bursts (seconds, Retry-After) {bursts}"
    )
