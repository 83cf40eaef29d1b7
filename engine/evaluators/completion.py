"""The completion grader: runs a candidate against its problem's tests, in a child process under limits.

Each evaluation writes ``prefix + candidate + tests + check call`` to a scratch folder and runs it
with ``python -I jail.py`` (jail.py: memory, CPU, file-size and process limits, no network, an
unprivileged user where one can read the interpreter). Past ``timeout_s`` the child's process group
is killed. A candidate that fails, crashes, hangs, allocates without bound or forks without end is
that sample's failure, graded ``unresolved`` with the reason; only a grader that cannot start a
process at all is ``infra``. Beside the verdict it records the output checks (engine/core/outputchecks.py):
whether the completed function parses, and which degenerate-output rule it breaks, if any.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import InfraError
from ..core.outputchecks import degenerate_rule, syntax_error
from ..core.proc import run_command, safe_environ
from ..datasets.completion import CompletionProblem
from ..datasets.rows import TaskRow, family_row
from ..workspace.scratch import owned_dir, remove_if_empty
from .base import EvalRequest, EvalResult, TestGroup

JAIL = Path(__file__).with_name("jail.py")
LOG_NAME = "test_output.txt"


class CompletionGraderConfig(BaseModel):
    """Options of the completion grader (``evaluators.completion``)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(default=5.0, gt=0, description="Wall-clock limit of one candidate's tests.")
    memory_mb: int = Field(default=1024, ge=64, description="Address-space limit of the child process.")
    max_processes: int = Field(default=16, ge=1, description="Process limit (enforced for non-root users).")
    python: str | None = Field(default=None, description="Interpreter that runs candidates (default: Ramp's own).")


class ProgramRunner:
    """Runs graded programs under jail.py, one scratch folder each (shared by the completion and
    suite graders)."""

    def __init__(self, config: CompletionGraderConfig, cache_dir: Path):
        self.config = config
        self.python = config.python or sys.executable
        self.scratch = owned_dir(Path(cache_dir).absolute() / "graded")
        self.uid = _unprivileged_uid(self.python)

    async def preflight(self) -> list[str]:
        if shutil.which(self.python) is None and not Path(self.python).is_file():
            return [f"evaluators.*.python: {self.python} not found; give an interpreter path"]
        passed, why = await self.run("assert 1 + 1 == 2\n", None)
        if not passed:
            return [f"the grader cannot run a passing program with {self.python}: {why}"]
        return []

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(remove_if_empty, self.scratch)

    async def run(self, source: str, log: Path | None) -> tuple[bool, str]:
        """(passed, why not) for one program; InfraError when no process could be started."""
        folder = self.scratch / secrets.token_hex(6)
        nonce = secrets.token_hex(16)
        program = folder / "program.py"

        def prepare() -> None:
            folder.mkdir(parents=True)
            program.write_text(source, encoding="utf-8")
            if self.uid is not None:
                os.chown(folder, self.uid, -1)

        await anyio.to_thread.run_sync(prepare)
        c = self.config
        settings = {
            "program": str(program), "nonce": nonce, "uid": self.uid,
            "memory_bytes": c.memory_mb * 2**20, "cpu_s": int(c.timeout_s) + 1,
            "file_bytes": 16 * 2**20, "max_processes": c.max_processes,
        }
        env = safe_environ({"HOME": str(folder), "TMPDIR": str(folder), "PYTHONDONTWRITEBYTECODE": "1",
                            "PYTHONHASHSEED": "0"})
        for name in [k for k in env if k.lower().endswith("_proxy")]:
            env.pop(name)
        try:
            result = await run_command([self.python, "-I", str(JAIL), json.dumps(settings)], cwd=folder,
                                       env=env, inherit_env=False, timeout=c.timeout_s, log_file=log)
        except OSError as exc:
            raise InfraError(f"the grader cannot start {self.python}: {exc}") from exc
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        output = result.output.rstrip()
        if result.timed_out:
            return False, f"timed out after {c.timeout_s:g} s (killed)"
        if result.exit_code == 0 and output.endswith(nonce):
            return True, ""
        return False, _why(result.exit_code, output, nonce)


class CompletionGrader:
    """Grades completion problems (the completion family's evaluator)."""

    name = "completion"
    Config = CompletionGraderConfig

    def __init__(self, config: CompletionGraderConfig, *, cache_dir: Path, **_: Any):
        self.config = config
        self.runner = ProgramRunner(config, cache_dir)

    async def preflight(self, instances: list[TaskRow]) -> list[str]:
        return await self.runner.preflight()

    async def aclose(self) -> None:
        await self.runner.aclose()

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        started = time.monotonic()
        problem = family_row(request.instance, CompletionProblem, "the completion grader")
        candidate = request.patch or ""
        log = await log_file(request)
        passed, detail = await self.runner.run(problem.program(candidate), log)
        error = syntax_error(problem.source_of(candidate))
        checks = {"syntax_valid": error is None, "syntax_error": error, "degenerate": degenerate_rule(candidate)}
        return graded(problem.FAIL_TO_PASS[0], passed, detail, log, started, checks)


async def log_file(request: EvalRequest) -> Path:
    """The attempt's test log (its folder made first)."""
    log_dir = Path(request.log_dir)
    await anyio.to_thread.run_sync(lambda: log_dir.mkdir(parents=True, exist_ok=True))
    return log_dir / LOG_NAME


def graded(check: str, passed: bool, detail: str, log: Path | None, started: float,
           checks: dict[str, Any] | None = None) -> EvalResult:
    """A clean grade of one check: passed, or failed with why."""
    return EvalResult(
        resolved=passed,
        applied=True,
        detail="passed" if passed else f"failed: {detail}",
        tests={check: "PASSED" if passed else "FAILED"},
        fail_to_pass=TestGroup(success=[check] if passed else [], failure=[] if passed else [check]),
        log_path=str(log) if log else None,
        duration_s=time.monotonic() - started,
        checks=checks or {},
    )


def _why(code: int, output: str, nonce: str) -> str:
    """One line: the exception the tests raised, or how the process ended."""
    lines = [line for line in output.replace(nonce, "").splitlines() if line.strip()]
    if code == 0:
        return "the program exited before its tests finished"
    if code in (-9, -24, 137, 152):  # SIGKILL, SIGXCPU
        return f"killed (CPU or memory limit; exit {code})"
    last = lines[-1].strip() if lines else f"exit code {code}"
    return last[:300]


def _prefixes(python: str) -> list[str] | None:
    """The interpreter's own prefixes (where its standard library is), or None when it cannot say."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return [sys.base_prefix, sys.prefix]
    try:
        out = subprocess.run([python, "-I", "-c", "import sys; print(sys.base_prefix); print(sys.prefix)"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split()


def _unprivileged_uid(python: str) -> int | None:
    """As root: the uid of ``nobody`` when it can reach ``python`` and its standard library (every
    folder above them world-searchable), so candidates run without root. None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return None
    prefixes = _prefixes(python)
    if not prefixes:
        return None
    for path in [Path(os.path.realpath(python)), *(Path(os.path.realpath(p)) for p in prefixes)]:
        for folder in [path, *path.parents]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                return None
            if not mode & stat.S_IXOTH:
                return None
    return uid
