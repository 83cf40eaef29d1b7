"""Numbers as spreadsheets export them to CSV."""

from __future__ import annotations


def parse_number(cell: str | None) -> float | None:
    """The number in a CSV cell, or None for a blank (or missing) cell.

    Thousands separators are accepted: ``"1,200.50"`` is 1200.5.
    """
    cleaned = (cell or "").strip().replace(",", "")
    if not cleaned:
        return None
    return float(cleaned)
