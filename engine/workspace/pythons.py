"""Finding the Python a spec asks for: pyenv, then uv, then PATH (the order is configurable).

Every SWE-bench spec names a minor version ("3.9"), and tests are only comparable when they run on
it. A wrong interpreter must never be substituted silently, so when none is found the message names
the version, every place that was searched and the command that installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

PythonSource = Literal["pyenv", "uv", "path"]
DEFAULT_FINDERS: tuple[PythonSource, ...] = ("pyenv", "uv", "path")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _from_pyenv(version: str) -> Path | None:
    versions = _pyenv_root() / "versions"
    if not versions.is_dir():
        return None
    pattern = re.compile(rf"^{re.escape(version)}\.\d+$")
    found = sorted(
        (p for p in versions.iterdir() if pattern.match(p.name)), key=lambda p: _version_key(p.name)
    )
    for candidate in reversed(found):
        python = candidate / "bin" / "python"
        if python.exists():
            return python
    return None


def uv_binary() -> str | None:
    """The real uv executable: the one the ``uv`` package (a dependency of Ramp) installed beside
    this interpreter, so that a virtualenv works without being activated; else uv on PATH.
    Resolved, because a pyenv shim on PATH would not run inside a container."""
    try:
        from uv import find_uv_bin

        return str(Path(find_uv_bin()).resolve())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        return str(Path(found).resolve()) if found else None


def _from_uv(version: str) -> Path | None:
    uv = uv_binary()
    if not uv:
        return None
    try:
        result = subprocess.run(
            [uv, "python", "find", "--no-config", version],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = result.stdout.strip()
    return Path(path) if result.returncode == 0 and path else None


def _from_path(version: str) -> Path | None:
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


_FINDERS = {"pyenv": _from_pyenv, "uv": _from_uv, "path": _from_path}


def interpreter_version(python: Path) -> str | None:
    """The interpreter's "X.Y", asked from the interpreter itself (a shim may point elsewhere)."""
    try:
        result = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_python(version: str, order: list[PythonSource]) -> Path | None:
    """The first interpreter of ``version`` (major.minor) found through ``order``, checked by running it."""
    for source in order:
        python = _FINDERS[source](version)
        if python is not None and interpreter_version(python) == version:
            return python
    return None


def missing_python_message(version: str, order: list[PythonSource]) -> str:
    """What to tell the operator when :func:`find_python` found nothing."""
    searched = {
        "pyenv": f"{_pyenv_root()}/versions/{version}.*",
        "uv": f"`uv python find {version}`",
        "path": f"python{version} on PATH",
    }
    where = ", ".join(searched[s] for s in order)
    return (
        f"Python {version} not found (searched {where}); install it with "
        f"`pyenv install {version}` or `uv python install {version}`"
    )
