"""The per-instance state machine.

    queued → preparing → agent → patched | no_patch → eval_queued → evaluating
           → resolved | unresolved | error

A finished attempt may go back to ``queued`` for another attempt (up to K, or on an operator's
rerun). Any working state may fall to ``error`` (with an error class), and a restarted run returns
work that was in flight to ``queued``. Everything else raises :class:`IllegalTransition`. The machine
itself is pure; the scheduler persists each transition as a ``state`` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeGuard, get_args

from .errors import ErrorClass, IllegalTransition
from .events import Outcome, State, StateChanged

STATES: tuple[str, ...] = get_args(State)
TERMINAL: frozenset[str] = frozenset({"resolved", "unresolved", "error"})

#: An instance's outcome over its attempts: the first of these that any attempt reached.
OUTCOME_PRECEDENCE: tuple[Outcome, ...] = ("resolved", "unresolved", "error")


def is_state(value: str) -> TypeGuard[State]:
    return value in STATES


def best_outcome(outcomes: Iterable[str | None]) -> Outcome | None:
    """The instance's outcome given its attempts' (None before any finished)."""
    seen = set(outcomes)
    return next((o for o in OUTCOME_PRECEDENCE if o in seen), None)


def rerun_failed_picks(finished: int, in_flight: bool, outcome: str | None) -> bool:
    """Whether ``rerun-failed`` gives an instance another attempt: one finished, none in flight,
    not resolved. The scheduler applies it; the TUI asks it to show what the command will rerun."""
    return finished > 0 and not in_flight and outcome != "resolved"

TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"queued"}),
    "queued": frozenset({"preparing", "error"}),
    "preparing": frozenset({"agent", "error", "queued"}),
    "agent": frozenset({"patched", "no_patch", "error", "queued"}),
    "patched": frozenset({"eval_queued", "error", "queued"}),
    "no_patch": frozenset({"eval_queued", "error", "queued"}),
    "eval_queued": frozenset({"evaluating", "error", "queued"}),
    "evaluating": frozenset({"resolved", "unresolved", "error", "eval_queued", "queued"}),
    "resolved": frozenset({"queued"}),
    "unresolved": frozenset({"queued"}),
    "error": frozenset({"queued"}),
}


class InstanceMachine:
    """The state of one instance, and the transitions it may take."""

    def __init__(self, run_id: str, instance_id: str, state: str | None = None, attempt: int = 0):
        if state is not None and state not in STATES:
            raise IllegalTransition(f"{instance_id}: unknown state {state!r}")
        self.run_id = run_id
        self.instance_id = instance_id
        self.state: str | None = state
        self.attempt = attempt

    def can(self, to: str) -> bool:
        return to in TRANSITIONS[self.state]

    def transition(
        self,
        to: str,
        *,
        attempt: int | None = None,
        error_class: ErrorClass | None = None,
        detail: str = "",
    ) -> StateChanged:
        """Move to ``to`` and return the event describing the move. Raises on an illegal move."""
        if not is_state(to):
            raise IllegalTransition(f"{self.instance_id}: unknown state {to!r}")
        before = self.state
        if before is not None and not is_state(before):  # only a state the machine checked
            raise IllegalTransition(f"{self.instance_id}: unknown state {before!r}")
        if not self.can(to):
            raise IllegalTransition(
                f"{self.instance_id}: illegal transition {self.state} -> {to} "
                f"(allowed: {', '.join(sorted(TRANSITIONS[self.state])) or 'none'})"
            )
        if to == "error" and error_class is None:
            raise IllegalTransition(f"{self.instance_id}: an error needs an error class")
        if to == "queued" and attempt is None:
            raise IllegalTransition(f"{self.instance_id}: queueing needs an attempt number")
        if attempt is not None:
            self.attempt = attempt
        event = StateChanged(
            run_id=self.run_id,
            instance_id=self.instance_id,
            attempt=max(self.attempt, 1),
            from_state=before,
            to_state=to,
            error_class=error_class,
            detail=detail,
        )
        self.state = to
        return event
