"""The bundled task set: Ramp's own small Python repositories, in exact SWE-bench row format.

They make ``ramp demo``, the tests and CI work with no network and no docker: every task is a real
git repository built at run time from files shipped in this package (:mod:`.definitions` describes
the layout, :mod:`.builder` how repositories, patches and mirrors are made). Each test suite runs
in about a second, and the tasks cover several failure shapes: one-file and multi-file fixes, a fix
that adds a module and one that deletes one, a subpackage fix, a fix that a naive change would
break elsewhere, a test patch that fails at import, class-based and parametrized tests.

Importing this module registers the install/test spec of every bundled repository with
:mod:`engine.datasets.specs` (which imports it lazily for ``ramp-bundled/*``); it builds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rows import SWEInstance
from ..specs import register
from .builder import build_tasks, source_template
from .definitions import OWNER, VERSION, BundledTask, load_task, load_tasks, task_names

#: The environment of every bundled repo: no install step, the repos are importable as they are
#: (each pyproject.toml sets pytest's ``pythonpath = ["."]``).
SPEC: dict[str, Any] = {
    "python": "3.11",
    "pip_packages": ["pytest==8.3.5"],
    "test_cmd": "pytest -rA -p no:cacheprovider",
}

for _name in task_names():
    register(f"{OWNER}/{_name}", {VERSION: SPEC}, parser="parse_log_pytest")


def build_bundled(cache_dir: Path) -> tuple[list[SWEInstance], str]:
    """Build (or reuse) every bundled mirror under ``cache_dir``.

    Returns the rows, sorted by instance_id, and the repo-source template that points
    ``ramp-bundled/<name>`` at its mirror.
    """
    rows = build_tasks(load_tasks(), Path(cache_dir))
    return sorted(rows, key=lambda row: row.instance_id), source_template(Path(cache_dir))


__all__ = ["SPEC", "BundledTask", "build_bundled", "load_task", "load_tasks", "task_names"]
