"""Environment images: the local evaluator's environment build, run inside a build container.

One image per (repo, version) key, built by the very code that builds the local evaluator's venvs
(envs.py: era pinning, requirement files read from the local clone, the spec's install with pip
under era constraints), so both evaluators test against the same dependency versions. Only where
the commands run changes: every build step is a ``docker exec`` in a build container started from
the spec's Python image (images.py), on a network that reaches PyPI (the host's CA bundle and
pip.conf mounted in, for a TLS-intercepting proxy), never on the host. Setup code from the
repository therefore runs in the container.

The host folders the build reads and writes are bind-mounted at the *same* paths (the build
folder, the bare clones, uv and uv's cache), so envs.py's host-side steps (writing requirement
files, finding the import layout in site-packages) work unchanged. When the build succeeds, the
folder (venv and checkout) is committed into the image at that same path, the environment record
is stored in the image's ``ramp.env`` label, and the host copy is deleted: the image is the cache.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.proc import CommandResult
from ..datasets.rows import SWEInstance
from ..datasets.specs import get_spec
from ..docker.client import call, labels
from ..docker.containers import Box, running
from ..docker.images import ImageStore, python_problem
from ..workspace.pythons import uv_binary
from ..workspace.repos import RepoCache
from .buildsteps import Runner
from .envs import Environment, EnvManager
from .testenv import PINNED_TEST_ENV

if TYPE_CHECKING:
    from .docker import DockerEvaluatorConfig

ENV_REPO = "ramp/env"
#: The image label holding the environment record (env.json).
LABEL_ENV = "ramp.env"
#: Where the host's CA bundle is mounted, and what TLS clients in the container are told to read.
CA_PATH = "/etc/ssl/certs/ca-certificates.crt"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Host variables that describe the host's file system, not the container's.
_HOST_ONLY = ("PATH", "HOME", "TMPDIR", "PYENV_ROOT", "USER", "SSL_CERT_DIR", "PIP_FIND_LINKS")


def env_tag(key: str) -> str:
    """The image tag of environment ``key`` (tags allow [A-Za-z0-9_.-], 128 characters)."""
    return f"{ENV_REPO}:{re.sub(r'[^A-Za-z0-9_.-]', '.', key)[-128:]}"


def run_env(env: Environment, workdir: str) -> dict[str, str]:
    """Variables that activate the image's venv, with ``workdir``'s code first on PYTHONPATH."""
    return {
        "VIRTUAL_ENV": str(env.venv),
        "PATH": f"{env.venv / 'bin'}:{CONTAINER_PATH}",
        "PYTHONPATH": env.layout.pythonpath(Path(workdir)),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **PINNED_TEST_ENV,
    }


class DockerEnvManager(EnvManager):
    """Finds or builds the environment image of an instance (see the module docstring)."""

    def __init__(
        self, config: DockerEvaluatorConfig, cache_dir: Path, repos: RepoCache, images: ImageStore
    ):
        super().__init__(config, Path(cache_dir) / "docker", repos)
        self.docker_config = config
        self.images = images
        self.uv_cache = Path(cache_dir) / "docker" / "uv-cache"
        #: The run whose evaluation or sandbox asked for the build (labels of the build and image).
        self.run_id = ""
        if config.use_uv:
            self.uv = uv_binary()

    async def _ready(self, key: str) -> Environment | None:
        from docker.errors import ImageNotFound

        try:
            image = await call(self.images.client.images.get, env_tag(key))
        except ImageNotFound:
            return None
        record = (image.labels or {}).get(LABEL_ENV)
        return Environment.model_validate_json(record) if record else None

    def python_problem(self, version: str) -> str | None:
        return python_problem(version, list(self.config.python_finders))

    async def _interpreter(self, version: str) -> Path:
        return Path((await self.images.python(version))[1])

    async def _build(self, key: str, instance: SWEInstance) -> Environment:
        started = time.monotonic()
        spec = get_spec(instance.repo, instance.version)
        python_image, _ = await self.images.python(str(spec.get("python", "3.11")))
        home, build = self._new_build(key)
        folder = build.folder
        self.repos.root.mkdir(parents=True, exist_ok=True)
        self.uv_cache.mkdir(parents=True, exist_ok=True)
        try:
            async with running(
                self.images.client, python_image, labels=labels("build", self.run_id),
                network=self.docker_config.build_network, mounts=self._mounts(folder),
            ) as box:  # fmt: skip
                build.runner = self._runner(box)  # the steps run in the build container
                env = await self._run_build(build, key, instance, spec)
            env.build_s = time.monotonic() - started
            image_labels = labels("env", self.run_id, **{LABEL_ENV: env.model_dump_json()})
            await self.images.commit_tree(python_image, folder, env_tag(key), image_labels)
        except BaseException:
            if (folder / "build.log").exists():
                shutil.copyfile(folder / "build.log", home / "last-failure.log")
            if not self.config.keep_failed:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        await self.images.enforce_budget(keep={env_tag(key)})
        return env

    def _mounts(self, folder: Path) -> list[Any]:
        from docker.types import Mount

        def bind(path: Path | str, read_only: bool, target: str | None = None) -> Any:
            return Mount(target or str(path), str(path), type="bind", read_only=read_only)

        mounts = [bind(folder, False), bind(self.repos.root, True), bind(self.uv_cache, False)]
        if self.uv:
            mounts.append(bind(self.uv, True))
        ca = self.docker_config.ca_bundle
        if ca is not None and ca.is_file():
            mounts.append(bind(ca, True, CA_PATH))
        if Path("/etc/pip.conf").is_file():
            mounts.append(bind("/etc/pip.conf", True))
        return mounts

    def _container_env(self, env: dict[str, str]) -> dict[str, str]:
        kept = {k: v for k, v in env.items() if k not in _HOST_ONLY}
        venv = kept.get("VIRTUAL_ENV")
        kept |= {
            "PATH": (f"{venv}/bin:" if venv else "") + CONTAINER_PATH,
            "HOME": "/root",
            "UV_CACHE_DIR": str(self.uv_cache),
            "UV_LINK_MODE": "copy",  # the cache and the venv are different mounts
        }
        ca = self.docker_config.ca_bundle
        if ca is not None and ca.is_file():
            kept |= {"SSL_CERT_FILE": CA_PATH, "PIP_CERT": CA_PATH, "REQUESTS_CA_BUNDLE": CA_PATH}
        return kept

    def _runner(self, box: Box) -> Runner:
        async def run(
            command: str | list[str],
            *,
            cwd: Path | None = None,
            env: dict[str, str] | None = None,
            timeout: float | None = None,
            log_file: Path | None = None,
            inherit_env: bool = False,
        ) -> CommandResult:
            # The container's environment is the image's, never the host's: inherit_env is moot.
            return await box.exec(
                command, cwd=str(cwd) if cwd else None, env=self._container_env(env or {}),
                timeout=timeout, log_file=log_file,
            )  # fmt: skip

        return run


