"""Ramp's own version, as installed."""

from __future__ import annotations


def ramp_version() -> str:
    """The installed version of Ramp (``ramp --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ramp")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"
