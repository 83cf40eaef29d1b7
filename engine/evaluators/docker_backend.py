"""What the docker evaluator and the docker sandbox share: the daemon, the images, the targets.

A *target* is the image an instance runs in. With ``prebuilt: auto`` the official SWE-bench image
is used when it is present or a registry answers (prebuilt.py); otherwise, or for repositories
only Ramp knows, the locally built environment image of the instance's (repo, version)
(docker_envs.py), into which the repository is copied at base_commit. :class:`ContainerWorkspace`
is the evalsteps.Workspace of a container: commands run in /testbed with the target's environment
activated (the image's venv with /testbed first on PYTHONPATH, or the official conda env).

The first connection also reaps orphans: containers a crashed run left behind (hygiene.py), and
its stale repository snapshots.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..core.errors import ConfigError, InfraError
from ..core.proc import CommandResult
from ..datasets.rows import SWEInstance
from ..datasets.specs import ramp_registered
from ..docker.client import DockerUnavailable, call, connect
from ..docker.containers import Box, Limits
from ..docker.hygiene import reap_orphans
from ..docker.images import ImageStore, base_build_command, has_image
from ..docker.workspace import GIT_IDENTITY, WORKDIR
from ..workspace.repos import RepoCache
from ..workspace.scratch import owned_dir, sweep
from .docker_envs import DockerEnvManager, env_tag, run_env
from .envs import Environment
from .imports import import_check_script, misplaced_imports
from .prebuilt import ACTIVATE, official_image, registry_answers
from .steps import steps_script
from .testenv import missing_program, site_path

if TYPE_CHECKING:
    from .docker import DockerEvaluatorConfig

#: Prints which of argv[2:] exist under the roots in argv[1] (":"-separated) of /testbed.
_PRESENT = (
    "import os, sys\n"
    "roots = sys.argv[1].split(':')\n"
    "print(' '.join(n for n in sys.argv[2:] if any(os.path.exists(os.path.join('/testbed', r, n))"
    " or os.path.exists(os.path.join('/testbed', r, n + '.py')) for r in roots)))\n"
)


@dataclass(frozen=True)
class Target:
    """The image an instance runs in; ``env`` is None for an official image."""

    image: str
    env: Environment | None

    @property
    def official(self) -> bool:
        return self.env is None


class DockerBackend:
    """One daemon connection, Ramp's images, and the environment builder, created on first use."""

    def __init__(self, config: DockerEvaluatorConfig, cache_dir: Path, repos: RepoCache):
        self.config = config
        self.cache_dir = Path(cache_dir).absolute()  # bind mounts need absolute paths
        self.repos = repos
        self.scratch = owned_dir(self.cache_dir / "docker" / "scratch")
        self.limits = Limits(memory=config.memory, cpus=config.cpus, pids=config.pids)
        self.reaped: list[str] = []
        self._client: Any = None
        self._images: ImageStore | None = None
        self._envs: DockerEnvManager | None = None
        self._lock = anyio.Lock()

    async def connect(self) -> Any:
        """The daemon's client; the first call also removes crashed runs' containers."""
        async with self._lock:
            if self._client is None:
                client = await call(connect)
                self._images = ImageStore(
                    client, self.config.base_image, list(self.config.python_finders),
                    self.cache_dir / "docker" / "images", self.config.image_budget_gb,
                )  # fmt: skip
                self._envs = DockerEnvManager(self.config, self.cache_dir, self.repos, self._images)
                self.reaped = await reap_orphans(client)
                await anyio.to_thread.run_sync(sweep, self.scratch.parent)
                self._client = client
        return self._client

    @property
    def images(self) -> ImageStore:
        assert self._images is not None, "connect() first"
        return self._images

    @property
    def envs(self) -> DockerEnvManager:
        assert self._envs is not None, "connect() first"
        return self._envs

    async def preflight(self, instances: list[SWEInstance]) -> list[str]:
        """The daemon, the base image, free disk, uv, and each spec's Python and repo source."""
        try:
            client = await self.connect()
        except DockerUnavailable as exc:
            return [str(exc)]
        problems: list[str] = []
        base = self.config.base_image
        if not await has_image(client, base):
            problems.append(
                f"docker base image {base} not found; build it (offline, about a minute, needs root "
                f"and `apt-get install debootstrap`): `{base_build_command(base)}`"
            )
        root = (await call(client.info)).get("DockerRootDir", "/var/lib/docker")
        if Path(root).exists():
            free_gb = shutil.disk_usage(root).free / 2**30
            if free_gb < self.config.min_free_disk_gb:
                problems.append(
                    f"disk nearly full: {free_gb:.1f} GB free under {root} (docker's data root), "
                    f"below evaluators.docker.min_free_disk_gb={self.config.min_free_disk_gb:g}; "
                    "free space (`docker image prune`) or lower evaluators.docker.image_budget_gb"
                )
        if self.config.use_uv and self.envs.uv is None:
            problems.append("uv not found (`pip install uv`), or set evaluators.docker.use_uv: false")
        problems += await self.envs.spec_problems(instances)
        return list(dict.fromkeys(problems))

    async def target(self, instance: SWEInstance, run_id: str = "") -> Target:
        """The official image when it can be had, else the (built if needed) environment image.

        ``run_id`` labels a build this call starts (one backend serves one run).
        """
        client = await self.connect()
        self.envs.run_id = run_id or self.envs.run_id
        if self.config.prebuilt == "auto" and not ramp_registered(instance.repo):
            name = official_image(instance, self.config.prebuilt_namespace)
            if await has_image(client, name):
                return Target(name, None)
            if await registry_answers(self.config.registry, self.config.registry_timeout_s):
                from docker.errors import DockerException

                try:
                    await call(client.images.pull, name)
                    return Target(name, None)
                except DockerException:
                    pass  # not published for this instance: build it here
        try:
            env, _ = await self.envs.get(instance)
        except ConfigError as exc:
            raise InfraError(f"{instance.instance_id}: {exc}") from None
        return Target(env_tag(self.envs.key(instance)), env)


class ContainerWorkspace:
    """The evalsteps.Workspace of a container: /testbed, with the target's environment active."""

    root = WORKDIR

    def __init__(self, box: Box, target: Target, log_dir: Path | None, verify_imports: bool):
        self.box = box
        self.target = target
        self.log_dir = log_dir
        self.verify_imports = verify_imports
        self.vars = GIT_IDENTITY | (run_env(target.env, WORKDIR) if target.env else {})
        self.prefix = f"{ACTIVATE}\n" if target.official else ""

    async def exec(
        self, script: str, timeout: float | None = 600, log_file: Path | None = None
    ) -> CommandResult:
        return await self.box.exec(
            self.prefix + script, cwd=WORKDIR, env=self.vars, timeout=timeout, log_file=log_file
        )

    async def shell(self, command: str) -> CommandResult:
        return await self.exec(command)

    async def stage(self, name: str, text: str) -> str:
        if self.log_dir is not None:
            (self.log_dir / name).write_text(text)
        path = f"/tmp/ramp/{name}"
        await self.box.put_bytes(path, text.encode())
        return path

    async def run_tests(self, script: str, timeout: float, log_file: Path) -> CommandResult:
        return await self.exec(script, timeout=timeout, log_file=log_file)

    async def pre_install(self) -> None:
        """Replay the spec's repo-local pre_install edits and commit them, then give /testbed the
        files the install generated, as the local evaluator does."""
        env = self.target.env
        if env is None:
            return
        if env.repo_steps:
            result = await self.exec(steps_script(env.repo_steps))
            if result.exit_code != 0:
                raise InfraError(f"pre_install steps failed in the container: {result.output[-400:]}")
            await self.exec("git add -A && git commit --quiet --allow-empty --no-verify -m 'ramp: pre_install'")
        if env.generated:
            source = Path(env.build_dir) / "src"
            copies = [
                f"[ -e {shlex.quote(rel)} ] || {{ mkdir -p {shlex.quote(str(Path(rel).parent))} && "
                f"cp -p {shlex.quote(str(source / rel))} {shlex.quote(rel)}; }}"
                for rel in env.generated
            ]
            result = await self.exec("\n".join(["set -e", *copies]))
            if result.exit_code != 0:
                raise InfraError(f"could not copy generated files into /testbed: {result.output[-400:]}")

    async def check_program(self, program: str) -> None:
        env = self.target.env
        if env is None or self.target.official:
            return  # an official image's conda env is activated; its PATH is the image's own
        found = await self.exec(f"test -x {shlex.quote(str(env.venv / 'bin' / program))}")
        if found.exit_code != 0:
            raise InfraError(missing_program(env.key, env.venv, program))
        site = f"{env.venv}/lib/python{env.python_version}/site-packages"
        self.vars["PYTHONPATH"] = site_path(program, [site], self.vars.get("PYTHONPATH", ""))

    async def check_imports(self) -> None:
        env = self.target.env
        if env is None or not (self.verify_imports and env.layout.top_level):
            return
        python = str(env.python)
        present = await self.box.exec(
            [python, "-c", _PRESENT, ":".join(env.layout.roots), *env.layout.top_level],
            cwd=WORKDIR, env=self.vars, timeout=120,
        )  # fmt: skip
        names = present.output.split()
        if not names:
            return
        check = await self.box.exec(
            [python, "-c", import_check_script(), *names], cwd=WORKDIR, env=self.vars, timeout=120
        )
        try:
            report = json.loads(check.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise InfraError(f"import check failed in {env.key}: {check.output[-400:]}") from None
        if wrong := misplaced_imports(report, Path(WORKDIR)):
            raise InfraError(
                f"{env.key}: /testbed's code would not be the code tested ({', '.join(wrong)}); "
                f"PYTHONPATH={self.vars.get('PYTHONPATH')}"
            )
