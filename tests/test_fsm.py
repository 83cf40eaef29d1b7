"""The per-instance state machine: the DESIGN.md path is legal, everything else raises."""

from __future__ import annotations

import pytest

from engine.core.errors import IllegalTransition
from engine.core.fsm import STATES, TRANSITIONS, InstanceMachine


def walk(m: InstanceMachine, *states: str) -> list:
    return [m.transition(s) for s in states]


def test_happy_path_emits_one_event_per_transition():
    m = InstanceMachine("r", "i", "queued", 1)
    events = walk(m, "preparing", "agent", "patched", "eval_queued", "evaluating", "resolved")
    assert [(e.from_state, e.to_state) for e in events] == [
        ("queued", "preparing"), ("preparing", "agent"), ("agent", "patched"),
        ("patched", "eval_queued"), ("eval_queued", "evaluating"), ("evaluating", "resolved"),
    ]
    assert all(e.kind == "state" and e.run_id == "r" and e.attempt == 1 for e in events)


def test_no_patch_path_and_next_attempt():
    m = InstanceMachine("r", "i", "queued", 1)
    walk(m, "preparing", "agent", "no_patch", "eval_queued", "evaluating", "unresolved")
    event = m.transition("queued", attempt=2)
    assert event.attempt == 2 and m.attempt == 2


@pytest.mark.parametrize(
    ("start", "to"),
    [("queued", "evaluating"), ("queued", "resolved"), ("agent", "evaluating"), ("patched", "resolved"),
     ("resolved", "unresolved"), ("resolved", "agent"), ("error", "resolved"), ("no_patch", "patched")],
)
def test_illegal_transitions_raise(start, to):
    m = InstanceMachine("r", "i", start, 1)
    with pytest.raises(IllegalTransition, match=f"{start} -> {to}"):
        m.transition(to)
    assert m.state == start


def test_error_needs_a_class_and_queue_needs_an_attempt():
    with pytest.raises(IllegalTransition, match="error class"):
        InstanceMachine("r", "i", "agent", 1).transition("error")
    with pytest.raises(IllegalTransition, match="attempt number"):
        InstanceMachine("r", "i", "resolved", 1).transition("queued")
    event = InstanceMachine("r", "i", "agent", 1).transition("error", error_class="infra", detail="clone failed")
    assert event.error_class == "infra"


def test_every_state_has_a_rule_and_terminal_states_only_requeue():
    assert set(STATES) <= set(TRANSITIONS)
    for state in ("resolved", "unresolved", "error"):
        assert TRANSITIONS[state] == {"queued"}
    with pytest.raises(IllegalTransition, match="unknown state"):
        InstanceMachine("r", "i", "bogus")
