"""``ramp serve [RUN_ID]``: the control room in a browser, through textual-serve (tui/serve.py: the
engine never imports a UI).

Each browser session runs ``ramp watch RUN_ID`` (the same Textual app, on textual's web driver)
in its own process; the keys it sends drive the run through the store, as in a terminal. The
server listens on loopback unless ``--host`` says otherwise, and every request but the page's
static files needs the session token: ``/?token=...`` once (the URL printed at start), after which a
same-site, HTTP-only cookie carries it. ``--token`` or ``RAMP_SERVE_TOKEN`` fixes the token; by
default a new random one is made at each start. Without RUN_ID the latest run of the store is
served.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any

from ..core.config import load_settings
from ..core.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub: Any, config_arg: Any, runs_dir_arg: Any) -> None:
    serve = sub.add_parser("serve", help="the control room in a browser (textual-serve), token-guarded")
    serve.add_argument("run_id", nargs="?", help="the run to show (default: the latest in the store)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--token", help="the session token (default: $RAMP_SERVE_TOKEN or a new random one)")
    serve.add_argument("--public-url", help="the URL browsers reach the server at, when not http://HOST:PORT")
    config_arg(serve)
    runs_dir_arg(serve)


def _latest_run(db: Path) -> str:
    from ..store import StoreReader

    if not db.exists():
        raise ConfigError(f"no store at {db}; pass --runs-dir or start a run first", field="--runs-dir")
    with StoreReader(db) as reader:
        ids = reader.run_ids()  # newest first
    if not ids:
        raise ConfigError(f"no run in {db}; start one with `ramp run`", field="RUN_ID")
    return ids[0]


def watch_command(args: argparse.Namespace, runs_dir: Path) -> tuple[str, str]:
    """(run id, the shell command each browser session runs)."""
    run_id = args.run_id or _latest_run(runs_dir / "ramp.sqlite")
    argv = [sys.executable, "-m", "tui", "watch", run_id, "--runs-dir", str(runs_dir.resolve()), "--wait", "60"]
    if getattr(args, "config", None):
        argv[4:4] = ["-c", str(Path(args.config).resolve())]
    return run_id, shlex.join(argv)


def cmd_serve(args: argparse.Namespace) -> int:
    front_end = getattr(args, "front_end", None)
    if front_end is None:
        raise ConfigError("ramp serve needs the terminal UI: run it as `ramp serve` (or `python -m tui serve`)",
                          field="serve")
    overrides = {"paths.runs_dir": str(args.runs_dir)} if getattr(args, "runs_dir", None) else {}
    settings = load_settings(getattr(args, "config", None), overrides=overrides)
    run_id, command = watch_command(args, settings.paths.runs_dir)
    token = args.token or os.environ.get("RAMP_SERVE_TOKEN") or secrets.token_urlsafe(18)
    if args.host not in LOOPBACK:
        print(f"ramp serve: listening on {args.host}, not loopback: the token is all that keeps others "
              "on the network from driving this run", file=sys.stderr, flush=True)
    front_end.serve(command, host=args.host, port=args.port, token=token, title=f"run {run_id}",
                    public_url=args.public_url)
    return 0
