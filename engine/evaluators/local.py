"""``swebench-local``: the official harness's steps and verdict, without docker.

Each evaluation gets a fresh worktree at base_commit (a ``git clone --shared`` of the cached bare
clone, removed afterwards) and runs in the shared venv of its (repo, version) (see envs.py). Then,
as the harness's eval script does: the spec's repo-local ``pre_install`` edits, the model patch
(with the official ``git apply``/``patch`` fallbacks, after refusing any path that leaves the repo),
test files reset to base_commit, the test patch, and the spec's ``test_cmd`` on the test files the
test patch touches, under a timeout that kills the whole process group. The log is written in the
harness's shape and graded by swebench's own functions (grading.py).

**Which code is tested.** The spec's ``install`` ran once, in the environment's own checkout.
Evaluations of one environment run concurrently, so re-running an editable install per worktree
would repoint the shared venv under a test run in progress, and serialising evaluations per
environment would throw away the concurrency the governor gives. Instead each test run puts the
worktree's import roots (``src/`` or the repository root, read from what the install left in
site-packages: imports.py) first on PYTHONPATH, ahead of site-packages and of the editable install's
own paths, and checks before the tests that the project's top-level packages resolve inside the
worktree, an infra error otherwise. This is exact for pure-Python repositories. Compiled extensions
are not rebuilt per worktree: for such repos the extension modules come from the environment's
build, as a limitation worth knowing.

**Gold validation** runs the reference patch once per (environment, instance) and remembers which
tests fail even then; later evaluations report them in ``EvalResult.env_broken`` so environment
breakage is not scored as a model regression (``resolved`` stays the official verdict).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from ..core.artifacts import safe_name
from ..core.errors import ConfigError, InfraError
from ..core.proc import CommandResult, git, run_command, safe_environ
from ..datasets.rows import SWEInstance
from ..datasets.specs import get_spec
from ..workspace.pythons import uv_binary
from ..workspace.repos import RepoCache
from ..workspace.scratch import owned_dir, remove_if_empty
from .base import EvalRequest, EvalResult
from .buildconfig import EvaluatorConfig
from .envs import Environment, EnvManager
from .evalsteps import refused, run_eval, screen, swe_row
from .imports import import_check_script, misplaced_imports
from .overlay import Overlay, install_differs
from .patching import check_patch_targets
from .scope import SCOPE_FAILED, Scope, scope_failure, scope_problem
from .standins import STANDINS, StandIns
from .steps import pip_install_target, steps_script
from .testenv import missing_program, site_path

log = logging.getLogger(__name__)


class LocalEvaluatorConfig(EvaluatorConfig):
    """Settings of the docker-less evaluator (the shared ones come from EvaluatorConfig)."""

    install_at_base: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Run the spec's install again at each instance's base commit, into an overlay "
        "over the shared environment (overlay.py), as the harness installs at base_commit. auto: "
        "when the base commit's setup.py, setup.cfg, pyproject.toml or requirement files differ "
        "from the environment's setup commit; always; never (test through PYTHONPATH only).",
    )
    test_scope: Literal["auto", "never"] = Field(
        default="auto",
        description="auto: run the tests of a repository with network stand-ins, or of a spec with "
        "nano_cpus, in a scope of their own (a network and mount namespace where the stand-ins answer "
        "on their real names, and a CPU cgroup with the spec's quota: scope.py), when the host allows "
        "it (root with unshare, mount and ip); never: the host's network and CPUs, stand-ins on a "
        "loopback port.",
    )
    gold_validation: bool = Field(
        default=False,
        description="Run the gold patch once per (environment, instance) before grading, and report "
        "the tests it fails as env_broken.",
    )


class GoldValidation(BaseModel):
    """The gold patch's outcome in one environment: the tests it cannot pass there."""

    instance_id: str
    env_key: str
    resolved: bool
    broken: list[str] = Field(description="FAIL_TO_PASS and PASS_TO_PASS tests failing with gold.")
    error_class: str | None = None


class LocalEvaluator:
    """Evaluates patches on the host, one shared venv per (repo, version)."""

    name = "swebench-local"
    Config = LocalEvaluatorConfig

    def __init__(
        self,
        config: LocalEvaluatorConfig,
        *,
        cache_dir: Path,
        repo_source: str,
        repo_cache: RepoCache | None = None,
    ):
        self.config = config
        self.cache_dir = Path(cache_dir).absolute()  # worktrees and builds run in other folders
        self.repo_source = repo_source
        self.repos = repo_cache or RepoCache(self.cache_dir, repo_source)
        self.envs = EnvManager(config, self.cache_dir, self.repos)
        self.worktrees = owned_dir(self.cache_dir / "worktrees")  # swept when this process is gone
        self.standins = StandIns(self.cache_dir)
        self._warned: set[str] = set()
        self._gold_locks: dict[str, anyio.Lock] = {}

    async def preflight(self, instances: list[SWEInstance]) -> list[str]:
        """One line per missing tool, unknown spec, missing interpreter or unreachable mirror."""
        problems: list[str] = []
        for tool, fix in (("git", "apt-get install git"), ("patch", "apt-get install patch")):
            if shutil.which(tool) is None:
                problems.append(f"{tool} not found on PATH; install it (`{fix}`)")
        if self.config.use_uv and uv_binary() is None:
            problems.append(
                "uv not found on PATH: environments would be built with venv+pip and without era "
                "pinning; install it (`pip install uv`) or set use_uv: false"
            )
        problems += await self.envs.spec_problems(instances)
        return list(dict.fromkeys(problems))

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        """Evaluate one patch; a failed environment raises InfraError, a bad patch is a result."""
        result = await self._evaluate(request)
        if self.config.gold_validation and result.error_class is None:
            gold = await self.validate_gold(swe_row(request))
            tested = set(request.instance.PASS_TO_PASS) | set(
                request.fail_to_pass
                if request.fail_to_pass is not None
                else request.instance.FAIL_TO_PASS
            )
            result.env_broken = sorted(set(gold.broken) & tested)
            if result.env_broken:
                shown = ", ".join(result.env_broken[:3])
                more = (
                    f" and {len(result.env_broken) - 3} more" if len(result.env_broken) > 3 else ""
                )
                result.detail += (
                    f"; environment-broken (fail with the gold patch too): {shown}{more}"
                )
        return result

    async def validate_gold(self, instance: SWEInstance) -> GoldValidation:
        """Run the gold patch in this instance's environment once and remember what it cannot pass."""
        key = self.envs.key(instance)
        record = self.envs.root / key / "gold" / f"{safe_name(instance.instance_id)}.json"
        async with self._gold_locks.setdefault(f"{key}/{instance.instance_id}", anyio.Lock()):
            if record.exists():
                return GoldValidation.model_validate_json(record.read_text())
            log_dir = self.envs.root / key / "gold" / safe_name(instance.instance_id)
            result = await self._evaluate(
                EvalRequest(instance=instance, patch=instance.patch, log_dir=log_dir, key="gold")
            )
            gold = GoldValidation(
                instance_id=instance.instance_id,
                env_key=key,
                resolved=result.resolved,
                broken=sorted(result.fail_to_pass.failure + result.pass_to_pass.failure),
                error_class=result.error_class,
            )
            if result.error_class is None:
                record.write_text(gold.model_dump_json(indent=2))
            return gold

    async def aclose(self) -> None:
        """Stop the stand-in servers; remove this process's worktrees folder if empty."""
        await self.standins.aclose()
        remove_if_empty(self.worktrees)

    async def _evaluate(self, request: EvalRequest) -> EvalResult:
        started = time.monotonic()
        instance = swe_row(request)
        if (refusal := screen(request, started)) is not None:
            return refusal
        try:
            env, _ = await self.envs.get(instance)
        except ConfigError as exc:
            raise InfraError(f"{instance.instance_id}: {exc}") from None
        worktree = self.worktrees / f"{safe_name(instance.instance_id)}-{uuid.uuid4().hex[:8]}"
        keep = False
        try:
            await self.repos.checkout(instance.repo, instance.base_commit, worktree)
            await self._prepare_worktree(env, worktree)
            if problems := check_patch_targets(request.patch or "", worktree):
                return refused(problems, started)
            overlay = await self._overlay(env, instance, worktree)
            setup_s = time.monotonic() - started
            workspace = _HostWorkspace(
                env, worktree, Path(request.log_dir), self.config.verify_imports, overlay
            )
            venvs = [env.venv, *([overlay.folder] if overlay else [])]
            workspace.scope, variables = await self._scope(instance, worktree, venvs)
            workspace.run_env |= variables
            result = await run_eval(
                request, workspace, eval_steps=env.eval_steps, test_timeout_s=self.config.test_timeout_s
            )
            result.setup_s = setup_s
            result.duration_s = time.monotonic() - started
            keep = self.config.keep_failed and not result.resolved
            return result
        except BaseException:
            keep = self.config.keep_failed
            raise
        finally:
            if not keep:
                shutil.rmtree(worktree, ignore_errors=True)
                shutil.rmtree(worktree.with_name(worktree.name + ".venv"), ignore_errors=True)
                shutil.rmtree(worktree.with_name(worktree.name + ".scope"), ignore_errors=True)
                remove_if_empty(self.worktrees)  # git makes it again for the next worktree

    async def _scope(
        self, instance: SWEInstance, worktree: Path, venvs: list[Path]
    ) -> tuple[Scope | None, dict[str, str]]:
        """The test run's own scope (scope.py) and the variables pointing its tests at their
        stand-ins, when the host can make one and the tests need it: the repository has stand-ins,
        or the spec asks for CPUs. Otherwise no scope, and stand-ins on a loopback port."""
        cpus = float(get_spec(instance.repo, instance.version).get("nano_cpus") or 0) / 1e9
        if not (instance.repo in STANDINS or cpus > 0):
            return None, {}
        problem = scope_problem() if self.config.test_scope == "auto" else "test_scope is never"
        if problem is not None:
            if self.config.test_scope == "auto" and instance.repo not in self._warned:
                self._warned.add(instance.repo)
                log.warning("%s: %s", instance.repo, problem)
            return None, await self.standins.variables(instance.repo)
        plan, variables = await self.standins.scope_plan(instance.repo)
        plan.cpus = cpus
        if plan.empty:
            return None, variables
        if plan.ca_bundle:
            plan.trust_files = await anyio.to_thread.run_sync(ca_files, worktree, venvs)
        return Scope(plan, worktree.with_name(worktree.name + ".scope")), variables

    async def _overlay(
        self, env: Environment, instance: SWEInstance, worktree: Path
    ) -> Overlay | None:
        """An overlay with the worktree's project installed at its base commit, when the install
        there differs from the environment's (install_at_base), else None."""
        mode = self.config.install_at_base
        install = env.install or get_spec(instance.repo, instance.version).get("install")
        if mode == "never" or not install or not pip_install_target(install):
            return None
        if mode == "auto":  # the checkout has fetched base_commit; the build, setup_commit
            bare = await self.repos.ensure(instance.repo, instance.setup_commit)
            if not await install_differs(bare, instance.setup_commit, instance.base_commit):
                return None
        overlay = Overlay(env, worktree.with_name(worktree.name + ".venv"), install)
        scm = await self.repos.scm_version(instance.repo, instance.base_commit)
        await overlay.create(worktree, scm, self.config.install_timeout_s)
        return overlay

    async def _prepare_worktree(self, env: Environment, worktree: Path) -> None:
        """Replay the spec's repo-local pre_install edits and commit them, as the harness's image
        does; then give the worktree the files the install generated (envs.generated_files)."""
        await self._replay_pre_install(env, worktree)
        await anyio.to_thread.run_sync(give_generated, env, worktree)

    async def _replay_pre_install(self, env: Environment, worktree: Path) -> None:
        if env.repo_steps:
            result = await run_command(
                steps_script(env.repo_steps), cwd=worktree, env=safe_environ(env.run_env()),
                inherit_env=False, timeout=600,
            )
            if result.exit_code != 0:
                raise InfraError(
                    f"pre_install steps failed in the worktree: {result.output[-400:]}"
                )
            await git("add", "-A", cwd=worktree)
            await git(
                "commit",
                "--quiet",
                "--allow-empty",
                "--no-verify",
                "-m",
                "ramp: pre_install",
                cwd=worktree,
            )


def ca_files(worktree: Path, venvs: list[Path]) -> list[Path]:
    """The CA bundles a checkout and its environments ship (requests' ``cacert.pem``, certifi's)."""
    shipped = [f for venv in venvs for f in venv.glob("lib/python*/site-packages/certifi/cacert.pem")]
    return [*worktree.glob("*/cacert.pem"), *shipped]


def give_generated(env: Environment, worktree: Path) -> None:
    """Link (or copy) into ``worktree`` each generated file it lacks, from the env's checkout."""
    source = Path(env.build_dir) / "src"
    for relative in env.generated:
        target = worktree / relative
        if target.exists() or not (source / relative).is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / relative, target)
        except OSError:
            shutil.copy2(source / relative, target)


class _HostWorkspace:
    """The local evaluator's evalsteps.Workspace: a worktree on the host, tested in the env's venv."""

    def __init__(
        self,
        env: Environment,
        worktree: Path,
        log_dir: Path,
        verify_imports: bool,
        overlay: Overlay | None = None,
    ):
        self.env = env
        self.worktree = worktree
        self.root = str(worktree)
        self.log_dir = log_dir
        self.verify_imports = verify_imports
        self.overlay = overlay
        self.run_env = overlay.run_env(worktree) if overlay else env.run_env(worktree)
        self.python = overlay.python if overlay else env.python
        self.scope: Scope | None = None

    async def shell(self, command: str) -> CommandResult:
        return await run_command(command, cwd=self.worktree, timeout=600)

    async def stage(self, name: str, text: str) -> str:
        path = self.log_dir / name
        path.write_text(text)
        return str(path)

    async def run_tests(self, script: str, timeout: float, log_file: Path) -> CommandResult:
        if self.scope is None:
            return await run_command(
                script, cwd=self.worktree, env=safe_environ(self.run_env), inherit_env=False,
                timeout=timeout, log_file=log_file,
            )  # fmt: skip
        scope = self.scope
        prefix, variables = await anyio.to_thread.run_sync(scope.enter)
        try:
            result = await run_command(
                [*prefix, "/bin/bash", "-c", script], cwd=self.worktree, env=safe_environ(self.run_env | variables),
                inherit_env=False, timeout=timeout, log_file=log_file,
            )  # fmt: skip
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(scope.leave)
        if result.exit_code == SCOPE_FAILED and (line := scope_failure(result.output)):
            raise InfraError(f"{self.env.key}: the tests' scope could not be made: {line}")
        return result

    async def check_program(self, program: str) -> None:
        venvs = [*([self.overlay.folder] if self.overlay else []), self.env.venv]
        if not any((folder / "bin" / program).exists() for folder in venvs):
            raise InfraError(missing_program(self.env.key, self.env.venv, program))
        sites = [str(site) for venv in venvs for site in venv.glob("lib/python*/site-packages")]
        self.run_env["PYTHONPATH"] = site_path(program, sites, self.run_env.get("PYTHONPATH", ""))

    async def check_imports(self) -> None:
        env, worktree = self.env, self.worktree
        if not (self.verify_imports and env.layout.top_level):
            return
        names = [
            n
            for n in env.layout.top_level
            if any(
                (worktree / r / n).exists() or (worktree / r / f"{n}.py").exists()
                for r in env.layout.roots
            )
        ]
        if not names:
            return
        check = await run_command(
            [str(self.python), "-c", import_check_script(), *names],
            cwd=worktree,
            env=safe_environ(self.run_env),
            inherit_env=False,
            timeout=120,
        )
        try:
            report = json.loads(check.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise InfraError(f"import check failed in {env.key}: {check.output[-400:]}") from None
        if wrong := misplaced_imports(report, worktree):
            raise InfraError(
                f"{env.key}: the worktree's code would not be the code tested ({', '.join(wrong)}); "
                f"PYTHONPATH={self.run_env['PYTHONPATH']}"
            )
