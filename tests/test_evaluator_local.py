"""The docker-less evaluator end to end, on a real repo, a real mirror, real venvs and real pytest."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import psutil
import pytest

from engine.core.errors import InfraError
from engine.evaluators import EVALUATORS
from engine.evaluators.base import EvalRequest, Evaluator
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from tests.evalhelpers import (
    FILES,
    CalcRepo,
    commit_on_top,
    diff_of,
    make_calc_repo,
    with_dependencies,
)


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> CalcRepo:
    return make_calc_repo(tmp_path_factory.mktemp("calc"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module, so the (repo, version) venv is built once and reused."""
    return tmp_path_factory.mktemp("cache")


def evaluator(calc: CalcRepo, cache: Path, **config: object) -> LocalEvaluator:
    return LocalEvaluator(LocalEvaluatorConfig(**config), cache_dir=cache, repo_source=calc.source)


def request(calc: CalcRepo, tmp_path: Path, patch: str | None, **kwargs: object) -> EvalRequest:
    instance = kwargs.pop("instance", None) or calc.instance()
    return EvalRequest(
        instance=instance, patch=patch, log_dir=tmp_path / uuid.uuid4().hex[:6], **kwargs
    )


def test_registered_under_both_names() -> None:
    assert EVALUATORS.get("local") is LocalEvaluator
    assert EVALUATORS.get("swebench-local") is LocalEvaluator
    assert isinstance(
        LocalEvaluator(LocalEvaluatorConfig(), cache_dir=Path("/nonexistent"), repo_source=""),
        Evaluator,
    )


async def test_gold_patch_resolves_with_per_test_statuses(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    ev = evaluator(calc, shared_cache)
    result = await ev.evaluate(request(calc, tmp_path, calc.gold))
    assert result.resolved, result.detail
    assert result.applied and result.error_class is None
    assert result.tests == {
        "tests/test_calc.py::test_sub": "PASSED",
        "tests/test_calc.py::test_add": "PASSED",
    }
    assert result.fail_to_pass.success == ["tests/test_calc.py::test_add"]
    assert result.pass_to_pass.success == ["tests/test_calc.py::test_sub"]
    log = Path(result.log_path or "").read_text()
    assert (
        ">>>>> Applied Patch" in log
        and ">>>>> Start Test Output" in log
        and ">>>>> End Test Output" in log
    )
    assert not list((shared_cache / "worktrees").iterdir()), "the worktree is removed afterwards"
    await ev.aclose()


async def test_empty_patch_is_unresolved(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    result = await evaluator(calc, shared_cache).evaluate(request(calc, tmp_path, ""))
    assert not result.resolved and result.applied and result.error_class is None
    assert result.fail_to_pass.failure == ["tests/test_calc.py::test_add"]
    assert result.tests["tests/test_calc.py::test_add"] == "FAILED"
    assert "FAIL_TO_PASS 0/1" in result.detail


async def test_fail_to_pass_override_grades_a_subset(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    result = await evaluator(calc, shared_cache).evaluate(
        request(calc, tmp_path, "", fail_to_pass=[])
    )
    assert result.resolved  # only PASS_TO_PASS is left, and it passes
    assert result.fail_to_pass.success == result.fail_to_pass.failure == []


async def test_patch_that_does_not_apply_is_malformed(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    stale = calc.gold.replace("-    return a - b", "-    return a * b")
    result = await evaluator(calc, shared_cache).evaluate(request(calc, tmp_path, stale))
    assert (result.resolved, result.applied, result.error_class) == (
        False,
        False,
        "malformed_patch",
    )
    log = Path(result.log_path or "").read_text()
    assert ">>>>> Patch Apply Failed" in log and "patch --batch --fuzz=5" in log


@pytest.mark.parametrize(
    "patch",
    [
        "--- a/../outside.py\n+++ b/../outside.py\n@@ -0,0 +1 @@\n+x = 1\n",
        "--- /dev/null\n+++ /tmp/owned.py\n@@ -0,0 +1 @@\n+x = 1\n",
    ],
    ids=["dotdot", "absolute"],
)
async def test_escaping_patch_is_refused_before_anything_runs(
    calc: CalcRepo, tmp_path: Path, patch: str
) -> None:
    cache = tmp_path / "cache"
    result = await evaluator(calc, cache).evaluate(request(calc, tmp_path, patch))
    assert (result.applied, result.error_class) == (False, "malformed_patch")
    assert "refused" in result.detail
    assert not (cache / "envs").exists(), "refused before any environment was built"


async def test_patch_through_a_symlink_in_the_tree_is_refused(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    work = calc.root / "work"
    (work / "escape").symlink_to("/tmp")
    from tests.evalhelpers import git

    git(work, "add", "escape")
    git(work, "commit", "-qm", "a symlink out of the tree")
    head = git(work, "rev-parse", "HEAD").strip()
    git(work, "push", "-q", str(calc.root / "mirror" / "ramp-tests+calc"), "main")
    git(work, "reset", "--hard", "-q", calc.base_commit)
    instance = calc.instance(instance_id="ramp-tests__calc-symlink", base_commit=head)
    patch = "--- /dev/null\n+++ b/escape/owned.py\n@@ -0,0 +1 @@\n+x = 1\n"
    result = await evaluator(calc, shared_cache).evaluate(
        request(calc, tmp_path, patch, instance=instance)
    )
    assert result.error_class == "malformed_patch" and "symlink" in result.detail
    assert not Path("/tmp/owned.py").exists()


async def test_failed_install_is_an_infra_error_with_the_log_tail(
    calc: CalcRepo, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ev = evaluator(calc, cache)
    instance = calc.instance("broken")
    with pytest.raises(InfraError) as caught:
        await ev.evaluate(request(calc, tmp_path, calc.gold, instance=instance))
    assert caught.value.error_class == "infra"
    assert "step 'install' failed with exit code 7" in str(caught.value)
    assert "cannot build calc: missing libcalc" in str(caught.value)
    key = ev.envs.key(instance)
    assert not (cache / "envs" / key / "env.json").exists(), (
        "a failed build is never marked complete"
    )
    assert not list((cache / "envs" / key).glob("build-*")), "its half-built folder is removed"
    assert (cache / "envs" / key / "last-failure.log").exists()
    log_before = (cache / "envs" / key / "last-failure.log").stat().st_mtime_ns
    with pytest.raises(InfraError) as again:  # the same evaluator does not rebuild a known-broken env
        await ev.evaluate(request(calc, tmp_path, "", instance=instance))
    assert again.value is caught.value
    assert (cache / "envs" / key / "last-failure.log").stat().st_mtime_ns == log_before
    # Nor does a later run: the failure is remembered until the inputs change or a retry is asked.
    with pytest.raises(InfraError, match="remembered from a build at") as later:
        await evaluator(calc, cache).evaluate(request(calc, tmp_path, "", instance=instance))
    assert "cannot build calc: missing libcalc" in str(later.value)
    assert "--rebuild-failed" in str(later.value)
    retry = evaluator(calc, cache, retry_failed_builds=True)
    with pytest.raises(InfraError) as rebuilt:
        await retry.evaluate(request(calc, tmp_path, "", instance=instance))
    assert "remembered" not in str(rebuilt.value) and "exit code 7" in str(rebuilt.value)


async def test_timeout_kills_the_whole_test_process_group(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    token = f"ramp-timeout-{uuid.uuid4().hex}"
    sleeper = (
        "\n\ndef test_slow():\n    import subprocess, sys, time\n\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{token}'])\n"
        "    time.sleep(300)\n"
    )
    test_patch = diff_of(
        calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + sleeper}
    )
    instance = calc.instance(
        instance_id="ramp-tests__calc-slow",
        test_patch=test_patch,
        FAIL_TO_PASS=["tests/test_calc.py::test_slow"],
    )
    ev = evaluator(calc, shared_cache, test_timeout_s=3)
    started = time.monotonic()
    result = await ev.evaluate(request(calc, tmp_path, "", instance=instance))
    assert result.error_class == "timeout" and not result.resolved
    assert time.monotonic() - started < 20
    assert ">>>>> Tests Timed Out" in Path(result.log_path or "").read_text()

    def leftovers() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if token in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        return found

    for _ in range(20):
        if not leftovers():
            break
        await anyio.sleep(0.1)
    assert leftovers() == []


async def test_concurrent_evaluations_build_the_env_once_and_a_new_evaluator_reuses_it(
    calc: CalcRepo, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ev = evaluator(calc, cache)
    results = {}

    async def run(label: str, patch: str) -> None:
        results[label] = await ev.evaluate(request(calc, tmp_path, patch))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "gold", calc.gold)
        tg.start_soon(run, "empty", "")
        tg.start_soon(run, "gold-again", calc.gold)
    assert ev.envs.builds == 1
    assert [results[k].resolved for k in ("gold", "empty", "gold-again")] == [True, False, True]
    assert len(list((cache / "envs").glob("*/env.json"))) == 1

    second = evaluator(calc, cache)
    result = await second.evaluate(request(calc, tmp_path, calc.gold))
    assert result.resolved and second.envs.builds == 0
    assert result.setup_s < 5


async def test_a_relative_cache_dir_is_fixed_where_the_evaluator_is_made(
    calc: CalcRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds and tests run in other folders; a relative cache must not be read from there."""
    monkeypatch.chdir(tmp_path)
    ev = evaluator(calc, Path("cache"))
    monkeypatch.chdir(calc.root)  # the process moves on; the evaluator's caches stay put
    result = await ev.evaluate(request(calc, tmp_path, calc.gold))
    assert result.resolved, result.detail
    assert list((tmp_path / "cache" / "envs").glob("*/env.json"))
    await ev.aclose()


async def test_gold_validation_reports_env_broken_tests_apart(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    broken = "\n\ndef test_needs_network():\n    raise OSError('no route to httpbin.org')\n"
    test_patch = diff_of(
        calc.root / "work",
        {
            "tests/test_calc.py": FILES["tests/test_calc.py"] + "\n\ndef test_add():\n"
            "    from calc import add\n\n    assert add(2, 2) == 4\n" + broken
        },
    )
    instance = calc.instance(
        instance_id="ramp-tests__calc-net",
        test_patch=test_patch,
        PASS_TO_PASS=["tests/test_calc.py::test_sub", "tests/test_calc.py::test_needs_network"],
    )
    ev = evaluator(calc, shared_cache, gold_validation=True)
    result = await ev.evaluate(request(calc, tmp_path, calc.gold, instance=instance))
    assert not result.resolved  # the official verdict is kept ...
    assert result.env_broken == [
        "tests/test_calc.py::test_needs_network"
    ]  # ... and the cause is named
    assert "fail with the gold patch too" in result.detail
    gold = await ev.validate_gold(instance)
    assert gold.broken == ["tests/test_calc.py::test_needs_network"]


async def test_preflight_names_what_is_missing_and_the_fix(calc: CalcRepo, tmp_path: Path) -> None:
    ev = LocalEvaluator(
        LocalEvaluatorConfig(), cache_dir=tmp_path, repo_source=f"file://{tmp_path}/none/{{name}}"
    )
    problems = await ev.preflight(
        [calc.instance("ancient"), calc.instance("9.9"), calc.instance("1.0")]
    )
    text = "\n".join(problems)
    assert "Python 3.4 not found" in text and "pyenv install 3.4" in text
    assert "no spec for ramp-tests/calc version '9.9'" in text
    assert "does not exist" not in text  # a missing source skips its rows (wiring), see below
    ok = await evaluator(calc, tmp_path).preflight([calc.instance()])
    assert ok == []


async def test_rows_whose_repository_has_no_source_are_skipped_and_named(
    calc: CalcRepo, tmp_path: Path
) -> None:
    """pyvista had no mirror, and the preflight refused the whole run; now its rows are skipped."""
    from engine.core.errors import ConfigError
    from engine.run.wiring import without_source
    from engine.workspace.repos import RepoCache

    orphan = calc.instance(instance_id="pyvista__pyvista-1", repo="pyvista/pyvista")
    kept, notes = await without_source(
        [calc.instance(), orphan], RepoCache(tmp_path / "cache", calc.source)
    )
    assert [i.instance_id for i in kept] == [calc.instance().instance_id]
    assert len(notes) == 1 and notes[0].startswith("1 instance(s) of pyvista/pyvista skipped: ")
    assert "does not exist" in notes[0] and "--repo-source" in notes[0]
    with pytest.raises(ConfigError, match="no selected instance has a repository source"):
        await without_source([orphan], RepoCache(tmp_path / "cache", calc.source))


async def test_files_the_install_generates_reach_every_worktree(tmp_path: Path) -> None:
    """pytest 8.0: setuptools_scm writes src/_pytest/_version.py at install time; it is ignored
    by git, so a worktree lacks it and collection failed with ModuleNotFoundError."""
    calc = make_calc_repo(tmp_path / "repo")
    init = FILES["src/calc/__init__.py"]
    commit = commit_on_top(
        calc,
        {"src/calc/__init__.py": "from ._version import version\n\n" + init,
         ".gitignore": "src/calc/_version.py\n"},
        "version from the install",
    )  # fmt: skip
    gold = diff_of(
        calc.root / "work",
        {"src/calc/__init__.py": "from ._version import version\n\n" + init.replace("a - b", "a + b", 1)},
    )  # fmt: skip
    instance = calc.instance("generated", base_commit=commit, environment_setup_commit=commit)
    ev = evaluator(calc, tmp_path / "cache")
    result = await ev.evaluate(request(calc, tmp_path, gold, instance=instance))
    assert result.resolved, result.detail
    env, _ = await ev.envs.get(instance)
    assert env.generated == ["src/calc/_version.py"]
    empty = await ev.evaluate(request(calc, tmp_path, "", instance=instance))
    assert not empty.resolved and empty.pass_to_pass.success == ["tests/test_calc.py::test_sub"]


async def test_a_test_runner_missing_from_the_environment_is_infra_not_a_failed_test(
    calc: CalcRepo, tmp_path: Path
) -> None:
    """requests: the era's pytest 2.x had no `pytest` command, so the host's ran instead and the
    row was scored unresolved. A program the environment lacks must stop the evaluation as infra."""
    instance = calc.instance("no-runner")
    with pytest.raises(InfraError, match="`nosetests` is not installed in the environment"):
        await evaluator(calc, tmp_path / "cache").evaluate(
            request(calc, tmp_path, calc.gold, instance=instance)
        )


async def test_tests_run_with_time_zone_locale_and_hash_seed_pinned(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path
) -> None:
    probe = (
        "\n\ndef test_add():\n    import os\n    from calc import add\n\n"
        "    assert (os.environ['TZ'], os.environ['LC_ALL'], os.environ['PYTHONHASHSEED']) == "
        "('UTC', 'C.UTF-8', '0')\n    assert add(2, 2) == 4\n"
    )
    test_patch = diff_of(calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + probe})
    instance = calc.instance(test_patch=test_patch)
    result = await evaluator(calc, shared_cache).evaluate(
        request(calc, tmp_path, calc.gold, instance=instance)
    )
    assert result.resolved, result.detail


async def test_the_code_under_test_is_installed_at_its_base_commit_when_the_install_differs(
    tmp_path: Path,
) -> None:
    """pytest 5.4: the shared environment's `pytest` script (setup commit) called a function the
    base commit did not have. The harness installs at base_commit; so does the overlay."""
    calc = make_calc_repo(tmp_path / "repo")
    init = FILES["src/calc/__init__.py"] + "\n\ndef cli():\n    print(add(2, 2))\n"
    base = commit_on_top(
        calc,
        {"pyproject.toml": FILES["pyproject.toml"] + '\n[project.scripts]\ncalc-cli = "calc:cli"\n',
         "src/calc/__init__.py": init},
        "a command-line entry point",
    )  # fmt: skip
    work = calc.root / "work"
    gold = diff_of(work, {"src/calc/__init__.py": init.replace("a - b", "a + b", 1)})
    test_patch = diff_of(work, {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        "\n\ndef test_add():\n    import subprocess\n\n"
        "    assert subprocess.run(['calc-cli'], capture_output=True, text=True).stdout == '4\\n'\n"
    )})  # fmt: skip
    instance = calc.instance(base_commit=base, test_patch=test_patch, patch=gold)
    assert instance.setup_commit == calc.base_commit != base  # the environment is built before it
    cache = tmp_path / "cache"
    result = await evaluator(calc, cache).evaluate(request(calc, tmp_path, gold, instance=instance))
    assert result.resolved, result.detail
    assert result.pass_to_pass.success == ["tests/test_calc.py::test_sub"]
    env, _ = await evaluator(calc, cache).envs.get(instance)
    assert not (env.venv / "bin" / "calc-cli").exists()  # the shared venv was never written
    assert not list((cache / "worktrees").glob("*/*.venv"))  # the overlay went with the worktree
    without = await evaluator(calc, cache, install_at_base="never").evaluate(
        request(calc, tmp_path, gold, instance=instance)
    )
    assert not without.resolved  # through PYTHONPATH alone, `calc-cli` does not exist


async def test_tests_that_call_httpbin_get_a_local_stand_in(
    calc: CalcRepo, shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' tests call HTTPBIN_URL (httpbin.org by default); evaluations have no network.
    Without a test scope (test_evaluator_scope.py has it), the stand-in serves on a loopback port."""
    from engine.evaluators import standins

    monkeypatch.setitem(standins.STANDINS, "ramp-tests/calc", standins.STANDINS["psf/requests"])
    probe = (
        "\n\ndef test_add():\n    import json, os, urllib.request\n    from calc import add\n\n"
        "    url = os.environ['HTTPBIN_URL'] + 'get?n=' + str(add(2, 2))\n"
        "    assert url.startswith('http://127.0.0.1:')\n"
        "    assert json.load(urllib.request.urlopen(url, timeout=10))['args'] == {'n': '4'}\n"
    )
    test_patch = diff_of(calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + probe})
    ev = evaluator(calc, shared_cache, test_scope="never")
    try:
        result = await ev.evaluate(
            request(calc, tmp_path, calc.gold, instance=calc.instance(test_patch=test_patch))
        )
        assert result.resolved, result.detail
        servers = [p for p in ev.standins._processes if p.returncode is None]
        assert len(servers) == 1
    finally:
        await ev.aclose()
    assert all(p.returncode is not None for p in servers)  # stopped with the evaluator


def test_a_stand_in_server_exits_when_ramp_is_killed(shared_cache: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys

    script = (
        "import anyio, sys\nfrom pathlib import Path\nfrom engine.evaluators.standins import StandIns\n"
        "async def main():\n    s = StandIns(Path(sys.argv[1]))\n"
        "    print((await s.variables('psf/requests'))['HTTPBIN_URL'], flush=True)\n"
        "    await anyio.sleep(600)\nanyio.run(main)\n"
    )
    ramp = subprocess.Popen([sys.executable, "-c", script, str(shared_cache)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    url = ramp.stdout.readline().strip()  # type: ignore[union-attr]
    port = int(url.rsplit(":", 1)[1].strip("/"))
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # it serves
    os.kill(ramp.pid, signal.SIGKILL)
    ramp.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return  # gone with its parent
        time.sleep(0.2)
    raise AssertionError(f"the stand-in on port {port} outlived the process that started it")


async def test_the_projects_requirements_win_over_a_spec_pin_they_contradict(tmp_path: Path) -> None:
    """sphinx 4.0: pre_install rewrites setup.py to Jinja2<3.0 while the spec pins Jinja2==3.0.3;
    the harness's pip lets the project win, and the environment built."""
    import subprocess

    calc = make_calc_repo(tmp_path / "repo")
    commit = commit_on_top(calc, {"pyproject.toml": with_dependencies("iniconfig<2")}, "an upper bound the spec's pin breaks")
    instance = calc.instance("conflict", base_commit=commit, environment_setup_commit=commit)
    ev = evaluator(calc, tmp_path / "cache")
    result = await ev.evaluate(request(calc, tmp_path, calc.gold, instance=instance))
    assert result.resolved, result.detail
    env, _ = await ev.envs.get(instance)
    frozen = subprocess.run(["uv", "pip", "freeze", "--python", str(env.python)],
                            capture_output=True, text=True).stdout  # fmt: skip
    assert "iniconfig==1." in frozen
    assert any("the project won" in w for w in env.warnings), env.warnings


async def test_a_runner_that_starts_python_outside_the_venv_still_finds_it(
    calc: CalcRepo, tmp_path: Path
) -> None:
    """sphinx runs `tox --current-env`, which links .tox/py39/bin/python to the venv's python;
    Python started through that link takes the base interpreter's prefix: no pytest."""
    ev = evaluator(calc, tmp_path / "cache")
    result = await ev.evaluate(request(calc, tmp_path, calc.gold, instance=calc.instance("tox-like")))
    assert result.resolved, result.detail
    env, _ = await ev.envs.get(calc.instance("tox-like"))
    assert (env.venv / "bin" / "tox").exists()


async def test_what_the_base_commit_needs_beyond_the_environment_comes_from_the_era(
    tmp_path: Path,
) -> None:
    """pytest 4.6's base commits need importlib_metadata, which the setup commit did not; pip
    alone took today's release, which refuses the spec's Python. The overlay resolves it as of
    the environment's era: six 1.16.0 (2021), not 1.17.0 (2024), for an era of 2022-12-06."""
    calc = make_calc_repo(tmp_path / "repo")
    setup = commit_on_top(calc, {"NOTE": "setup\n"}, "setup", GIT_COMMITTER_DATE="2021-06-01T00:00:00Z")
    base = commit_on_top(calc, {"pyproject.toml": with_dependencies("six")}, "a new dependency")
    test_patch = diff_of(calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        "\n\ndef test_add():\n    import six\n    from calc import add\n\n"
        "    assert (six.__version__, add(2, 2)) == ('1.16.0', 4)\n"
    )})  # fmt: skip
    instance = calc.instance(base_commit=base, environment_setup_commit=setup, test_patch=test_patch)
    ev = evaluator(calc, tmp_path / "cache")
    result = await ev.evaluate(request(calc, tmp_path, calc.gold, instance=instance))
    assert result.resolved, result.detail
    env, _ = await ev.envs.get(instance)
    assert env.era == "2022-12-06T00:00:00Z"  # the setup commit's 2021, raised to Python 3.11's release
