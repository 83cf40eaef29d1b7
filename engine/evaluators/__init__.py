"""Evaluators, by name. See base.Evaluator for the protocol.

Every evaluator class carries its own pydantic ``Config``; options come from the ``evaluators.<name>``
section of the config tree and are validated by that class, so a typo names the exact field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.registry import Registry

if TYPE_CHECKING:
    from ..core.config import Settings
    from ..workspace.repos import RepoCache

EVALUATORS = Registry(
    "evaluator",
    {
        "local": "engine.evaluators.local:LocalEvaluator",
        "swebench-local": "engine.evaluators.local:LocalEvaluator",
        "docker": "engine.evaluators.docker:DockerEvaluator",
        "swebench-docker": "engine.evaluators.docker:DockerEvaluator",
    },
)

#: Aliases share one options section.
CANONICAL = {"swebench-local": "local", "swebench-docker": "docker"}


def build_evaluator(settings: Settings, *, repo_source: str, repo_cache: RepoCache) -> Any:
    """Construct the configured evaluator with its validated options."""
    from ..core.errors import ConfigError

    name = CANONICAL.get(settings.run.evaluator, settings.run.evaluator)
    try:
        cls = EVALUATORS.get(settings.run.evaluator)
    except ConfigError as exc:
        raise settings.located(exc, "run", "evaluator") from None
    config = settings.backend_config(cls.Config, "evaluators", name)
    return cls(
        config,
        cache_dir=settings.paths.resolved_cache_dir(),
        repo_source=repo_source,
        repo_cache=repo_cache,
    )
