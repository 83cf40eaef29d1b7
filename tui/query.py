"""Filtering and sorting of the instance table and the leaderboard: pure functions over rows.

Why here and not in the widgets: which rows an operator sees, and in what order, is a decision
worth a test of its own, and the virtualized table only ever draws the slice it is handed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.core.fsm import TERMINAL, rerun_failed_picks
from engine.results.runview import InstanceRow

from .format import state_label

#: Instance table orders, cycled by ``s``: (name, key, descending).
INSTANCE_SORTS: tuple[tuple[str, Any, bool], ...] = (
    ("order", lambda r, now: r.position, False),
    ("state", lambda r, now: (r.stage, r.state, r.position), False),
    ("cost", lambda r, now: (r.cost_usd, -r.position), True),
    ("time", lambda r, now: (r.duration(now) or 0.0, -r.position), True),
    ("instance", lambda r, now: r.instance_id, False),
)

#: Leaderboard orders, cycled by ``s``: (column, descending). ``None`` values sort last.
LEADERBOARD_SORTS: tuple[tuple[str, bool], ...] = (
    ("rank", False), ("resolved_rate", True), ("ci_low", True), ("cost_per_instance", False),
    ("instances", True), ("run_id", False),
)


def matches(row: InstanceRow, words: list[str]) -> bool:
    """Every word appears in the instance id, repo, state (with sub-state) or outcome."""
    haystack = f"{row.instance_id} {row.repo} {state_label(row)} {row.outcome or ''}".lower()
    return all(word in haystack for word in words)


def visible_rows(
    rows: Sequence[InstanceRow], text: str = "", sort: int = 0, now: float = 0.0
) -> Sequence[InstanceRow]:
    """The rows the table shows: filtered by ``text`` (space-separated words), in sort order ``sort``."""
    words = text.lower().split()
    out: Sequence[InstanceRow] = [r for r in rows if matches(r, words)] if words else rows
    _, key, descending = INSTANCE_SORTS[sort % len(INSTANCE_SORTS)]
    if sort % len(INSTANCE_SORTS):
        out = sorted(out, key=lambda r: key(r, now), reverse=descending)
    return out


def sort_leaderboard(rows: list[dict[str, Any]], sort: int = 0) -> list[dict[str, Any]]:
    column, descending = LEADERBOARD_SORTS[sort % len(LEADERBOARD_SORTS)]
    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    return sorted(present, key=lambda r: r[column], reverse=descending) + missing


def failed_rows(rows: Sequence[InstanceRow]) -> list[InstanceRow]:
    """What ``rerun-failed`` reruns (the scheduler's rule): finished, not in flight, not resolved."""
    return [r for r in rows if rerun_failed_picks(r.attempts_done, r.state not in TERMINAL, r.outcome)]
