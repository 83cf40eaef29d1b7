"""The docker evaluator on a real daemon: the local evaluator's verdicts, test by test, on every
bundled instance; containers that cannot reach the host; removal on timeout and cancellation."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path

import anyio
import pytest

from engine.datasets.bundled import build_bundled
from engine.datasets.rows import SWEInstance
from engine.evaluators import EVALUATORS
from engine.evaluators.base import Evaluator
from engine.evaluators.docker import DockerEvaluator, DockerEvaluatorConfig
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from tests.dockerhelpers import docker_client, docker_evaluator, eval_request, run_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SWEInstance], str, Path]:
    cache = tmp_path_factory.mktemp("docker-cache")
    rows, source = build_bundled(cache)
    return rows, source, cache


def new_file_diff(path: str, content: str) -> str:
    lines = content.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def hostile(row: SWEInstance, tests: dict[str, str]) -> SWEInstance:
    """``row`` whose test patch adds tests/test_hostile.py with ``tests`` (name -> body) as FAIL_TO_PASS."""
    source = "import os, socket, time\n\n" + "\n".join(
        f"def {name}():\n" + "".join(f"    {line}\n" for line in body.splitlines())
        for name, body in tests.items()
    )
    return row.model_copy(
        update={
            "instance_id": f"{row.instance_id}-hostile",
            "test_patch": row.test_patch + new_file_diff("tests/test_hostile.py", source),
            "FAIL_TO_PASS": [f"tests/test_hostile.py::{name}" for name in tests],
            "PASS_TO_PASS": [],
        }
    )


def test_registered_under_both_names() -> None:
    assert EVALUATORS.get("docker") is DockerEvaluator
    assert EVALUATORS.get("swebench-docker") is DockerEvaluator
    ev = DockerEvaluator(DockerEvaluatorConfig(), cache_dir=Path("/nonexistent"), repo_source="")
    assert isinstance(ev, Evaluator)
    assert all(f.description for f in DockerEvaluatorConfig.model_fields.values())


async def test_same_verdicts_as_the_local_evaluator_on_every_bundled_instance(
    client, bundled, tmp_path: Path
) -> None:
    rows, source, cache = bundled
    local = LocalEvaluator(LocalEvaluatorConfig(), cache_dir=cache, repo_source=source)
    docker = docker_evaluator(cache, source)
    mismatches = []
    for row in rows:
        for label, patch in (("gold", row.patch), ("empty", "")):
            here = await local.evaluate(eval_request(row, patch, tmp_path / "local"))
            there = await docker.evaluate(eval_request(row, patch, tmp_path / "docker", run_id="parity"))
            assert there.error_class is None, there.detail
            assert there.resolved == (label == "gold"), (row.instance_id, there.detail)
            for group in ("fail_to_pass", "pass_to_pass"):
                mine = {t: here.tests.get(t) for t in getattr(row, group.upper())}
                theirs = {t: there.tests.get(t) for t in getattr(row, group.upper())}
                if mine != theirs or getattr(here, group) != getattr(there, group):
                    mismatches.append((row.instance_id, label, group, mine, theirs))
            if here.tests != there.tests:
                mismatches.append((row.instance_id, label, "tests", here.tests, there.tests))
    assert not mismatches
    assert len(rows) == 12
    left = [(c.attrs.get("Labels"), c.attrs.get("State"), c.attrs.get("Created")) for c in run_containers(client, "parity")]
    assert left == [], (left, time.time())


@pytest.mark.parametrize(
    "patch",
    [
        "--- a/../outside.py\n+++ b/../outside.py\n@@ -0,0 +1 @@\n+x = 1\n",
        "--- /dev/null\n+++ /tmp/owned.py\n@@ -0,0 +1 @@\n+x = 1\n",
        "diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n",
    ],
    ids=["dotdot", "absolute", "symlink-out"],
)
async def test_escaping_patch_is_refused_before_any_container(
    client, bundled, tmp_path: Path, patch: str
) -> None:
    rows, source, cache = bundled
    run_id = f"refuse-{uuid.uuid4().hex[:6]}"
    result = await docker_evaluator(cache, source).evaluate(
        eval_request(rows[0], patch, tmp_path, run_id=run_id)
    )
    assert (result.applied, result.error_class) == (False, "malformed_patch")
    assert "refused" in result.detail
    assert run_containers(client, run_id) == []
    assert not Path("/tmp/owned.py").exists()


async def test_tests_cannot_reach_the_host_or_write_to_it(client, bundled, tmp_path: Path) -> None:
    rows, source, cache = bundled
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    seen: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                seen.append(listener.accept()[1])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    gateway = client.networks.get("bridge").attrs["IPAM"]["Config"][0].get("Gateway", "172.17.0.1")
    marker = f"/ramp-escape-{uuid.uuid4().hex[:8]}"
    row = hostile(
        rows[0],
        {
            "test_network_is_cut": (
                f"for host in ({gateway!r}, '127.0.0.1'):\n"
                "    try:\n"
                f"        socket.create_connection((host, {port}), timeout=3)\n"
                "    except OSError:\n"
                "        continue\n"
                "    raise AssertionError('reached ' + host)\n"
            ),
            "test_no_dns": (
                "try:\n"
                "    socket.getaddrinfo('pypi.org', 443)\n"
                "except OSError:\n"
                "    return\n"
                "raise AssertionError('resolved pypi.org')\n"
            ),
            "test_writes_to_the_root": (
                f"open({marker!r}, 'w').write('x')\n"
                "open('/etc/ramp-owned', 'w').write('x')\n"
                f"assert os.path.exists({marker!r})\n"
            ),
        },
    )
    try:
        result = await docker_evaluator(cache, source).evaluate(eval_request(row, "", tmp_path))
    finally:
        stop.set()
        thread.join()
        listener.close()
    # Every hostile test passed inside the container: the writes happened, the network did not.
    assert result.resolved, result.detail
    assert not seen, "the host listener saw a connection"
    assert not Path(marker).exists() and not Path("/etc/ramp-owned").exists()


async def test_timeout_kills_the_tests_and_removes_the_container(client, bundled, tmp_path: Path) -> None:
    rows, source, cache = bundled
    row = hostile(rows[0], {"test_sleeps": "time.sleep(120)\n"})
    started = time.monotonic()
    result = await docker_evaluator(cache, source, test_timeout_s=3).evaluate(
        eval_request(row, "", tmp_path, run_id="timeout-test")
    )
    assert result.error_class == "timeout" and not result.resolved
    assert time.monotonic() - started < 60
    assert "Tests Timed Out" in Path(result.log_path or "").read_text()
    assert run_containers(client, "timeout-test") == []


async def test_cancellation_still_removes_the_container(client, bundled, tmp_path: Path) -> None:
    rows, source, cache = bundled
    row = hostile(rows[0], {"test_sleeps": "time.sleep(120)\n"})
    evaluator = docker_evaluator(cache, source)
    async with anyio.create_task_group() as tg:
        tg.start_soon(evaluator.evaluate, eval_request(row, "", tmp_path, run_id="cancel-test"))
        with anyio.fail_after(60):
            while not run_containers(client, "cancel-test"):
                await anyio.sleep(0.1)
        await anyio.sleep(1)
        tg.cancel_scope.cancel()
    assert run_containers(client, "cancel-test") == []


async def test_preflight_names_the_base_image_command_disk_and_python(client, bundled) -> None:
    rows, source, cache = bundled
    ancient = rows[0].model_copy(update={"repo": "ramp-tests/calc", "version": "ancient"})
    import tests.evalhelpers  # noqa: F401  (registers ramp-tests/calc's specs)

    problems = await docker_evaluator(
        cache, source, base_image="ramp/absent:none", min_free_disk_gb=10**9
    ).preflight([rows[0], ancient])
    text = "\n".join(problems)
    assert "`python -m engine.docker.base --tag ramp/absent:none`" in text
    assert "disk nearly full" in text and "docker's data root" in text
    assert "Python 3.4 not found" in text and "pyenv install 3.4" in text
    assert await docker_evaluator(cache, source).preflight(rows) == []


async def test_preflight_names_a_missing_daemon(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    problems = await docker_evaluator(tmp_path, "file:///x/{name}").preflight([])
    assert len(problems) == 1 and "no docker daemon answers" in problems[0]
    assert "apt-get install docker.io" in problems[0] and "dockerd" in problems[0]
