"""The docker sandbox: the Sandbox protocol inside a container, with limits and no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.datasets.bundled import build_bundled
from engine.docker.client import LABEL_KIND, LABEL_MARKER, LABEL_RUN
from engine.evaluators.docker import DockerEvaluatorConfig
from engine.sandbox import SANDBOXES
from engine.sandbox.base import Sandbox
from engine.sandbox.docker import DockerSandboxFactory
from engine.workspace.repos import RepoCache
from tests.dockerhelpers import docker_client, docker_evaluator, eval_request, run_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("sandbox-cache")
    rows, source = build_bundled(cache)
    return rows, source, cache


def factory(cache: Path, source: str, run_id: str, **config: object) -> DockerSandboxFactory:
    return DockerSandboxFactory(
        DockerEvaluatorConfig(**config), repo_cache=RepoCache(cache, source), cache_dir=cache,
        run_id=run_id,
    )  # fmt: skip


async def test_protocol_inside_a_container(client, bundled, tmp_path: Path) -> None:
    rows, source, cache = bundled
    row = rows[0]
    assert SANDBOXES.get("docker") is DockerSandboxFactory
    sandbox = await factory(cache, source, "sbx-1", memory="512m", cpus=1.0, pids=256).create(row, "k")
    assert isinstance(sandbox, Sandbox) and sandbox.workdir == "/testbed"
    container = client.containers.get(sandbox.box.id)
    assert container.labels[LABEL_RUN] == "sbx-1" and container.labels[LABEL_MARKER] == "ramp"
    assert container.labels[LABEL_KIND] == "sandbox"
    host = container.attrs["HostConfig"]
    assert (host["NetworkMode"], host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (
        "none", 512 * 2**20, 10**9, 256
    )
    try:
        files = await sandbox.list_files()
        assert "pyproject.toml" in files and not any(f.startswith(".git/") for f in files)
        result = await sandbox.run("pwd && git log --oneline | wc -l && python -c 'import pytest'")
        assert result.exit_code == 0 and result.output.split()[:2] == ["/testbed", "1"]
        assert (await sandbox.run("sleep 30", timeout=1)).timed_out
        offline = await sandbox.run("python -c \"import socket; socket.create_connection(('pypi.org', 443), 3)\"")
        assert offline.exit_code != 0
        for bad in ("/etc/passwd", "../x", ".git/config", "a/../../x"):
            with pytest.raises(PermissionError):
                await sandbox.read_file(bad)
            with pytest.raises(PermissionError):
                await sandbox.write_file(bad, "x")
        with pytest.raises(FileNotFoundError):
            await sandbox.read_file("missing.py")
        await sandbox.write_file("new/dir/hello.py", "print('hi')\n")
        assert await sandbox.read_file("new/dir/hello.py") == "print('hi')\n"
        assert (await sandbox.run("python new/dir/hello.py")).output == "hi\n"
        diff = await sandbox.diff()
        assert "+++ b/new/dir/hello.py" in diff and "__pycache__" not in diff
    finally:
        await sandbox.aclose()
    assert run_containers(client, "sbx-1") == []


async def test_sandbox_diff_is_a_patch_the_evaluator_resolves(client, bundled, tmp_path: Path) -> None:
    rows, source, cache = bundled
    row = rows[1]
    sandbox = await factory(cache, source, "sbx-2").create(row, "k")
    try:
        await sandbox.write_file("gold.diff", row.patch)
        applied = await sandbox.run("git apply gold.diff && rm gold.diff")
        assert applied.exit_code == 0, applied.output
        patch = await sandbox.diff()
    finally:
        await sandbox.aclose()
    graded = await docker_evaluator(cache, source).evaluate(eval_request(row, patch, tmp_path))
    assert graded.resolved, graded.detail
