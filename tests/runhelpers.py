"""Helpers for tests that drive the real `ramp` command in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def ramp_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RAMP_PATHS__CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("RAMP_RUNS_DIR", None)
    env.update(extra)
    return env


def ramp(args: list[str], *, cache_dir: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    """Run `python -m engine ARGS` (the `ramp` command) from the repo root and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, env=ramp_env(cache_dir, **extra),
        capture_output=True, text=True, timeout=timeout,
    )


def ramp_popen(args: list[str], *, cache_dir: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, env=ramp_env(cache_dir, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def db_rows(runs_dir: Path, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(runs_dir / "ramp.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
