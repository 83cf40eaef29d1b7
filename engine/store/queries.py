"""Queries the writer and the reader share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.events import Event, parse_event


def events_after(
    run_id: str, after: int, limit: int, kinds: Iterable[str] | None = None
) -> tuple[str, list[Any]]:
    """The one query that reads a run's events in order, after a seq (the writer's and the reader's)."""
    sql = "SELECT seq, data FROM events WHERE run_id = ? AND seq > ?"
    params: list[Any] = [run_id, after]
    if kinds:
        kinds = list(kinds)
        sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        params += kinds
    return sql + " ORDER BY seq LIMIT ?", [*params, limit]


def parsed(rows: Iterable[Any]) -> list[Event]:
    """Events from (seq, data) rows, each with its seq."""
    out = []
    for row in rows:
        event = parse_event(row["data"])
        event.seq = row["seq"]
        out.append(event)
    return out


def validation_query(evaluator: str | None = None) -> tuple[str, list[Any]]:
    """The validation registry, by repo and instance (one evaluator's, or every one's)."""
    sql = "SELECT * FROM validation"
    params: list[Any] = []
    if evaluator is not None:
        sql += " WHERE evaluator = ?"
        params.append(evaluator)
    return sql + " ORDER BY repo, instance_id, evaluator", params
