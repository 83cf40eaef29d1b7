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
from typing import Protocol

import anyio

from .core import collector
from .core.config import Settings


class FrontEnd(Protocol):
    def run(self, settings: Settings, run_id: str | None) -> int:
        """Execute the run in this process with the UI over it; returns the exit code."""
        ...

    def watch(self, settings: Settings, run_id: str) -> int:
        """Attach to a run through the store (live or finished); quitting only detaches."""
        ...

    def serve(self, command: str, *, host: str, port: int, token: str, title: str, public_url: str | None) -> None:
        """Serve ``command`` (``ramp watch``) to browsers, guarded by ``token``; blocks."""
        ...


def interactive(args: argparse.Namespace) -> FrontEnd | None:
    """The front end to run ``args`` under, or None for the plain displays."""
    front_end: FrontEnd | None = getattr(args, "front_end", None)
    if front_end is None or getattr(args, "headless", False) or getattr(args, "json", False):
        return None
    return front_end if sys.stdout.isatty() and sys.stdin.isatty() else None


def launch(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``settings`` to the end (``ramp run`` and ``ramp demo``): under the front end on a
    terminal, else with plain lines or, with ``--json``, JSON lines. Returns the exit code."""
    from .run.display import JsonLinesDisplay, PlainDisplay
    from .run.runner import execute_run

    collector.resume()  # the run's modules are imported and its settings loaded
    front_end = interactive(args)
    if front_end is not None:
        return front_end.run(settings, args.run_id)
    display = JsonLinesDisplay() if args.json else PlainDisplay(quiet_s=settings.run.heartbeat_s)
    try:
        result = anyio.run(lambda: execute_run(settings, display=display, run_id=args.run_id))
    finally:
        display.close()
    return result.exit_code


