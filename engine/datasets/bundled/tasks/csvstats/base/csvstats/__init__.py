"""Summary statistics for a column of a CSV file."""

from .stats import ColumnStats, column_stats

__all__ = ["ColumnStats", "column_stats"]
