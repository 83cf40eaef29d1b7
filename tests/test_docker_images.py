"""Images: another Python copied from the host, a project with an install step, and the LRU budget."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.datasets.specs import register
from engine.docker.client import call, labels
from engine.docker.images import ImageStore
from engine.evaluators.docker_envs import LABEL_ENV, env_tag
from engine.workspace.pythons import find_python
from tests.dockerhelpers import docker_client, docker_evaluator, eval_request
from tests.evalhelpers import REPO, SPEC, CalcRepo, make_calc_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

register(REPO, {"py39": {**SPEC, "python": "3.9"}})


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> CalcRepo:
    return make_calc_repo(tmp_path_factory.mktemp("calc"))


async def test_installed_project_is_tested_from_testbed(client, calc: CalcRepo, tmp_path: Path) -> None:
    """calc has a src layout and `pip install -e .`: the import check must find /testbed's code."""
    evaluator = docker_evaluator(tmp_path / "cache", calc.source)
    gold = await evaluator.evaluate(eval_request(calc.instance(), calc.gold, tmp_path))
    assert gold.resolved, gold.detail
    empty = await evaluator.evaluate(eval_request(calc.instance(), "", tmp_path))
    assert not empty.resolved and empty.tests["tests/test_calc.py::test_add"] == "FAILED"


@pytest.mark.skipif(find_python("3.9", ["pyenv", "uv"]) is None, reason="no host build of Python 3.9")
async def test_other_python_is_the_host_build_copied_in(client, calc: CalcRepo, tmp_path: Path) -> None:
    evaluator = docker_evaluator(tmp_path / "cache", calc.source)
    instance = calc.instance("py39")
    result = await evaluator.evaluate(eval_request(instance, calc.gold, tmp_path))
    assert result.resolved, result.detail
    assert "platform linux -- Python 3.9" in Path(result.log_path or "").read_text()
    tag, interpreter = await evaluator.backend.images.python("3.9")
    assert tag.startswith("ramp/python:3.9-")
    assert interpreter == str(find_python("3.9", ["pyenv", "uv"]).resolve().parent / "python3.9")
    env_image = client.images.get(env_tag(evaluator.backend.envs.key(instance)))
    assert '"python_version":"3.9"' in env_image.labels[LABEL_ENV]


async def test_budget_evicts_least_recently_used_env_images(client, tmp_path: Path) -> None:
    store = ImageStore(client, "ramp/base:bookworm", ["pyenv"], tmp_path / "state", budget_gb=1)
    made = []
    for name in ("oldest", "older", "newest"):
        container = client.containers.create(
            "ramp/base:bookworm", ["sh", "-c", "head -c 1048576 /dev/urandom > /blob"]
        )
        container.start()
        container.wait()
        tag = f"ramp/env:budget-test-{name}"
        container.commit(repository="ramp/env", tag=f"budget-test-{name}", conf={"Labels": labels("env")})
        container.remove()
        made.append(tag)
    try:
        for image in client.images.list(filters={"label": "ramp.kind=env"}):
            for ref in image.tags:
                store.touch(ref)  # every real environment was "just used"
        for age, tag in zip((300, 200, 100), made, strict=True):
            store.touch(tag)
            stamp = store._stamp(tag)
            os.utime(stamp, (time.time() - age, time.time() - age))
        total, _ = await store.usage()
        store.budget = total - int(1.5 * 2**20)  # two of the 1 MiB layers must go
        removed = await store.enforce_budget(keep=set())
        assert removed == made[:2]
        assert [t for t in made if client.images.list(name=t)] == made[2:]
    finally:
        for tag in made:
            if client.images.list(name=tag):
                await call(client.images.remove, tag, force=True)
