"""The tests' own scope (engine/evaluators/scope.py), through the local evaluator on a real repo:
stand-ins answering on their real names over HTTP and TLS, a tarpit that times out, names outside
the scope that do not resolve, the spec's CPUs as a cgroup quota, and nothing left behind."""

from __future__ import annotations

import uuid
from pathlib import Path

import psutil
import pytest

from engine.core.errors import InfraError
from engine.evaluators import standins
from engine.evaluators.base import EvalRequest
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from engine.evaluators.scope import CPU_CGROUP, ScopePlan, Server, cgroup_problem, scope_problem
from tests.evalhelpers import FILES, CalcRepo, diff_of, make_calc_repo

pytestmark = pytest.mark.skipif(scope_problem() is not None, reason=str(scope_problem()))


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> CalcRepo:
    return make_calc_repo(tmp_path_factory.mktemp("calc"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def with_httpbin(monkeypatch: pytest.MonkeyPatch) -> None:
    """calc's tests get requests' stand-in: httpbin on httpbin.org and www.google.co.uk."""
    monkeypatch.setitem(standins.STANDINS, "ramp-tests/calc", standins.STANDINS["psf/requests"])


def evaluate_probe(calc: CalcRepo, cache: Path, tmp_path: Path, probe: str, version: str = "1.0", **config: object):
    """Evaluate the gold patch with ``probe`` as the body of the FAIL_TO_PASS test."""
    test = f"\n\ndef test_add():\n    from calc import add\n    assert add(2, 2) == 4\n{probe}"
    test_patch = diff_of(calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + test})
    evaluator = LocalEvaluator(LocalEvaluatorConfig(**config), cache_dir=cache, repo_source=calc.source)
    request = EvalRequest(instance=calc.instance(version, test_patch=test_patch), patch=calc.gold,
                          log_dir=tmp_path / uuid.uuid4().hex[:6])  # fmt: skip
    return evaluator, request


def servers_of(cache: Path) -> list[psutil.Process]:
    """Stand-in servers started from this cache that are still running."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(cache) in part for part in process.info["cmdline"] or []) and "gunicorn" in str(process.info["cmdline"]):
            found.append(process)
    return found


NETWORK_PROBE = """
    import json, os, socket, urllib.request
    assert os.environ["HTTPBIN_URL"] == "http://httpbin.org/"
    plain = json.load(urllib.request.urlopen(os.environ["HTTPBIN_URL"] + "get?n=4", timeout=20))
    assert plain["args"] == {"n": "4"}, plain
    tls = json.load(urllib.request.urlopen("https://httpbin.org/get?tls=1", timeout=20))  # the scope's CA
    assert tls["args"] == {"tls": "1"}, tls
    assert urllib.request.urlopen("http://www.google.co.uk/", timeout=20).status == 200
    tarpit = socket.socket()
    tarpit.settimeout(0.5)
    try:
        tarpit.connect(("10.255.255.1", 80))
        raise AssertionError("the tarpit answered")
    except socket.timeout:
        pass  # as on the internet: nothing answers, the connect times out
    try:
        socket.getaddrinfo("example.org", 80)
        raise AssertionError("a name outside the scope resolved")
    except socket.gaierror:
        pass
"""


async def test_stand_ins_answer_on_their_real_names_inside_the_scope(
    calc: CalcRepo, cache: Path, tmp_path: Path, with_httpbin: None
) -> None:
    hosts_before = Path("/etc/hosts").read_text()
    evaluator, request = evaluate_probe(calc, cache, tmp_path, NETWORK_PROBE)
    try:
        result = await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()
    assert result.resolved, (result.detail, Path(result.log_path or "").read_text()[-3000:])
    assert Path("/etc/hosts").read_text() == hosts_before  # the scope's hosts file stayed inside it
    assert not servers_of(cache), "the stand-ins outlived the tests"
    assert not list((cache / "worktrees").glob("*/*.scope")), "the scope's scratch folder is removed"


async def test_without_a_scope_the_real_names_do_not_answer(
    calc: CalcRepo, cache: Path, tmp_path: Path, with_httpbin: None
) -> None:
    """The same probe with test_scope: never fails: the scope is what makes those tests pass."""
    evaluator, request = evaluate_probe(calc, cache, tmp_path, NETWORK_PROBE, test_scope="never")
    try:
        result = await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()
    assert not result.resolved and result.fail_to_pass.failure == ["tests/test_calc.py::test_add"]


@pytest.mark.skipif(cgroup_problem() is not None, reason=str(cgroup_problem()))
async def test_the_specs_cpus_are_the_scopes_cpu_quota(calc: CalcRepo, cache: Path, tmp_path: Path) -> None:
    """pylint's specs ask for two CPUs (nano_cpus); pylint reads them from /sys/fs/cgroup/cpu."""
    host_quota = (CPU_CGROUP / "cpu.cfs_quota_us").read_text()
    probe = (
        "    quota = int(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read())\n"
        "    period = int(open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read())\n"
        "    assert quota / period == 2.0, (quota, period)\n"
    )
    evaluator, request = evaluate_probe(calc, cache, tmp_path, probe, version="cpus")
    try:
        result = await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()
    assert result.resolved, (result.detail, Path(result.log_path or "").read_text()[-3000:])
    assert (CPU_CGROUP / "cpu.cfs_quota_us").read_text() == host_quota
    import os

    assert not list((CPU_CGROUP / "ramp").glob(f"{os.getpid()}-*")), "the cgroup is removed afterwards"


async def test_tests_killed_at_their_timeout_take_the_stand_ins_with_them(
    calc: CalcRepo, cache: Path, tmp_path: Path, with_httpbin: None
) -> None:
    evaluator, request = evaluate_probe(calc, cache, tmp_path, "    import time\n    time.sleep(120)\n",
                                        test_timeout_s=8)  # fmt: skip
    try:
        result = await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()
    assert result.error_class == "timeout", result.detail
    assert not servers_of(cache), "the stand-ins outlived the killed tests"


async def test_a_scope_that_cannot_be_made_is_an_infra_error(
    calc: CalcRepo, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: standins.StandIns, repo: str) -> tuple[ScopePlan, dict[str, str]]:
        return ScopePlan(servers=[Server("broken", ["/bin/false"], 8080)]), {}

    monkeypatch.setattr(standins.StandIns, "scope_plan", broken)
    monkeypatch.setitem(standins.STANDINS, "ramp-tests/calc", standins.STANDINS["psf/requests"])
    evaluator, request = evaluate_probe(calc, cache, tmp_path, "")
    try:
        with pytest.raises(InfraError, match="scope could not be made: the broken stand-in did not start"):
            await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()
