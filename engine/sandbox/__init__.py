"""Sandboxes, by name. See base.Sandbox for the protocol.

``run.sandbox`` chooses one: ``local`` (a checkout on the host), ``docker`` (a container), or
``auto``, the default, which follows the evaluator: docker with the docker evaluator (the agent
then works in the image its patch will be tested in), local otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.registry import Registry

if TYPE_CHECKING:
    from ..core.config import Settings
    from ..workspace.repos import RepoCache
    from .base import SandboxFactory

SANDBOXES = Registry(
    "sandbox",
    {
        "local": "engine.sandbox.local:LocalSandboxFactory",
        "docker": "engine.sandbox.docker:DockerSandboxFactory",
    },
)

_DOCKER_EVALUATORS = ("docker", "swebench-docker")


def sandbox_name(settings: Settings) -> str:
    """The sandbox a run uses: ``run.sandbox``, with ``auto`` following the evaluator."""
    if settings.run.sandbox != "auto":
        return settings.run.sandbox
    return "docker" if settings.run.evaluator in _DOCKER_EVALUATORS else "local"


def build_sandbox_factory(settings: Settings, *, repo_cache: RepoCache, run_id: str) -> SandboxFactory:
    """The configured sandbox factory; the docker one takes its options from evaluators.docker."""
    cache_dir: Path = settings.paths.resolved_cache_dir()
    name = sandbox_name(settings)
    cls = SANDBOXES.get(name)
    if name == "local":
        return cls(repo_cache, cache_dir / "work")
    from ..evaluators.docker import DockerEvaluatorConfig

    config = settings.backend_config(DockerEvaluatorConfig, "evaluators", "docker")
    return cls(config, repo_cache=repo_cache, cache_dir=cache_dir, run_id=run_id)
