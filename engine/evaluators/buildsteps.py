"""The steps of one environment build: logged, time-limited, and failing as infra errors.

Every step (``uv venv``, each ``uv pip install``, the spec's own ``install``) appends its command and
output to ``build.log`` as it runs, so a failure carries the log's tail in its InfraError and the
whole log survives as ``last-failure.log``. uv installs are resolved at the era (era.py); when uv
reports that only an upload newer than the era satisfies a requirement, that package alone is let
through and the step retried, as long as each retry lets in something new, each one recorded as a
warning.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..core import progress
from ..core.errors import InfraError
from ..core.proc import CommandResult, run_command, safe_environ
from .era import now_stamp, pinned_name, relaxation

#: Runs one build command: ``run_command`` on the host, ``docker exec`` in a build container.
Runner = Callable[..., Awaitable[CommandResult]]

def venv_env(venv: Path) -> dict[str, str]:
    """Variables that activate ``venv`` for a subprocess, with nothing inherited on PYTHONPATH."""
    return {
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PYTHONPATH": "",
    }


#: uv naming the pinned package it could not build: "Failed to download and build `bottleneck==1.3.2`".
_UNBUILT = re.compile(r"Failed to (?:download and )?build `([A-Za-z0-9_.\-]+)==([0-9][0-9A-Za-z.]*)`")


#: Imports each named distribution's top-level modules; prints {name: error} for those that raise
#: anything but ImportError (a missing system library).
_IMPORTABLE = """
import importlib, importlib.metadata as md, json, pkgutil, sys
broken = {}
def why(exc):
    return (type(exc).__name__ + ": " + str(exc))[:200]
for name in sys.argv[1:]:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        continue
    tops = (dist.read_text("top_level.txt") or "").split() or [name.replace("-", "_")]
    for top in tops:
        if top.startswith("_"):
            continue
        try:
            module = importlib.import_module(top)
        except ImportError:
            continue
        except BaseException as exc:
            broken[name] = why(exc)
            continue
        if getattr(module, "__file__", None) is None and hasattr(module, "__path__"):
            # A namespace package (pydap 3.2) runs no code when imported: its modules say whether
            # it works here. One missing optional dependency is not that; any other error is.
            for info in pkgutil.iter_modules(module.__path__, top + "."):
                try:
                    importlib.import_module(info.name)
                except ModuleNotFoundError:
                    pass
                except Exception as exc:
                    broken[name] = info.name + ": " + why(exc)
                    break
print(json.dumps(broken))
"""

#: uv naming what pulled an unbuildable package in: "`llvmlite` (v0.36.0) was included because
#: `numba` (v0.53.1) depends on `llvmlite`".
_INCLUDED = re.compile(
    r"`([A-Za-z0-9_.\-]+)` \(v[^)]*\) was included because `([A-Za-z0-9_.\-]+)` \(v([0-9][^)]*)\)"
)

#: uv saying a requirement names nothing on the index: "Because cdms2 was not found in the package
#: registry" (xarray 0.12's environment.yml lists conda-only packages).
_ABSENT = re.compile(r"Because ([A-Za-z0-9_.\-]+) was not found in the package registry")


def _loosen(args: list[str], name: str, version: str) -> bool:
    """Turn ``name==version`` into ``name~=version`` where ``args`` (or a ``-r`` file) pins it.
    False when nothing pinned it there (then the failure is not the pin's)."""
    pin = re.compile(rf"^{re.escape(name)}[ \t]*==[ \t]*{re.escape(version)}[ \t]*$", re.I | re.M)
    loose = f"{name}~={version}" if "." in version else f"{name}>={version}"
    changed = False
    for index, arg in enumerate(args):
        if pin.match(arg):
            args[index], changed = loose, True
        elif index and args[index - 1] == "-r" and Path(arg).is_file():
            text = Path(arg).read_text()
            if pin.search(text):
                Path(arg).write_text(pin.sub(loose, text))
                changed = True
    return changed


def _drop(args: list[str], package: str) -> bool:
    """Remove every requirement on ``package`` from ``args`` and their ``-r`` files."""
    key = pinned_name(f"{package}==0")
    line = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")

    def names(text: str) -> bool:
        match = line.match(text)
        return match is not None and pinned_name(f"{match.group(1)}==0") == key

    changed = False
    for index in range(len(args) - 1, -1, -1):
        arg = args[index]
        if index and args[index - 1] == "-r" and Path(arg).is_file():
            kept = [row for row in Path(arg).read_text().splitlines() if not names(row)]
            if len(kept) < len(Path(arg).read_text().splitlines()):
                Path(arg).write_text("".join(f"{row}\n" for row in kept))
                changed = True
        elif not arg.startswith("-") and names(arg):
            del args[index]
            changed = True
    return changed


class BuildSteps:
    """One environment build: its folder, its log, and the era options of its uv calls."""

    def __init__(
        self,
        folder: Path,
        *,
        label: str,
        uv: str | None,
        timeout_s: float,
        tail_lines: int,
        failure_log: Path,
        runner: Runner = run_command,
    ):
        self.folder = folder
        self.runner = runner
        self.label = label
        self.uv_path = uv
        self.timeout_s = timeout_s
        self.tail_lines = tail_lines
        self.failure_log = failure_log
        self.log = folder / "build.log"
        self.venv = folder / "venv"
        self.python = self.venv / "bin" / "python"
        self.exclude_args: list[str] = []
        #: The era's options without the spec's pins exempted: for a resolution that drops them.
        self.era_only: list[str] = []
        #: Compile bytecode as installs go (not for interpreters older than uv's compiler's 3.7).
        self.compile_bytecode = True
        self.warnings: list[str] = []

    def note(self, text: str) -> None:
        with self.log.open("a") as fh:
            fh.write(text.rstrip("\n") + "\n")

    async def step(
        self,
        name: str,
        command: str | list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run one build step, logged; raise InfraError with the log's tail if it fails."""
        self.note(f"\n### {name}\n$ {command if isinstance(command, str) else ' '.join(command)}")
        await progress.report(f"env {name}", f"building environment {self.label}: step {name}")
        result = await self.runner(
            command,
            cwd=cwd or self.folder,
            env=safe_environ({
                **venv_env(self.venv),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_NO_PROGRESS": "1",
                # pip compiles bytecode at install and the harness's images hold it; without it, a
                # package's first import under `-W error` (flask's setup.cfg) fails on an era
                # module's invalid escape sequence (blinker on Python 3.9). uv's compiler needs
                # Python 3.7 (astropy 1.3 is 3.6).
                **({"UV_COMPILE_BYTECODE": "1"} if self.compile_bytecode else {}),
                **(env or {}),
            }),
            inherit_env=False,
            timeout=self.timeout_s,
            log_file=self.log,
        )
        if result.timed_out:
            raise self.failure(f"step '{name}' timed out after {self.timeout_s:g} s")
        if result.exit_code != 0:
            raise self.failure(f"step '{name}' failed with exit code {result.exit_code}")
        return result.output

    def failure(self, what: str) -> InfraError:
        tail = self.log.read_text(errors="replace").splitlines()[-self.tail_lines :]
        return InfraError(
            f"environment {self.label}: {what} (full log: {self.failure_log})\n" + "\n".join(tail)
        )

    def uv(self, *args: str) -> list[str]:
        return [self.uv_path or "uv", "pip", *args, "--no-config", "--python", str(self.python)]

    async def install(self, name: str, args: list[str]) -> None:
        """Install with uv at the era (relaxing one package per retry if uv asks), or with pip.

        A pinned package that has no wheel for the interpreter and whose sdist does not build
        (xarray 0.12's environment.yml pins bottleneck==1.3.2, which conda ships built for Python
        3.10 and PyPI only as an sdist needing numpy 1.17.3 to build) is loosened to its
        compatible releases (``~=1.3.2``) and the step retried, with a warning."""
        if not self.uv_path:
            await self.step(name, [str(self.python), "-m", "pip", "install", *args])
            return
        tried: set[str] = set()
        while True:
            try:
                await self.at_era(name, lambda: [*self.uv("install"), *self.exclude_args, *args])
                return
            except InfraError:
                output = self.log.read_text(errors="replace").split(f"### {name}\n")[-1]
                absent = _ABSENT.search(output)
                if absent and _drop(args, absent.group(1)):
                    self.warnings.append(
                        f"{name}: left out {absent.group(1)}: it is not on PyPI (a conda-only package); "
                        "tests that import it will skip"
                    )
                    continue
                unbuilt = _UNBUILT.findall(output)
                if not unbuilt:
                    raise
                package, version = unbuilt[0]  # the package asked for, not its build dependency
                if parent := _INCLUDED.search(output):
                    if parent.group(1).lower() == package.lower():
                        # A dependency of something asked for: numba 0.53 (the era's) needs
                        # llvmlite 0.36, which does not build on Python 3.10. Move numba instead.
                        package, version = parent.group(2), parent.group(3)
                key = pinned_name(f"{package}==0") or package
                if key in tried:
                    # Its newer releases do not install either: a conda-only binary (cartopy needs
                    # GEOS and PROJ, which conda ships). Tests needing it skip, as offline ones do.
                    if not _drop(args, package):
                        raise
                    self.warnings.append(
                        f"{name}: left out {package}: no release installs from PyPI for this Python "
                        "(conda ships it built); tests that import it will skip"
                    )
                    continue
                tried.add(key)
                loose = f"{package}~={version}"
                if not _loosen(args, package, version):
                    # Not pinned: the era chose it (xarray 0.12's bottleneck, 1.3.2 in 2021). Its
                    # newer minor releases may install (numba 0.53 -> 0.5x, with wheels).
                    if not self.exclude_args:
                        raise
                    release = ".".join(version.split(".")[:2])
                    loose = f"{package}~={release}" if "." in release else f"{package}>={release}"
                    args.append(loose)
                    self.exclude_args += ["--exclude-newer-package", f"{package}={now_stamp()}"]
                self.warnings.append(
                    f"{name}: {package}=={version} (or what it needs) has no wheel for this Python and "
                    f"does not build from source; took {loose}, whatever its date"
                )

    async def drop_unimportable(self, requirements: list[str]) -> None:
        """Uninstall, with a warning, packages of a conda file that install from PyPI but cannot be
        imported here because conda would have brought a system library they load (xarray 0.12's
        cfgrib raises RuntimeError without ecCodes, and every test module importing xarray fails
        to collect, where without it they would skip). An ImportError is left alone: tests skip.
        A namespace package is judged by its modules: pydap 3.2's ``pydap.client`` imports
        ``collections.Mapping``, gone in Python 3.10, while ``import pydap`` runs nothing; xarray
        0.12 skips pydap only when it is missing (ModuleNotFoundError), so every test module
        failed to collect."""
        names = sorted({re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requirements if r})
        if not names:
            return
        try:
            output = await self.step("import check", [str(self.python), "-c", _IMPORTABLE, *names])
            broken = json.loads(output.strip().splitlines()[-1])
        except (InfraError, ValueError, IndexError):
            self.warnings.append("the import check of the conda file's packages did not finish (see build.log)")
            return
        for package, error in broken.items():
            await self.step(f"uninstall {package}", [*self.uv("uninstall"), package])
            self.warnings.append(
                f"removed {package}: it installs from PyPI but does not import here ({error}); "
                "conda ships the system library it needs, or a release that works here. Tests that import it skip"
            )

    async def at_era(self, name: str, command: Callable[[], list[str]]) -> str:
        """Run a uv step; while uv names a package only a newer upload satisfies, let that one
        through and retry. Ends when the step passes or a retry would let in nothing new."""
        while True:
            try:
                return await self.step(name, command())
            except InfraError:
                option = relaxation(self.log.read_text(errors="replace").split(f"### {name}\n")[-1])
                if not self.exclude_args or option is None or option in self.exclude_args:
                    raise
                self.warnings.append(
                    f"{name}: nothing before the era satisfies it, so allowed {option}"
                )
                self.exclude_args += ["--exclude-newer-package", option]

    async def freeze(self) -> list[str]:
        if self.uv_path:
            output = await self.step("freeze", self.uv("freeze"))
        else:
            output = await self.step("freeze", [str(self.python), "-m", "pip", "freeze", "--all"])
        return [line for line in output.splitlines() if pinned_name(line)]
