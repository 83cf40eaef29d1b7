"""One virtualenv per (repo, version), built once, shared by every evaluation and every run.

Why shared: installing a SWE-bench repo's dependencies takes seconds to minutes, and a 300-instance
run has a handful of (repo, version) pairs. The environment lives under ``cache_dir/envs/<key>/``;
the key hashes everything that shapes it (repo, version, spec, setup commit, era pinning, installer),
so changing any of them builds a new one instead of reusing a stale one.

Why built the way it is:

- **Never half-built.** A build happens in a fresh ``build-<id>/`` folder under an in-process lock
  and a cross-process ``flock``, and only a successful build writes ``env.json`` (atomically) naming
  that folder. Anything without ``env.json`` is debris, removed by the next build. A venv cannot be
  moved after it is built (its scripts hold absolute paths), hence a pointer instead of a rename.
- **As of the task's era** (era.py): every uv resolution excludes uploads newer than the
  environment_setup_commit (or its Python's first bugfix release, if later); the spec's pins win.
- **The spec's install runs with pip, as written.** ``install`` is usually ``python -m pip install
  -e .``; old setuptools only support editables through ``setup.py develop``, which uv does not do.
  So uv first resolves the project's dependencies at the era and installs them; pip then runs the
  command with ``-c <everything installed>`` added, so it only adds what is missing, and its
  isolated builds are held to the era's pip/setuptools/wheel through ``PIP_CONSTRAINT``.
- **Requirement files come from the local clone** (requirements.py), never from the network.
- **No host changes** (steps.py): steps needing root or the network are skipped and recorded.
- **Failures are infra errors** carrying the tail of ``build.log``, and a failed key is not rebuilt:
  not by the same evaluator (50 instances of a broken environment fail fast), and not by later runs
  either, through ``failed.json``, unless the failure looked transient (the network, the disk) or
  ``retry_failed_builds`` is on. Its inputs changing makes a new key, which is built afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import BaseModel, Field

from ..core import progress
from ..core.errors import ConfigError, InfraError
from ..datasets.rows import SWEInstance
from ..datasets.specs import get_spec
from ..workspace.locks import file_lock
from ..workspace.pythons import find_python, missing_python_message, uv_binary
from ..workspace.repos import RepoCache
from .buildsteps import BuildSteps, venv_env
from .era import (
    TOOLS,
    commit_era,
    environment_era,
    exclude_newer_args,
    pinned_name,
)
from .imports import ImportLayout, find_layout
from .projectinstall import install_project
from .requirements import spec_requirements
from .steps import split_steps, steps_script
from .testenv import PINNED_TEST_ENV, generated_files

if TYPE_CHECKING:
    from .buildconfig import EnvBuildConfig

#: Bump when the build recipe changes in a way that invalidates existing environments.
RECIPE = 8
#: Bump when only the build of a conda file's packages (a spec's ``environment.yml``) changes, so
#: that only those environments are built again. 2: namespace packages judged by their modules.
CONDA_FILE_RECIPE = 2


class Environment(BaseModel):
    """A built environment, as recorded in ``env.json``."""

    key: str
    repo: str
    version: str
    setup_commit: str
    python_version: str
    interpreter: str = Field(description="The base interpreter the venv was made from.")
    build_dir: str
    installer: Literal["uv", "pip"]
    era: str | None = Field(description="The --exclude-newer cutoff, or None without era pinning.")
    layout: ImportLayout
    install: str | None = Field(default=None, description="The spec's install command.")
    repo_steps: list[str] = Field(
        default_factory=list, description="pre_install steps rerun per worktree."
    )
    eval_steps: list[str] = Field(
        default_factory=list, description="eval_commands run before the tests."
    )
    skipped_steps: list[str] = Field(
        default_factory=list, description="Host-changing steps not run."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Where the build departed from the era."
    )
    generated: list[str] = Field(
        default_factory=list,
        description="Files the install generated inside the package (setuptools_scm's _version.py, "
        "compiled extensions), relative to the checkout; given to each worktree that lacks them.",
    )
    build_s: float = 0.0

    @property
    def venv(self) -> Path:
        return Path(self.build_dir) / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run_env(self, worktree: Path | None = None) -> dict[str, str]:
        """Variables that activate the venv; with a worktree, its code shadows the installed one.
        Time zone, locale and hash seed are pinned, as in the official images, so a test that
        depends on them gives the same verdict on every host."""
        env = venv_env(self.venv) | PINNED_TEST_ENV
        if worktree is not None:
            env["PYTHONPATH"] = self.layout.pythonpath(worktree)
        return env


#: Failures worth trying again later: the network, the disk, a killed build.
_TRANSIENT = re.compile(
    r"dns error|error sending request|connection (?:refused|reset|aborted)|timed out|temporary "
    r"failure|network is unreachable|no space left|could not fetch|cannot reach|killed",
    re.I,
)


class EnvManager:
    """Finds or builds the environment of an instance; safe for concurrent callers and processes."""

    def __init__(self, config: EnvBuildConfig, cache_dir: Path, repos: RepoCache):
        self.config = config
        self.root = Path(cache_dir).absolute() / "envs"
        self.repos = repos
        self.uv = uv_binary() if config.use_uv else None
        #: Environments this manager built (not found ready), for reports and tests.
        self.builds = 0
        self._locks: dict[str, anyio.Lock] = {}
        self._failed: dict[str, InfraError] = {}

    def key(self, instance: SWEInstance) -> str:
        """The folder name of the instance's environment; raises ConfigError for an unknown spec."""
        spec = get_spec(instance.repo, instance.version)
        conda_file = [CONDA_FILE_RECIPE] if spec.get("packages") == "environment.yml" else []
        material = json.dumps(
            [RECIPE, instance.repo, instance.version, instance.setup_commit, spec,
             self.config.era_pinning, self.config.exclude_newer_exempt, bool(self.uv), *conda_file],
            sort_keys=True,
            default=str,
        )  # fmt: skip
        digest = hashlib.sha256(material.encode()).hexdigest()[:12]
        return f"{instance.repo.replace('/', '+')}__{instance.version}__{digest}"

    async def _ready(self, key: str) -> Environment | None:
        """The finished environment ``key``, or None (the docker builder looks for its image)."""
        try:
            env = Environment.model_validate_json((self.root / key / "env.json").read_text())
        except (OSError, ValueError):
            return None
        return env if env.python.exists() else None

    async def get(self, instance: SWEInstance) -> tuple[Environment, bool]:
        """The environment for ``instance`` and whether this call built it."""
        key = self.key(instance)
        if env := await self._ready(key):
            return env, False
        lock = self._locks.setdefault(key, anyio.Lock())
        if lock.locked():
            await progress.report("env wait", f"waiting for environment {key}, which another attempt is building")
        async with lock:
            if key in self._failed:
                raise self._failed[key]
            async with file_lock(self.root / f"{key}.lock"):
                if env := await self._ready(key):
                    return env, False
                if (known := self.known_failure(key)) and not self.config.retry_failed_builds:
                    self._failed[key] = known
                    raise known
                try:
                    env = await self._build(key, instance)
                except InfraError as exc:
                    if self._remember_failure(key, exc):  # a fetch or a network error may pass: retried
                        self._failed[key] = exc
                    raise
                (self.root / key / "failed.json").unlink(missing_ok=True)
                self.builds += 1
                return env, True

    def known_failure(self, key: str) -> InfraError | None:
        """The remembered failure of the last build of ``key``, or None."""
        try:
            record = json.loads((self.root / key / "failed.json").read_text())
        except (OSError, ValueError):
            return None
        first, _, rest = str(record["error"]).partition("\n")
        return InfraError(
            f"remembered from a build at {record['at']}: {first}\n{rest}\n(its inputs have not "
            "changed. To build it again: ramp validate --rebuild-failed, or set "
            "evaluators.local.retry_failed_builds (or evaluators.docker's) to true, or delete "
            f"{self.root / key / 'failed.json'})"
        )

    def _remember_failure(self, key: str, exc: InfraError) -> bool:
        """Keep a build step's failure for later runs (and this one); whether it was kept. Not a
        missing interpreter, a source that could not be fetched or is incomplete (fixed outside
        the key's inputs), nor one that looked transient."""
        if not str(exc).startswith(f"environment {key}:") or _TRANSIENT.search(str(exc)):
            return False
        record = {"error": str(exc), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        partial = self.root / key / "failed.json.partial"
        partial.write_text(json.dumps(record, indent=2))
        os.replace(partial, self.root / key / "failed.json")
        return True

    def _new_build(self, key: str) -> tuple[Path, BuildSteps]:
        """The environment's home, cleared of earlier builds' debris, and the steps of a new build
        in a fresh folder under it (run on the host unless the caller sets ``runner``)."""
        home = self.root / key
        for debris in home.glob("build-*"):
            shutil.rmtree(debris, ignore_errors=True)
        folder = home / f"build-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return home, BuildSteps(
            folder,
            label=key,
            uv=self.uv,
            timeout_s=self.config.install_timeout_s,
            tail_lines=self.config.log_tail_lines,
            failure_log=home / "last-failure.log",
        )

    async def _build(self, key: str, instance: SWEInstance) -> Environment:
        started = time.monotonic()
        home, build = self._new_build(key)
        folder = build.folder
        try:
            env = await self._run_build(
                build, key, instance, get_spec(instance.repo, instance.version)
            )
        except BaseException:
            if build.log.exists():
                shutil.copyfile(build.log, home / "last-failure.log")
            if not self.config.keep_failed:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        env.build_s = time.monotonic() - started
        marker = home / "env.json"
        partial = marker.with_suffix(".json.partial")
        partial.write_text(env.model_dump_json(indent=2))
        os.replace(partial, marker)
        return env

    async def _run_build(
        self, build: BuildSteps, key: str, instance: SWEInstance, spec: dict[str, Any]
    ) -> Environment:
        version = str(spec.get("python", "3.11"))
        interpreter = await self._interpreter(version)
        build.compile_bytecode = tuple(int(x) for x in version.split(".")[:2] if x.isdigit()) >= (3, 7)
        bare = await self.repos.ensure(instance.repo, instance.setup_commit)
        era = (
            environment_era(await commit_era(bare, instance.setup_commit), version)
            if self.config.era_pinning
            else None
        )
        if era and not self.uv:
            build.warnings.append(
                "era pinning needs uv (`pip install uv`); resolved at today's versions"
            )
            era = None
        requirements = await spec_requirements(spec, bare, instance.repo, instance.setup_commit)
        pins = [*requirements, *spec.get("pip_packages", [])]
        if era:
            build.exclude_args = exclude_newer_args(era, self.config.exclude_newer_exempt, pins)
            build.era_only = exclude_newer_args(era, self.config.exclude_newer_exempt)
        build.note(
            f"# {instance.repo} {instance.version} @ {instance.setup_commit}\n# {interpreter}, era {era}"
        )

        tool_pins = {
            pinned_name(req): req for req in spec.get("pip_packages", []) if pinned_name(req)
        }
        if self.uv:
            await build.step(
                "venv",
                [self.uv, "venv", "--no-config", "--python", str(interpreter), str(build.venv)],
            )
        else:
            await build.step("venv", [str(interpreter), "-m", "venv", str(build.venv)])
        await build.install("tools", [tool_pins.get(tool, tool) for tool in TOOLS])
        if requirements:
            (build.folder / "packages.txt").write_text("\n".join(requirements) + "\n")
            await build.install("packages", ["-r", str(build.folder / "packages.txt")])
            if spec.get("packages") == "environment.yml":
                await build.drop_unimportable(requirements)
        if spec.get("pip_packages"):
            await build.install("pip_packages", list(spec["pip_packages"]))

        checkout = await self.repos.checkout(
            instance.repo, instance.setup_commit, build.folder / "src"
        )
        repo_steps, skipped = split_steps(list(spec.get("pre_install", [])))
        if repo_steps:
            await build.step("pre_install", steps_script(repo_steps), cwd=checkout)
        if install := spec.get("install"):
            # The spec's pip_packages are installed after its requirement files and win over them
            # (flask 2.3: requirements pin markupsafe==2.1.2, pip_packages MarkupSafe==2.1.1).
            explicit = list({
                pinned_name(r): r for r in [*requirements, *spec.get("pip_packages", [])] if pinned_name(r)
            }.values())
            scm = await self.repos.scm_version(instance.repo, instance.setup_commit)
            await install_project(
                build, install, checkout, explicit, uv=bool(self.uv), scm_version=scm
            )
        if "pytest" in str(spec.get("test_cmd", "")):
            await build.install("pytest", ["pytest"])  # a no-op when the spec already brought it

        site_packages = next(build.venv.glob("lib/python*/site-packages"), None)
        if site_packages is None:
            raise build.failure(f"the venv at {build.venv} has no lib/python*/site-packages")
        layout = find_layout(site_packages, checkout)
        if install and not layout.roots:
            raise build.failure(
                f"after `{install}` nothing in the venv imports from the checkout, so worktrees cannot "
                "be tested through PYTHONPATH (see engine/evaluators/imports.py)"
            )
        build.note(f"\n# import roots {layout.roots}, top-level names {layout.top_level}")
        generated = await generated_files(checkout, layout)
        if generated:
            build.note(f"# generated by the install: {', '.join(generated[:20])}")
        eval_steps, skipped_eval = split_steps(list(spec.get("eval_commands", [])))
        return Environment(
            key=key,
            repo=instance.repo,
            version=instance.version,
            setup_commit=instance.setup_commit,
            python_version=version,
            interpreter=str(interpreter),
            build_dir=str(build.folder),
            installer="uv" if self.uv else "pip",
            era=era,
            layout=layout,
            install=install or None,
            repo_steps=repo_steps,
            eval_steps=eval_steps,
            skipped_steps=skipped + skipped_eval,
            warnings=build.warnings,
            generated=generated,
        )

    def python_problem(self, version: str) -> str | None:
        """What is missing to build with Python ``version``, or None (the docker builder overrides it)."""
        finders = list(self.config.python_finders)
        if find_python(version, finders) is not None:
            return None
        return missing_python_message(version, finders)

    async def spec_problems(self, instances: list[SWEInstance]) -> list[str]:
        """Preflight once per (repo, version): its spec is known and its Python can be had. One
        line each, naming the fix. (A repository without a source skips its rows: wiring.py.)"""
        first: dict[tuple[str, str], SWEInstance] = {}
        for instance in instances:
            first.setdefault((instance.repo, instance.version), instance)
        problems: list[str] = []
        pythons: dict[str, str | None] = {}
        for instance in first.values():
            try:
                version = str(get_spec(instance.repo, instance.version).get("python", "3.11"))
            except ConfigError as exc:
                problems.append(f"{instance.instance_id}: {exc}")
                continue
            if version not in pythons:
                pythons[version] = await anyio.to_thread.run_sync(self.python_problem, version)
            if pythons[version]:
                problems.append(f"{instance.repo} {instance.version}: {pythons[version]}")
        return problems

    async def _interpreter(self, version: str) -> Path:
        """The base interpreter of ``version`` the venv is made from (the docker builder overrides it)."""
        finders = list(self.config.python_finders)
        interpreter = await anyio.to_thread.run_sync(find_python, version, finders)
        if interpreter is None:
            raise InfraError(missing_python_message(version, finders))
        return interpreter
