"""Conditions from outcomes: Ready and Synced (plus kind-specific ones), each with observedGeneration.

A condition's lastTransitionTime moves only when its status does, so a steady resource writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ccloud_operator.reconcile.outcome import Outcome, Paused, Ready, Retry, Terminal, Waiting
from ccloud_operator.resources.base import Condition, ConditionStatus

__all__ = ["READY", "SYNCED", "conditions_for", "merge_conditions", "ready_of"]

READY = "Ready"
SYNCED = "Synced"
MESSAGE_LIMIT = 512


def conditions_for(outcome: Outcome, previous: Sequence[Condition], generation: int) -> list[Condition]:
    """The Ready and Synced conditions that report `outcome`."""
    prior_ready = next((c for c in previous if c.type == READY), None)
    match outcome:
        case Ready(reason, message):
            ready = _cond(READY, ConditionStatus.TRUE, reason, message, generation)
            synced = _cond(SYNCED, ConditionStatus.TRUE, "Synced", "", generation)
        case Waiting(reason, message, _, synced_flag):
            ready = _cond(READY, ConditionStatus.FALSE, reason, message, generation)
            synced = (
                _cond(SYNCED, ConditionStatus.TRUE, "Synced", "", generation)
                if synced_flag
                else _cond(SYNCED, ConditionStatus.FALSE, reason, message, generation)
            )
        case Retry(reason, message, _) | Paused(message, reason):
            synced = _cond(SYNCED, ConditionStatus.FALSE, reason, message, generation)
            # A passing failure or a pause says nothing new about the resource: Ready keeps what it knew.
            ready = (
                prior_ready
                if prior_ready is not None and prior_ready.status == ConditionStatus.TRUE
                else _cond(READY, ConditionStatus.FALSE, reason, message, generation)
            )
        case Terminal(reason, message):
            ready = _cond(READY, ConditionStatus.FALSE, reason, message, generation)
            synced = _cond(SYNCED, ConditionStatus.FALSE, reason, message, generation)
    return [ready, synced]


def merge_conditions(previous: Sequence[Condition], fresh: Iterable[Condition], now: str) -> list[Condition]:
    """Replace conditions by type, keeping lastTransitionTime where the status did not change.

    A kind-specific condition this reconcile did not speak to stays as it was.
    """
    before = {c.type: c for c in previous}
    merged: dict[str, Condition] = {t: c for t, c in before.items() if t not in (READY, SYNCED)}
    for cond in fresh:
        old = before.get(cond.type)
        moved = old is None or old.status != cond.status
        merged[cond.type] = cond.model_copy(
            update={"last_transition_time": now if moved or old is None else old.last_transition_time}
        )
    return [merged[t] for t in sorted(merged, key=lambda t: (t not in (READY, SYNCED), t))]


def ready_of(conditions: Sequence[Condition]) -> Condition | None:
    return next((c for c in conditions if c.type == READY), None)


def _cond(type_: str, status: ConditionStatus, reason: str, message: str, generation: int) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:MESSAGE_LIMIT],
        observed_generation=generation,
    )
