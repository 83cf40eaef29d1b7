"""The code under test installed at its base commit, as the harness installs it, in an overlay.

The harness runs the spec's ``install`` in each instance's own checkout at base_commit; Ramp's shared
environment ran it once, at environment_setup_commit. When the two commits declare the same install
(their setup.py, setup.cfg, pyproject.toml and requirement files are identical) testing the worktree
through PYTHONPATH is exact. When they differ, it is not: pytest 4.6's base commits import
``importlib_metadata``, which the setup commit did not need; pytest 5.4's ``pytest`` script calls
``console_main``, which the base commit does not have yet; pylint 2.15's base commit wants an astroid
the setup commit's install replaced.

So for those instances the install runs again, at the base commit, into an overlay: a venv made from
the environment's interpreter whose site-packages chains to the shared venv's (a ``.pth`` calling
``site.addsitedir``). pip, run in the overlay, sees every shared package as installed and adds only
what the base commit needs beyond them, and the project's own scripts and metadata, into the overlay,
held to the environment's era pins (projectinstall.pip_install). The shared venv is never written,
so concurrent evaluations of one environment stay independent. Every script of the shared venv gets
a wrapper in the overlay's bin that runs it with the overlay's interpreter. The overlay is removed
with the worktree.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..core.errors import InfraError
from ..core.proc import git, run_command, safe_environ
from ..workspace.pythons import uv_binary
from .envs import Environment
from .era import exclude_newer_args, pinned_name
from .projectinstall import CONFLICT, ERA_PINS, pip_install
from .steps import pip_install_target

#: Files whose difference between two commits changes what the spec's install does.
INSTALL_INPUTS = (
    "setup.py", "setup.cfg", "pyproject.toml", "requirements.txt", "requirements*.txt",
    "requirements/", "MANIFEST.in",
)  # fmt: skip


async def install_differs(bare: Path, setup_commit: str, base_commit: str) -> bool:
    """Whether the spec's install would do something else at ``base_commit`` than it did at
    ``setup_commit`` (their install inputs differ). True when git cannot tell."""
    if setup_commit == base_commit:
        return False
    result = await git(
        "diff", "--quiet", setup_commit, base_commit, "--", *INSTALL_INPUTS, cwd=bare, timeout=120
    )
    return result.exit_code != 0


class Overlay:
    """A venv over an environment's, with the worktree's project installed into it."""

    def __init__(self, env: Environment, folder: Path, install: str):
        self.env = env
        self.folder = folder
        self.install = install
        self.python = folder / "bin" / "python"

    def run_env(self, worktree: Path) -> dict[str, str]:
        """The environment's test variables, with the overlay first."""
        env = self.env.run_env(worktree)
        env["VIRTUAL_ENV"] = str(self.folder)
        env["PATH"] = f"{self.folder / 'bin'}{os.pathsep}{env['PATH']}"
        return env

    async def create(self, worktree: Path, scm_version: str | None, timeout: float) -> None:
        """Make the overlay and run the spec's install in ``worktree`` into it; InfraError with the
        install's output when it fails."""
        made = await run_command(
            [self.env.interpreter, "-m", "venv", "--without-pip", str(self.folder)], timeout=120
        )
        site = next(self.folder.glob("lib/python*/site-packages"), None)
        shared = next(self.env.venv.glob("lib/python*/site-packages"), None)
        if made.exit_code != 0 or site is None or shared is None:
            raise InfraError(f"{self.env.key}: cannot make an overlay venv: {made.output[-300:]}")
        (site / "zzz_ramp_shared_env.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
        self._wrap_scripts()
        era_pins = await self._era_pins(worktree, scm_version)
        for hold in (True, False):  # the project's requirements win a conflict, as in envs.py
            command, variables = pip_install(
                self.install, Path(self.env.build_dir), scm_version, hold=hold, extra=era_pins
            )
            result = await run_command(
                command, cwd=worktree, inherit_env=False, timeout=timeout,
                env=safe_environ({**self.run_env(worktree), "PYTHONPATH": "", **variables}),
            )  # fmt: skip
            if result.exit_code == 0 or not CONFLICT.search(result.output[-20_000:]):
                break
        if result.exit_code != 0 or result.timed_out:
            tail = "\n".join(result.output.splitlines()[-15:])
            raise InfraError(
                f"{self.env.key}: the spec's install at the base commit failed "
                f"({'timed out' if result.timed_out else f'exit code {result.exit_code}'}):\n{tail}"
            )
        self._wrap_scripts()  # scripts the base commit's install did not replace

    async def _era_pins(self, worktree: Path, scm_version: str | None) -> Path | None:
        """What the base commit needs beyond the environment, resolved at the environment's era
        by uv (pip alone would take today's releases: pytest 4.6's base commits need an
        importlib_metadata, and today's refuses Python 3.9), as pins for pip; None if uv cannot."""
        uv = uv_binary()
        held = Path(self.env.build_dir) / ERA_PINS
        if uv is None or self.env.era is None or not held.exists():
            return None
        target = pip_install_target(self.install)
        extras = target[0][target[0].index("[") :] if target and "[" in target[0] else ""
        (self.folder / "project.in").write_text(f"{worktree}{extras}\n")
        installed = held.read_text().splitlines()
        builds = Path(self.env.build_dir) / "uv-build-constraints.txt"
        result = await run_command(
            [uv, "pip", "compile", "--no-config", "--quiet", "--no-header", "--no-annotate",
             "--python", str(self.env.python), *exclude_newer_args(self.env.era, [], installed),
             "-c", str(held), *(["--build-constraint", str(builds)] if builds.exists() else []),
             str(self.folder / "project.in")],
            timeout=600, inherit_env=False,
            env=safe_environ({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
                              **({"SETUPTOOLS_SCM_PRETEND_VERSION": scm_version} if scm_version else {})}),
        )  # fmt: skip
        if result.exit_code != 0:
            return None
        pins = [line for line in result.output.splitlines() if pinned_name(line)]
        (self.folder / "era-pins.txt").write_text("".join(f"{line}\n" for line in pins))
        return self.folder / "era-pins.txt"

    def _wrap_scripts(self) -> None:
        """A wrapper in the overlay's bin for each Python script of the shared venv it lacks."""
        bin_dir = self.folder / "bin"
        for script in (self.env.venv / "bin").iterdir():
            target = bin_dir / script.name
            if target.exists() or target.is_symlink() or not script.is_file():
                continue
            try:
                with script.open("rb") as fh:
                    head = b"".join(fh.readline() for _ in range(2))
            except OSError:
                continue
            # A Python script: a python shebang, or the sh trampoline pip and uv write when the
            # interpreter's path is long (a sh shebang, then an exec line naming python, which is
            # valid Python too), so the overlay's interpreter can run either.
            if not head.startswith(b"#!") or b"python" not in head:
                continue
            target.write_text(
                f"#!/bin/sh\nexec {shlex.quote(str(self.python))} {shlex.quote(str(script))} \"$@\"\n"
            )
            target.chmod(0o755)
