"""Count, mean, minimum and maximum of one numeric column of a CSV file."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class ColumnStats:
    count: int
    mean: float
    minimum: float
    maximum: float


def _rows(source: str | Path | IO[str]) -> Iterator[dict[str, str]]:
    if isinstance(source, str | Path):
        with open(source, newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
    else:
        yield from csv.DictReader(source)


def column_stats(source: str | Path | IO[str], column: str) -> ColumnStats:
    """Statistics of ``column`` in a CSV file (a path or an open text file) with a header row."""
    values: list[float] = []
    for row in _rows(source):
        if column not in row:
            raise KeyError(f"no column {column!r}")
        values.append(float(row[column]))
    if not values:
        raise ValueError(f"column {column!r} has no values")
    return ColumnStats(len(values), sum(values) / len(values), min(values), max(values))
