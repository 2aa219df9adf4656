"""kill -9 at random points while objects of every kind are created, then while they are deleted.

A seeded RNG picks each kill: right after Confluent answered a create the operator sent (the tap holds
the answer, so the create happened and the operator never hears of it), or after a random wait (in
the middle of whatever it was doing: a status write, an upload, a Secret). After every kill the
operator starts again. Then nothing is duplicated in Confluent, every ApiKey's Secret holds a key
Confluent has with the secret Confluent accepts, no plugin version exists twice; and after everything
is deleted (with more kills) Confluent holds nothing the objects made.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from ccloud_testenv import workload

from .conftest import CREATES, DELETES, Rig

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

PER_KIND = 100
KILLS = 5
KILLS_WHILE_DELETING = 2


def kill_somewhere(rig: Rig, rng: random.Random, method: str = "POST", paths: tuple[str, ...] = CREATES) -> str:
    """Kill the operator at a point `rng` picks, once it is at work (it has sent a request since it
    started): right after a `method` call to one of `paths` was answered, or after its next 1 to 150
    requests (a moment in its progress, whatever it is doing then). What the point was."""
    sent = len(rig.emulator.requests)
    started = time.monotonic()
    while len(rig.emulator.requests) == sent and time.monotonic() - started < 30:
        time.sleep(0.05)
    if rng.random() < 0.5:
        path = rng.choice(paths)
        armed, fired, lock = [True], threading.Event(), threading.Lock()

        def hook() -> None:
            with lock:
                if not armed[0]:
                    return
                armed[0] = False
            rig.operator.kill()
            fired.set()

        rig.tap.after(method, path, hook)
        if fired.wait(timeout=5.0):
            return f"after {method} {path} was answered"
        with lock:
            late = not armed[0]
            armed[0] = False
        if late:  # the hook is killing it right now
            fired.wait(timeout=10.0)
            return f"after {method} {path} was answered"
        rig.operator.kill()
        return f"5s after arming {method} {path} (none came)"
    more = rng.randint(1, 150)
    at = len(rig.emulator.requests) + more
    while len(rig.emulator.requests) < at and time.monotonic() - started < 30:
        time.sleep(0.01)
    rig.operator.kill()
    return f"after {more} more requests"


# A thousand objects: the INFO log (every line a user sees) is enough for the secret scan, and cheaper.
@pytest.mark.operator_settings(CCLOUD_LOG_LEVEL="INFO")
def test_kill_9_at_random_points_duplicates_nothing_orphans_nothing_and_loses_no_key(rig: Rig, seed: int) -> None:
    rng = random.Random(seed)
    objects = rig.objects(PER_KIND, tag="k")
    errors: list[BaseException] = []

    def create() -> None:
        try:
            workload.create_all(rig.kube.api, objects)
        except BaseException as exc:
            errors.append(exc)

    t_start = time.monotonic()
    creator = threading.Thread(target=create, name="create")
    creator.start()
    kills: list[str] = []
    for i in range(KILLS):
        point = kill_somewhere(rig, rng)
        kills.append(point)
        assert rig.operator.returncode == -9, f"kill {i + 1} did not kill (seed {seed})"
        rig.operator.restart(f"kill {i + 1} of {KILLS}, seed {seed}: {point}")
    creator.join()
    assert not errors, f"creating the workload failed: {errors[0]!r}"
    why = f"(seed {seed}; kills: {kills})"

    took = rig.wait_converged(objects, timeout=240, why=why)
    print(f"{len(objects)} objects Ready {took:.0f}s after the last kill, {time.monotonic() - t_start:.0f}s in all")
    rig.assert_operator_healthy(why)
    rig.assert_exactly_once(objects, why)
    rig.assert_secrets_hold_live_keys(objects, why)

    def kill_while_deleting() -> None:
        for i in range(KILLS_WHILE_DELETING):
            point = kill_somewhere(rig, rng, "DELETE", DELETES)
            kills.append(f"deleting: {point}")
            rig.operator.restart(f"kill {i + 1} while deleting, seed {seed}: {point}")

    t0 = time.monotonic()
    rig.delete_all(objects, timeout=180, during=kill_while_deleting)
    print(f"deleted in {time.monotonic() - t0:.0f}s")
    why = f"(seed {seed}; kills: {kills})"
    rig.assert_operator_healthy(f"after deleting everything {why}")
    rig.assert_nothing_left(objects, f"after deleting everything {why}")
    rig.assert_emulator_holds_nothing(f"after deleting everything {why}")
    rig.assert_no_secret_leaked()
    print(f"seed {seed}: {len(objects)} objects Ready {took:.0f}s after the last kill; kills: {kills}")
