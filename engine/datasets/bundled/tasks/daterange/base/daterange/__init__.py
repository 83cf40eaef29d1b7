"""Day and month ranges for schedules."""

from .ranges import add_months, days, months

__all__ = ["add_months", "days", "months"]
