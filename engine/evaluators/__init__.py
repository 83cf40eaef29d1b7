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
        "completion": "engine.evaluators.completion:CompletionGrader",
        "suite": "engine.evaluators.suite:SuiteGrader",
    },
)

#: Aliases share one options section.
CANONICAL = {"swebench-local": "local", "swebench-docker": "docker"}


def build_evaluator(
    settings: Settings, *, repo_source: str, repo_cache: RepoCache | None, name: str | None = None
) -> Any:
    """Construct the configured evaluator (or the one ``name``s, a task family's grader) with its
    validated options."""
    from ..core.errors import ConfigError

    chosen = name or settings.run.evaluator
    name = CANONICAL.get(chosen, chosen)
    try:
        cls = EVALUATORS.get(chosen)
    except ConfigError as exc:
        raise settings.located(exc, "run", "evaluator") from None
    config = settings.backend_config(cls.Config, "evaluators", name)
    return cls(
        config,
        cache_dir=settings.paths.resolved_cache_dir(),
        repo_source=repo_source,
        repo_cache=repo_cache,
    )
