"""Reusable widgets, each with its own DEFAULT_CSS: panels over a run snapshot and the virtualized table."""
