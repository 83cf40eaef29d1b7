"""Preflight: name everything missing before a run starts (``ramp doctor`` and every ``ramp run``).

Each check says what it looked at, whether it is fine, and if not, the fix. Backends add their own
checks (the evaluator knows which interpreters its specs need; the docker evaluator checks the
daemon and base image; the model catalog checks credentials and reachability).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from ..core.checks import Check, backend_checks
from ..core.config import Settings
from ..store import wal_available

__all__ = ["Check", "backend_checks", "host_checks", "report_checks"]


def _tool_version(tool: str, *args: str) -> str | None:
    path = shutil.which(tool)
    if path is None:
        return None
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else path


def host_checks(settings: Settings, *, store_wal: bool | None = None) -> list[Check]:
    """Checks that do not depend on the dataset or the backends.

    ``store_wal``: whether a run's own store (opened first) keeps a write-ahead log. A run passes
    it, and finds its tools on PATH without running them; without it (``ramp doctor``, ``ramp
    validate``) a probe store is made in the runs dir and each tool is run for its version. The
    probe and the two tool starts took 7-10 ms of a run's start, on the event loop."""
    checks: list[Check] = []
    checks.append(Check(
        "python", sys.version_info >= (3, 11),
        f"engine runs on Python {sys.version.split()[0]}", "use Python 3.11 or newer",
    ))
    version = _tool_version if store_wal is None else lambda tool, *_: shutil.which(tool)
    git = version("git", "--version")
    checks.append(Check("git", git is not None, git or "not found on PATH", "install git (apt-get install git)"))
    patch = version("patch", "--version")
    checks.append(Check(
        "patch", patch is not None, patch or "not found on PATH (the last patch-apply fallback needs it)",
        "apt-get install patch",
    ))
    runs_dir = settings.paths.runs_dir
    probe = runs_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    writable = os.access(probe, os.W_OK)
    checks.append(Check(
        "runs dir", writable, f"{runs_dir} ({'writable' if writable else 'not writable'})",
        "pass --runs-dir to a writable folder or set RAMP_RUNS_DIR",
    ))
    free_mb = shutil.disk_usage(probe).free / 2**20
    floor = settings.governor.min_free_disk_mb
    checks.append(Check(
        "disk", free_mb >= floor, f"{free_mb / 1024:.1f} GB free under {probe} (floor {floor / 1024:.1f} GB)",
        "free disk space or lower governor.min_free_disk_mb",
    ))
    wal = wal_available(Path(probe)) if store_wal is None else store_wal
    checks.append(Check(
        "sqlite", wal, f"SQLite {sqlite3.sqlite_version}, WAL {'available' if wal else 'unavailable'}",
        "put the runs dir on a local filesystem (WAL does not work on some network filesystems)",
    ))
    return checks


def report_checks() -> list[Check]:
    """What `ramp report` needs beyond a run: matplotlib's Agg canvas for the plots. Checked by
    `ramp doctor` only: a run does not need it, so its absence must not stop one."""
    try:
        from matplotlib import __version__ as version
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising anything at import
        return [Check(
            "report plots", False, f"matplotlib does not import ({type(exc).__name__}: {exc})",
            'reinstall Ramp with its dependencies: pip install -e ".[dev]"',
        )]
    return [Check("report plots", True, f"matplotlib {version} (Agg)")]
