"""The bundled task set behaves exactly like SWE-bench rows, end to end, with real git and pytest.

For every task: check out base_commit from its mirror through RepoCache, apply test_patch, run the
spec's test command on the files swebench would pick, grade with swebench's own log parser; then
apply the gold patch and run again.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from swebench.harness.log_parsers.python import parse_log_pytest
from swebench.harness.test_spec.python import get_test_directives

from engine.datasets import select
from engine.datasets.bundled import SPEC, build_bundled, load_task, task_names
from engine.datasets.bundled.builder import RECORD_NAME, build_task, mirrors_dir
from engine.datasets.rows import SWEBENCH_FIELDS, SWEInstance
from engine.datasets.specs import get_parser, get_spec
from engine.workspace.repos import RepoCache

REPO_ROOT = Path(__file__).resolve().parents[1]
SMOKE_SLICE = REPO_ROOT / "config" / "instances" / "bundled-smoke.yaml"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SWEInstance], str]:
    cache = tmp_path_factory.mktemp("cache")
    rows, template = build_bundled(cache)
    return cache, rows, template


def _row(rows: list[SWEInstance], name: str) -> SWEInstance:
    return next(row for row in rows if row.repo == f"ramp-bundled/{name}")


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def _apply(workspace: Path, patch: str, name: str) -> None:
    patch_file = workspace.parent / f"{name}.diff"
    patch_file.write_text(patch, encoding="utf-8")
    _git("apply", str(patch_file), cwd=workspace)


def _run_tests(workspace: Path, row: SWEInstance) -> dict[str, str]:
    """Run the spec's test command on swebench's test directives; statuses by node id."""
    directives = get_test_directives(row.to_swebench_row())
    spec = get_spec(row.repo, row.version)
    argv = [sys.executable, "-m", *shlex.split(spec["test_cmd"]), *directives]
    # The evaluator's venv has pytest alone; keep this interpreter's plugins out as well. A private
    # TMPDIR keeps the inner pytest from pruning the outer one's temporary directories.
    tmpdir = workspace.parent / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "TMPDIR": str(tmpdir)}
    result = subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
    return get_parser(row.repo)(result.stdout + result.stderr, None)


def test_at_least_twelve_tasks(bundled: tuple[Path, list[SWEInstance], str]) -> None:
    _, rows, _ = bundled
    assert len(task_names()) >= 12
    assert [row.instance_id for row in rows] == sorted(f"ramp-bundled__{n}-1" for n in task_names())


def test_rows_are_exact_swebench_rows(bundled: tuple[Path, list[SWEInstance], str]) -> None:
    _, rows, _ = bundled
    for row in rows:
        upstream = row.to_swebench_row()
        assert set(upstream) == set(SWEBENCH_FIELDS) and len(upstream) == 12
        assert all(isinstance(value, str) for value in upstream.values()), row.instance_id
        f2p, p2p = json.loads(upstream["FAIL_TO_PASS"]), json.loads(upstream["PASS_TO_PASS"])
        assert f2p and not set(f2p) & set(p2p)
        assert upstream["environment_setup_commit"] == upstream["base_commit"]
        assert len(upstream["base_commit"]) == 40
        assert upstream["patch"].startswith("diff --git ") and "\nindex " in upstream["patch"]
        assert upstream["test_patch"].startswith("diff --git ")
        assert SWEInstance.model_validate(upstream) == row


def test_specs_are_registered(bundled: tuple[Path, list[SWEInstance], str]) -> None:
    _, rows, _ = bundled
    for row in rows:
        assert get_spec(row.repo, row.version) == SPEC
        assert get_parser(row.repo) is parse_log_pytest


@pytest.mark.parametrize("name", task_names())
async def test_task_fails_then_passes_with_gold(
    name: str, bundled: tuple[Path, list[SWEInstance], str], tmp_path: Path
) -> None:
    cache_dir, rows, template = bundled
    row = _row(rows, name)
    cache = RepoCache(tmp_path / "cache", template)
    workspace = await cache.checkout(row.repo, row.base_commit, tmp_path / "workspace")

    _apply(workspace, row.test_patch, "test")
    before = _run_tests(workspace, row)
    assert {t for t, status in before.items() if status == "PASSED"} == set(row.PASS_TO_PASS)
    assert not [t for t in row.FAIL_TO_PASS if before.get(t) == "PASSED"]

    _apply(workspace, row.patch, "gold")
    after = _run_tests(workspace, row)
    assert after == dict.fromkeys(row.FAIL_TO_PASS + row.PASS_TO_PASS, "PASSED")
    for deleted in load_task(name).spec.deleted_by_fix:
        assert not (workspace / deleted).exists()

    # The mirror holds the base commit and nothing from the future.
    mirror = mirrors_dir(cache_dir) / f"ramp-bundled+{name}.git"
    assert _git("rev-list", "--all", cwd=mirror).split() == [row.base_commit]


def test_build_is_deterministic_across_directories(
    bundled: tuple[Path, list[SWEInstance], str], tmp_path: Path
) -> None:
    _, rows, _ = bundled
    again, template = build_bundled(tmp_path / "elsewhere")
    assert [row.to_swebench_row() for row in again] == [row.to_swebench_row() for row in rows]
    assert str(tmp_path / "elsewhere") in template


def test_building_twice_reuses_the_mirrors(bundled: tuple[Path, list[SWEInstance], str]) -> None:
    cache_dir, rows, _ = bundled
    mirrors = mirrors_dir(cache_dir)
    stamps = {p.name: (p / RECORD_NAME).stat().st_mtime_ns for p in mirrors.iterdir()}
    again, _ = build_bundled(cache_dir)
    assert again == rows
    assert {p.name: (p / RECORD_NAME).stat().st_mtime_ns for p in mirrors.iterdir()} == stamps
    assert not [p.name for p in mirrors.iterdir() if p.name.startswith(".")]


def test_stale_mirror_is_rebuilt(tmp_path: Path) -> None:
    task = load_task("romans")
    row = build_task(task, tmp_path)
    record_path = mirrors_dir(tmp_path) / "ramp-bundled+romans.git" / RECORD_NAME
    record = json.loads(record_path.read_text())
    record["digest"] = "built-from-older-files"
    record_path.write_text(json.dumps(record))
    assert build_task(task, tmp_path) == row
    assert json.loads(record_path.read_text())["digest"] != "built-from-older-files"
    assert [p.name for p in mirrors_dir(tmp_path).iterdir()] == ["ramp-bundled+romans.git"]


def test_concurrent_builds_agree(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; "
        "from engine.datasets.bundled import load_task; "
        "from engine.datasets.bundled.builder import build_task; "
        "print(build_task(load_task('semverkit'), Path(sys.argv[1])).model_dump_json())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    rows = [SWEInstance.model_validate_json(out) for out, _ in outputs]
    assert all(row == rows[0] for row in rows)
    assert [p.name for p in mirrors_dir(tmp_path).iterdir()] == ["ramp-bundled+semverkit.git"]


def test_smoke_slice_pins_bundled_ids(bundled: tuple[Path, list[SWEInstance], str]) -> None:
    _, rows, _ = bundled
    chosen = select(rows, slice_file=SMOKE_SLICE)
    assert len(chosen) == 5
    assert len({row.repo for row in chosen}) == 5
