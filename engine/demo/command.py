"""``ramp demo [--headless] [--json] [--auto-approve] [-c CONFIG]``: run the offline demo.

The demo is an ordinary run with its own config (config/demo.yaml): the same execute_run, store,
gates and exit codes as ``ramp run``, so what it shows is what a real run does. Only the defaults
differ: the direct-edit agent, the ``scripted-demo`` model and the bundled tasks in three phases.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEMO_CONFIG = Path("config/demo.yaml")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``demo`` subcommand's arguments (``sub`` is the CLI's subparsers object)."""
    demo = sub.add_parser("demo", help="the offline demo: direct-edit + scripted model on the bundled tasks")
    demo.add_argument("-c", "--config", type=Path, default=DEMO_CONFIG, help=f"demo config (default {DEMO_CONFIG})")
    demo.add_argument("--headless", action="store_true", help="no TUI; progress lines or --json")
    demo.add_argument("--json", action="store_true", help="JSON lines on stdout; the last is the summary")
    demo.add_argument("--auto-approve", action="store_true", help="gates proceed unless STOP, without waiting")
    demo.add_argument("--run-id", help="resume this demo run, or name a new one")
    demo.add_argument(
        "--runs-dir", type=Path, default=None,
        help="folder holding ramp.sqlite and run folders (default ./runs or $RAMP_RUNS_DIR)",
    )
    return demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo to the end; the exit code follows the command-line contract."""
    from ..core.config import load_settings, shipped
    from ..frontend import launch

    overrides: dict[str, Any] = {"ramp.approval": "auto" if args.auto_approve else None}
    if args.runs_dir is not None:
        overrides["paths.runs_dir"] = str(args.runs_dir)
    return launch(load_settings(shipped(args.config), overrides=overrides), args)
