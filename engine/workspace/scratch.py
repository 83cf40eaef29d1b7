"""Scratch folders owned by one process, and the sweep that removes those of dead processes.

Agents' checkouts (``<cache>/work``), the local evaluator's worktrees (``<cache>/worktrees``) and the
docker evaluator's repository snapshots (``<cache>/docker/scratch``) are made and removed by the
process that uses them. A process killed with SIGKILL removes nothing, and what it leaves can hold a
run's code and whatever an agent wrote into it, a planted key included. So each process works under
a folder of its own, ``<root>/<pid>-<start>`` (its pid and its start time, which tell it apart from a
later process given the same pid), and every Ramp process that starts sweeps the folders whose owner
is gone. Several processes sharing one cache never touch each other's live folders.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import psutil

_OWNED = re.compile(r"^(\d+)-(\d+)$")

#: Entries of the layout before owned folders (``worktrees/<id>-<hex>``, ``work/<run>/...``) that no
#: owner can be read from: removed once older than this, when no live process can still use them.
LEGACY_AGE_S = 24 * 3600


def _stamp(pid: int) -> int | None:
    """A process's start time in centiseconds, or None when there is no such process."""
    try:
        return int(psutil.Process(pid).create_time() * 100)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


def owner_name() -> str:
    """This process's folder name under a scratch root."""
    return f"{os.getpid()}-{_stamp(os.getpid()) or 0}"


def owned_dir(root: Path) -> Path:
    """This process's folder under ``root`` (not created here: the first writer makes it)."""
    return Path(root) / owner_name()


def _alive(name: str) -> bool | None:
    """Whether the owner named by a folder is running; None when the name names no owner."""
    match = _OWNED.match(name)
    if match is None:
        return None
    pid, stamp = int(match.group(1)), int(match.group(2))
    return _stamp(pid) == stamp


def sweep(root: Path) -> list[Path]:
    """Remove the folders under ``root`` whose owner process is gone; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:  # no such root yet, or unreadable: nothing of ours to sweep
        return removed
    now = time.time()
    for entry in entries:
        alive = _alive(entry.name)
        if alive is None:
            try:
                stale = now - entry.lstat().st_mtime > LEGACY_AGE_S
            except OSError:
                continue
            if not stale:
                continue
        elif alive:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


#: The scratch roots under a cache dir: agents' checkouts, local worktrees, docker repo snapshots.
SCRATCH_ROOTS = ("work", "worktrees", "docker/scratch", "graded")


def sweep_cache(cache_dir: Path) -> list[Path]:
    """:func:`sweep` every scratch root of a cache (at the start of every run)."""
    return [path for name in SCRATCH_ROOTS for path in sweep(Path(cache_dir) / name)]


def remove_if_empty(folder: Path) -> None:
    """Remove this process's folder at the end when nothing is left in it."""
    try:
        folder.rmdir()
    except OSError:
        pass
