"""``swebench-docker``: the official harness's steps and verdict, inside containers.

Each evaluation gets a fresh container from its target image (docker_backend.py): the official
SWE-bench image when a registry answers, else the environment image Ramp built for the instance's
(repo, version) (docker_envs.py), with the repository copied to /testbed at base_commit from the
host's repo cache. Tests run with ``--network none`` and with memory, CPU and pids limits; anything
that needs PyPI happened earlier, in the image build. The steps after setup (model patch with the
official fallbacks, test files reset, test patch, the spec's test command, the harness-shaped log,
swebench's grading) are evalsteps.run_eval, shared with the local evaluator, so both give the same
per-test verdicts.

A patch naming a path outside the repository is refused from its text before any container starts
(patching.check_patch_paths); inside the container a patch can only ever touch the container. The
container is removed in a shielded ``finally``; one left by a killed process carries the owner
label and is reaped at the next start.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..core.errors import InfraError
from ..datasets.rows import SWEInstance
from ..datasets.specs import get_spec
from ..docker.base import DEFAULT_TAG
from ..docker.client import labels
from ..docker.containers import Limits, running
from ..docker.workspace import WORKDIR, copy_repo
from ..workspace.repos import RepoCache
from .base import EvalRequest, EvalResult
from .buildconfig import EvaluatorConfig
from .docker_backend import ContainerWorkspace, DockerBackend
from .evalsteps import run_eval, screen, swe_row


def spec_limits(limits: Limits, spec: dict[str, Any]) -> Limits:
    """The container's limits, with at least the CPUs the spec asks for: pylint 2.15's spec sets
    ``nano_cpus`` to 2 cores, and three of its tests skip ("need 2 or more cores") below that."""
    wanted = float(spec.get("nano_cpus") or 0) / 1e9
    return dataclasses.replace(limits, cpus=wanted) if wanted > limits.cpus else limits


class DockerEvaluatorConfig(EvaluatorConfig):
    """Settings of the docker evaluator (and of the docker sandbox, which shares its images)."""

    base_image: str = Field(
        default=DEFAULT_TAG,
        description="The local base image environment images are built from; build it offline with "
        "`python -m engine.docker.base --tag TAG` (debootstrap + docker import).",
    )
    prebuilt: Literal["auto", "never"] = Field(
        default="auto",
        description="auto: use the official SWE-bench image of an instance when it is present or the "
        "registry answers (checked once, cached), else build locally; never: always build locally.",
    )
    prebuilt_namespace: str = Field(
        default="swebench",
        description="Namespace of the official images (swebench 4.1's TestSpec names them "
        "<namespace>/sweb.eval.x86_64.<instance>:latest).",
    )
    registry: str = Field(
        default="registry-1.docker.io",
        description="Registry host asked (GET /v2/) whether the official images can be pulled.",
    )
    registry_timeout_s: float = Field(
        default=3.0, gt=0, description="How long the registry check waits before deciding 'offline'."
    )
    memory: str = Field(
        default="4g", description="Memory limit of each evaluation or sandbox container (no swap)."
    )
    cpus: float = Field(default=2.0, gt=0, description="CPU limit of each container, in cores.")
    pids: int = Field(
        default=1024, ge=16, description="Process limit of each container (stops fork bombs)."
    )
    build_network: str = Field(
        default="bridge",
        description="Docker network of image builds, which need PyPI ('host' shares the host's).",
    )
    ca_bundle: Path | None = Field(
        default=Path("/etc/ssl/certs/ca-certificates.crt"),
        description="Host CA bundle mounted into build containers (for a TLS-intercepting proxy); "
        "None to use the image's own.",
    )
    image_budget_gb: float = Field(
        default=50.0,
        gt=0,
        description="Disk Ramp's images may hold; past it the least recently used environment "
        "images are removed.",
    )
    min_free_disk_gb: float = Field(
        default=5.0, ge=0, description="Preflight fails below this much free space in docker's root."
    )


class DockerEvaluator:
    """Evaluates patches in containers; implements evaluators.base.Evaluator."""

    name = "swebench-docker"
    Config = DockerEvaluatorConfig

    def __init__(
        self,
        config: DockerEvaluatorConfig,
        *,
        cache_dir: Path,
        repo_source: str,
        repo_cache: RepoCache | None = None,
    ):
        self.config = config
        self.repos = repo_cache or RepoCache(Path(cache_dir), repo_source)
        self.backend = DockerBackend(config, Path(cache_dir), self.repos)

    async def preflight(self, instances: list[SWEInstance]) -> list[str]:
        """The daemon, base image, disk, and every spec's Python, each named with its fix."""
        return await self.backend.preflight(instances)

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        """Evaluate one patch in a fresh container; a failed environment raises InfraError."""
        from docker.errors import DockerException

        started = time.monotonic()
        if (refusal := screen(request, started)) is not None:
            return refusal
        try:
            return await self._evaluate(request, started)
        except DockerException as exc:
            raise InfraError(f"{request.instance.instance_id}: docker: {exc}") from None

    async def _evaluate(self, request: EvalRequest, started: float) -> EvalResult:
        instance = swe_row(request)
        client = await self.backend.connect()
        target = await self.backend.target(instance, request.run_id)
        self.backend.images.touch(target.image)
        container_labels = labels("eval", request.run_id, **{"ramp.instance": instance.instance_id})
        async with running(
            client, target.image, labels=container_labels, network="none",
            limits=spec_limits(self.backend.limits, get_spec(instance.repo, instance.version)),
            workdir=WORKDIR,
        ) as box:  # fmt: skip
            workspace = ContainerWorkspace(box, target, Path(request.log_dir), self.config.verify_imports)
            if not target.official:
                await copy_repo(box, self.repos, instance.repo, instance.base_commit, self.backend.scratch)
                await workspace.pre_install()
            setup_s = time.monotonic() - started
            eval_steps = (
                list(get_spec(instance.repo, instance.version).get("eval_commands", []))
                if target.env is None
                else target.env.eval_steps
            )
            result = await run_eval(
                request, workspace, eval_steps=eval_steps, test_timeout_s=self.config.test_timeout_s,
            )  # fmt: skip
        result.setup_s = setup_s
        result.duration_s = time.monotonic() - started
        return result

    async def aclose(self) -> None:
        """Containers are removed as each evaluation ends; nothing else stays open."""
