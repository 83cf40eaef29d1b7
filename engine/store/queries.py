"""Queries the writer and the reader share."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable
from typing import Any

from ..core.events import Event, parse_event

#: The event fields the events table holds as columns. From schema v8, ``data`` leaves them out,
#: and the optional fields that are None (parsing gives them back): a state change's data went from
#: about 180 bytes to 50, and each attempt's events wrote about 2 KB less to the WAL.
COLUMNS = ("run_id", "ts", "kind", "instance_id", "attempt")
#: Per kind, the fields whose default is None (omitted from ``data`` when None).
_NONE_BY_DEFAULT: dict[str, frozenset[str]] = {
    cls.model_fields["kind"].default: frozenset(
        name for name, field in cls.model_fields.items() if not field.is_required() and field.default is None
    )
    for cls in typing.get_args(typing.get_args(Event)[0])
}

#: One instance's agent steps, in order: what the partial index ``events_steps`` (schema v7) is for.
#: The kind stays a literal, so that SQLite can tell the index covers the query.
STEPS_OF_INSTANCE = ("SELECT attempt, data FROM events WHERE run_id = ? AND instance_id = ?"
                     " AND kind = 'agent_step' ORDER BY seq")


def events_after(
    run_id: str, after: int, limit: int, kinds: Iterable[str] | None = None
) -> tuple[str, list[Any]]:
    """The one query that reads a run's events in order, after a seq (the writer's and the reader's)."""
    sql = f"SELECT seq, {', '.join(COLUMNS)}, data FROM events WHERE run_id = ? AND seq > ?"
    params: list[Any] = [run_id, after]
    if kinds:
        kinds = list(kinds)
        sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        params += kinds
    return sql + " ORDER BY seq LIMIT ?", [*params, limit]


def event_row(event: Event, data: dict[str, Any]) -> tuple[Any, ...]:
    """The events row of ``event``, whose JSON-shaped (redacted) fields are ``data``: the values of
    :data:`COLUMNS`, then the ``data`` column, without the columns' fields and the unset optional ones.

    Where ``data`` differs from the columns (redaction changed an id that looked like a key), the
    event is stored whole, as before v8, and read as it is; the columns keep the ids queries use.
    """
    columns = tuple(getattr(event, name, None) for name in COLUMNS)
    kept = data
    if all(data.get(name) == value for name, value in zip(COLUMNS, columns, strict=True)):
        unset = _NONE_BY_DEFAULT.get(data["kind"], frozenset())
        kept = {k: v for k, v in data.items() if k not in COLUMNS and (v is not None or k not in unset)}
    return (*columns, json.dumps(kept, separators=(",", ":"), ensure_ascii=False))


def event_json(row: Any) -> str:
    """The whole event, as JSON, from its row: the columns that are set, then ``data``.

    A row written before schema v8 has the whole event in ``data``, starting with its run_id."""
    data: str = row["data"]
    if data.startswith('{"run_id":'):
        return data
    head = f'{{"run_id":{json.dumps(row["run_id"])},"ts":{row["ts"]!r},"kind":"{row["kind"]}"'
    if row["instance_id"] is not None:
        head += f',"instance_id":{json.dumps(row["instance_id"])}'
    if row["attempt"] is not None:
        head += f',"attempt":{row["attempt"]}'
    return head + ("}" if data == "{}" else "," + data[1:])


def parsed(rows: Iterable[Any]) -> list[Event]:
    """Events from their rows (``events_after``), each with its seq."""
    out = []
    for row in rows:
        event = parse_event(event_json(row))
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
