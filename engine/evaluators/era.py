"""Resolving dependencies as of a task's era, with uv's ``--exclude-newer``.

DESIGN measured that resolving today's releases breaks old tasks: numpy 2 removed ``np.Inf``
(pvlib), pytest 8 dropped nose-style ``setup()`` (pydicom), pip 26 refuses old setuptools
editables (astroid). So every resolution excludes uploads newer than the era: the
environment_setup_commit's commit date, or the first bugfix release of the spec's Python if that is
later.
Packages older than the interpreter do not run on it, or have no wheel for it and do not build: an
era-2014 pip cannot start on Python 3.9; requests 0.14's era pytest 2.2 has no ``pytest`` command;
xarray 0.12's era numpy 1.17 has no wheel for Python 3.10 and its sdist does not build with the
setuptools that Python needs (the harness, which resolves today's releases, never meets this). On
top of the era, deliberate exceptions:
- Packages whose old releases were deleted from PyPI (atomicwrites only has 1.4.1, from 2022) are
  exempt; otherwise uv silently backtracks to ancient pytest releases that did not need them.
- The spec's own pins win over the era, tools included: every ``name==version`` the spec installs
  (its ``pip_packages``, its requirement files) is exempt from the cutoff, so ``setuptools==68.0.0``
  or ``contourpy==1.1.0`` install whatever their date.
- When uv says a requirement is satisfied only by newer uploads (a pinned package's own
  dependencies, say), that package is allowed up to a day past its first matching upload (wheels
  often come hours after the sdist), and the step retried; as many times as uv asks, each package
  once per date.

pip's isolated builds (``pip install -e .`` of a pyproject project) are held to the era too, through
``PIP_CONSTRAINT``: the era's tools, except one the project's ``build-system.requires`` bounds in a
way the era's version does not meet (astroid 2.14 asks for ``setuptools~=62.6``: the project wins),
and every other build requirement (setuptools_scm, cython, numpy, ...) resolved as of the era, so
today's setuptools_scm never meets the era's setuptools.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core.errors import InfraError
from ..core.proc import git

#: The first bugfix release of each CPython minor version (x.y.1): no environment's era is earlier.
#: By then the ecosystem has wheels for it; at x.y.0 it often has not (numpy's first wheels for
#: Python 3.10 came with 1.21.3, two weeks after 3.10.0, and its older sdists do not build there).
PYTHON_RELEASED = {
    "3.5": "2015-12-07T00:00:00Z",
    "3.6": "2017-03-21T00:00:00Z",
    "3.7": "2018-10-20T00:00:00Z",
    "3.8": "2019-12-18T00:00:00Z",
    "3.9": "2020-12-07T00:00:00Z",
    "3.10": "2021-12-06T00:00:00Z",
    "3.11": "2022-12-06T00:00:00Z",
    "3.12": "2023-12-07T00:00:00Z",
    "3.13": "2024-12-03T00:00:00Z",
    "3.14": "2025-12-02T00:00:00Z",
}
#: The packaging tools pinned to the era (unless the spec pins them) and handed to pip's builds.
TOOLS = ("pip", "setuptools", "wheel")

_FILTERED_HINT = re.compile(
    r"`([A-Za-z0-9_.\-]+)` was filtered by `exclude-newer(?:-package)?`.*?published at "
    r"(\d{4}-\d\d-\d\dT[\d:.]+Z)",
    re.S,
)
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_stamp() -> str:
    """Now, as uv's --exclude-newer takes it: a cutoff that lets every upload through."""
    return _stamp(datetime.now(UTC))


async def commit_era(bare: Path, commit: str) -> str:
    """The commit date of ``commit`` (``git log -1 --format=%cI``) as a UTC timestamp."""
    result = await git("log", "-1", "--format=%cI", commit, cwd=bare, timeout=60)
    if result.exit_code != 0:
        raise InfraError(f"cannot read the date of {commit}: {result.output.strip()[-300:]}")
    return _stamp(datetime.fromisoformat(result.output.strip()))


def environment_era(commit_date: str, python_version: str) -> str:
    """The cutoff of an environment: its setup commit's date, or its Python's x.y.1 if later."""
    return max(commit_date, PYTHON_RELEASED.get(python_version, commit_date))


def exclude_newer_args(era: str, exempt: list[str], pins: Sequence[str] = ()) -> list[str]:
    """uv options that resolve as of ``era``, with the exemptions, and every package the spec
    pins (``pins``: its ``name==version`` requirements) let through whatever its date."""
    pinned = {name for name in map(pinned_name, pins) if name}
    args = ["--exclude-newer", era]
    now = now_stamp()
    for package in dict.fromkeys([*exempt, *sorted(pinned)]):
        args += ["--exclude-newer-package", f"{package}={now}"]
    return args


def relaxation(uv_output: str) -> str | None:
    """``package=date`` letting in the upload uv said was needed but newer than the era."""
    hints = _FILTERED_HINT.findall(uv_output)
    if not hints:
        return None
    package, published = hints[-1]
    allowed = datetime.fromisoformat(published.replace("Z", "+00:00")) + timedelta(days=1)
    return f"{package}={_stamp(allowed)}"


def pinned_name(requirement: str) -> str | None:
    """The normalised name (PEP 503) of a ``name==version`` requirement, or None for anything else."""
    match = _PIN.match(requirement.strip())
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:4])


def build_requires(pyproject: str | None) -> list[str]:
    """The project's ``build-system.requires`` (empty without a pyproject.toml or the table)."""
    try:
        requires = tomllib.loads(pyproject or "").get("build-system", {}).get("requires", [])
    except tomllib.TOMLDecodeError:
        return []
    return [str(r) for r in requires] if isinstance(requires, list) else []


def build_constraints(tool_pins: list[str], pyproject: str | None) -> list[str]:
    """The ``tool==version`` pins that do not contradict the project's ``build-system.requires``."""
    bounds: dict[str, list[str]] = {}
    for requirement in build_requires(pyproject):
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)", str(requirement))
        if match and match.group(2).strip():
            bounds[match.group(1).lower()] = [
                s.strip() for s in match.group(2).split(",") if s.strip()
            ]
    kept = []
    for pin in tool_pins:
        name = pinned_name(pin)
        pinned = _version(pin.split("==", 1)[1])
        lower_bounds = [
            re.fullmatch(r"(>=|>)\s*([\d.]+)", spec) for spec in bounds.get(name or "", [])
        ]
        if all(
            m
            and (
                pinned >= _version(m.group(2))
                if m.group(1) == ">="
                else pinned > _version(m.group(2))
            )
            for m in lower_bounds
        ):
            kept.append(pin)
    return kept
