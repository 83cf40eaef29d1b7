"""The seam between the ``ramp`` command and an interactive front end (the TUI).

Why a protocol handed in rather than an import: engine/ never imports the UI (a test enforces it).
The ``ramp`` entry point (tui.cli) wraps :func:`engine.cli.main` and hands it a front end;
``python -m engine`` hands none, so it always prints plain progress lines, which is what scripts,
cron and the tests want. A front end is used only on a terminal: ``--headless``, ``--json`` or a
redirected stdout keep the plain displays.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Protocol


class FrontEnd(Protocol):
    def run(self, settings: Any, run_id: str | None) -> int:
        """Execute the run in this process with the UI over it; returns the exit code."""
        ...

    def watch(self, settings: Any, run_id: str) -> int:
        """Attach to a run through the store (live or finished); quitting only detaches."""
        ...


def interactive(args: argparse.Namespace) -> FrontEnd | None:
    """The front end to run ``args`` under, or None for the plain displays."""
    front_end: FrontEnd | None = getattr(args, "front_end", None)
    if front_end is None or getattr(args, "headless", False) or getattr(args, "json", False):
        return None
    return front_end if sys.stdout.isatty() and sys.stdin.isatty() else None
