"""Which sandbox a run gets, and the docker sandbox's options (no daemon needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.config import Settings
from engine.core.errors import ConfigError
from engine.sandbox import build_sandbox_factory, sandbox_name
from engine.sandbox.docker import DockerSandboxFactory, _inside
from engine.sandbox.local import LocalSandboxFactory
from engine.workspace.repos import RepoCache


@pytest.mark.parametrize(
    ("evaluator", "sandbox", "expected"),
    [
        ("local", "auto", "local"),
        ("docker", "auto", "docker"),
        ("swebench-docker", "auto", "docker"),
        ("docker", "local", "local"),
        ("local", "docker", "docker"),
    ],
)
def test_sandbox_follows_the_evaluator_unless_chosen(
    tmp_path: Path, evaluator: str, sandbox: str, expected: str
) -> None:
    settings = Settings.model_validate(
        {"run": {"evaluator": evaluator, "sandbox": sandbox}, "paths": {"runs_dir": str(tmp_path)}}
    )
    assert sandbox_name(settings) == expected
    factory = build_sandbox_factory(settings, repo_cache=RepoCache(tmp_path), run_id="r")
    assert isinstance(factory, DockerSandboxFactory if expected == "docker" else LocalSandboxFactory)


def test_docker_sandbox_options_are_the_docker_evaluator_s(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"run": {"sandbox": "docker"}, "evaluators": {"docker": {"memory": "1g", "pids": 64}},
         "paths": {"runs_dir": str(tmp_path)}}
    )  # fmt: skip
    factory = build_sandbox_factory(settings, repo_cache=RepoCache(tmp_path), run_id="r")
    assert (factory.backend.limits.memory, factory.backend.limits.pids) == ("1g", 64)
    bad = settings.model_copy(update={"evaluators": {"docker": {"memroy": "1g"}}})
    with pytest.raises(ConfigError, match="evaluators.docker.memroy"):
        build_sandbox_factory(bad, repo_cache=RepoCache(tmp_path), run_id="r")


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", ".git/config", "a/.git/x"])
def test_docker_sandbox_refuses_paths_outside_testbed(path: str) -> None:
    with pytest.raises(PermissionError):
        _inside(path)
    assert _inside("src/./pkg/mod.py") == "/testbed/src/pkg/mod.py"


def test_a_container_gets_at_least_the_cpus_the_spec_asks_for() -> None:
    from engine.docker.containers import Limits
    from engine.evaluators.docker import spec_limits

    base = Limits(memory="4g", cpus=1.0, pids=512)
    assert spec_limits(base, {"nano_cpus": 2_000_000_000}).host_config()["nano_cpus"] == 2_000_000_000
    assert spec_limits(base, {}) is base
    assert spec_limits(Limits(memory="4g", cpus=4.0, pids=512), {"nano_cpus": 2e9}).cpus == 4.0
