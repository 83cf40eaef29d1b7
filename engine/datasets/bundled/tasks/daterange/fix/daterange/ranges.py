"""Ranges of dates: every day, or the same day of every month, between two dates."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, timedelta


def days(start: date, end: date, *, inclusive: bool = False) -> Iterator[date]:
    """Every date from ``start`` up to ``end`` (``end`` itself only when ``inclusive``)."""
    stop = end + timedelta(days=1) if inclusive else end
    current = start
    while current < stop:
        yield current
        current += timedelta(days=1)


def add_months(day: date, count: int) -> date:
    """The same day of the month, ``count`` months later (earlier when negative).

    Days that the target month lacks are clamped to its last day: Jan 31 + 1 month is Feb 28/29.
    """
    month_index = day.month - 1 + count
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last_day))


def months(start: date, end: date) -> Iterator[date]:
    """``start``, then the same day of each following month, while before ``end``."""
    step = 0
    current = start
    while current < end:
        yield current
        step += 1
        current = add_months(start, step)
