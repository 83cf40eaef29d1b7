"""The options of an environment build, shared by the local and the docker evaluators.

Both evaluators build their (repo, version) environments with the same code (envs.py), the docker
one inside a build container, so the options that steer a build (era pinning, uv, timeouts, where
the spec's Python is found) are one pydantic model that both evaluators' configs extend (through
EvaluatorConfig, which adds the test run's options): a field means the same thing, with the same
default, whichever evaluator reads it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..workspace.pythons import DEFAULT_FINDERS, PythonSource


class EnvBuildConfig(BaseModel):
    """How environments are built: installers, era pinning, limits."""

    model_config = ConfigDict(extra="forbid")

    install_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="Limit of each environment build step (venv, each install); past it the build "
        "fails as an infra error.",
    )
    python_finders: list[PythonSource] = Field(
        default_factory=lambda: list(DEFAULT_FINDERS),
        description="Where to look for the spec's Python, in order: pyenv's versions folder, "
        "`uv python find`, then pythonX.Y on PATH.",
    )
    use_uv: bool = Field(
        default=True,
        description="Build environments with uv (fast, cached, and needed for era pinning); when off "
        "or when uv is missing, venv + pip are used.",
    )
    era_pinning: bool = Field(
        default=True,
        description="Resolve dependencies as of the environment_setup_commit's date, or the spec's "
        "Python's first bugfix release (x.y.1) if later (uv --exclude-newer); the spec's own pins win.",
    )
    exclude_newer_exempt: list[str] = Field(
        default_factory=lambda: ["atomicwrites"],
        description="Packages exempt from era pinning because their old releases were deleted from "
        "PyPI (atomicwrites only has 1.4.1, from 2022); without this, uv backtracks old pytest "
        "versions to ones that never needed them.",
    )
    keep_failed: bool = Field(
        default=False,
        description="Keep what a failure leaves behind, for debugging: the folder of a failed "
        "environment build and, in the local evaluator, the worktree of an evaluation that did not "
        "resolve (they are removed otherwise).",
    )
    retry_failed_builds: bool = Field(
        default=False,
        description="Rebuild an environment whose last build failed. Off: a failed build is "
        "remembered (failed.json beside its log) and every later evaluation of that environment "
        "fails at once with the same error, until its inputs change (a new spec, setup commit or "
        "recipe is a new environment) or this is on.",
    )
    log_tail_lines: int = Field(
        default=40, ge=1, description="Lines of a failed build log quoted in its infra error."
    )


class EvaluatorConfig(EnvBuildConfig):
    """What both evaluators share: how environments are built, and how tests run in them."""

    test_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        description="Wall-clock limit of one test run; past it the command's process group is "
        "killed and the evaluation ends with error class 'timeout'.",
    )
    verify_imports: bool = Field(
        default=True,
        description="Before the tests, check that the project's packages import from the code under "
        "test (the worktree, or /testbed in a container) and not from the environment's own checkout.",
    )
