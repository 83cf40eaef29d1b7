"""``ramp validate`` on a real repository: every status of the registry, from real test runs.

Rows of the ``calc`` repository (tests/evalhelpers.py) made to be: valid; env-broken (the gold
patch does not fix the test); flaky (the test fails every other run); empty-resolves (the test
passes without any fix); infra (the environment cannot build); and a row whose repository has no
source (skipped and named, the rest still validated). Then the run is validated again: nothing is
redone, and a kill mid-way loses nothing already recorded.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.results.validation import repo_table, validated_rates
from tests.evalhelpers import FILES, CalcRepo, diff_of, make_calc_repo


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> CalcRepo:
    return make_calc_repo(tmp_path_factory.mktemp("calc"))


def _row(calc: CalcRepo, instance_id: str, **changes: Any) -> dict[str, Any]:
    row = calc.instance(instance_id=instance_id).model_dump(mode="json", by_alias=True)
    row.update(changes)
    return row


def _rows(calc: CalcRepo, tmp_path: Path) -> list[dict[str, Any]]:
    work = calc.root / "work"
    counter = tmp_path / f"flaky-{uuid.uuid4().hex[:6]}"
    flaky_test = diff_of(work, {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        "\n\ndef test_add():\n    import pathlib\n    from calc import add\n\n"
        f"    p = pathlib.Path({str(counter)!r})\n    n = int(p.read_text()) if p.exists() else 0\n"
        "    p.write_text(str(n + 1))\n    assert add(2, 2) == 4 and n % 2 == 1\n"
    )})  # fmt: skip
    always_passes = diff_of(work, {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        "\n\ndef test_sub_again():\n    from calc import sub\n\n    assert sub(5, 2) == 3\n"
    )})  # fmt: skip
    no_fix = diff_of(work, {"src/calc/__init__.py": "# a comment\n" + FILES["src/calc/__init__.py"]})
    online = diff_of(work, {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        "\n\ndef test_add():\n    import socket\n    from calc import add\n\n"
        "    assert add(2, 2) == 4\n"
        "    raise OSError('[Errno 101] Network is unreachable')  # as connecting to httpbin.org does\n"
    )})  # fmt: skip
    old_import = diff_of(work, {"tests/test_calc.py": "from collections import Mapping  # gone in 3.10\n"
                                + FILES["tests/test_calc.py"]})  # fmt: skip
    return [
        _row(calc, "calc__valid-1"),
        _row(calc, "calc__broken-1", patch=no_fix),
        _row(calc, "calc__flaky-1", test_patch=flaky_test),
        _row(calc, "calc__emptyok-1", test_patch=always_passes,
             FAIL_TO_PASS=["tests/test_calc.py::test_sub_again"]),  # fmt: skip
        _row(calc, "calc__infra-1", version="broken"),
        _row(calc, "calc__online-1", test_patch=online),
        _row(calc, "calc__noimport-1", test_patch=old_import),
        _row(calc, "ghost__repo-1", repo="ghost/repo"),
    ]


def _validate(tmp_path: Path, calc: CalcRepo, dataset: Path, *extra: str) -> int:
    return main([
        "validate", "--dataset", str(dataset), "--repo-source", calc.source,
        "--runs-dir", str(tmp_path / "runs"), "--jobs", "2", "--reruns", "2", *extra,
    ])  # fmt: skip


def _registry(tmp_path: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(tmp_path / "runs" / "ramp.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return {r["instance_id"]: dict(r) for r in conn.execute("SELECT * FROM validation")}
    finally:
        conn.close()


def test_validate_records_every_status_with_its_reason(
    calc: CalcRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMP_PATHS__CACHE_DIR", str(tmp_path / "cache"))
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in _rows(calc, tmp_path)))
    assert _validate(tmp_path, calc, dataset) == 0
    out = capsys.readouterr().out
    registry = _registry(tmp_path)
    statuses = {i: r["status"] for i, r in registry.items()}
    assert statuses == {
        "calc__valid-1": "valid",
        "calc__broken-1": "env_broken",
        "calc__flaky-1": "flaky",
        "calc__emptyok-1": "empty_resolves",
        "calc__infra-1": "infra",
        "calc__online-1": "env_broken",
        "calc__noimport-1": "env_broken",
    }
    assert registry["calc__noimport-1"]["reason"].startswith(
        "a test module does not import (tests/test_calc.py: \"ImportError: cannot import name 'Mapping' from 'collections'"
    )
    assert registry["calc__online-1"]["reason"].startswith("needs the network (the log shows 'Network is unreachable')")
    assert "needs the network" not in registry["calc__broken-1"]["reason"]
    assert "1 instance(s) of ghost/repo skipped" in out  # named, and the rest still validated
    broken = registry["calc__broken-1"]
    assert json.loads(broken["broken_json"]) == ["tests/test_calc.py::test_add"]
    assert broken["runs"] == 3 and "gold does not resolve" in broken["reason"]
    assert json.loads(registry["calc__flaky-1"]["flaky_json"]) == {"tests/test_calc.py::test_add": "failed 2 of 3"}
    assert "exit code 7" in registry["calc__infra-1"]["reason"]
    assert registry["calc__valid-1"]["gold_resolved"] == 1 and registry["calc__valid-1"]["empty_resolved"] == 0
    # The table and the reasons are printed.
    assert "ramp-tests/calc" in out and "env_broken" in out and "calc__flaky-1" in out
    table = repo_table(list(registry.values()))
    assert table.splitlines()[-1].split()[:8] == ["total", "7", "1", "3", "1", "1", "0", "1"]
    # A run's resolved rate over every scored instance and over the valid ones.
    rates = validated_rates({"calc__valid-1": True, "calc__broken-1": False, "other-1": False},
                            list(registry.values()))  # fmt: skip
    assert (rates["scored"], rates["resolved"], rates["validated"], rates["resolved_validated"]) == (3, 1, 1, 1)
    assert rates["not_valid"] == ["calc__broken-1"] and rates["unvalidated"] == 1

    # `ramp doctor` on the same selection quotes the registry.
    main(["doctor", "--dataset", str(dataset), "--repo-source", calc.source, "--runs-dir", str(tmp_path / "runs")])
    doctor = capsys.readouterr().out
    line = next(x for x in doctor.splitlines() if "validation registry" in x)
    assert line.startswith("[warn]") and "1 valid" in line and "3 env_broken" in line
    assert "calc__broken-1 (env_broken)" in line

    # Validating again redoes nothing (the failed environment is remembered, too).
    before = {i: r["validated_at"] for i, r in registry.items()}
    assert _validate(tmp_path, calc, dataset) == 0
    assert "7 instance(s) already in the registry" in capsys.readouterr().out
    assert {i: r["validated_at"] for i, r in _registry(tmp_path).items()} == before
    assert _validate(tmp_path, calc, dataset, "--redo", "infra") == 0
    after = _registry(tmp_path)
    assert "remembered from a build" in after["calc__infra-1"]["reason"]
    assert {i: r["validated_at"] for i, r in after.items() if i != "calc__infra-1"} == {
        i: t for i, t in before.items() if i != "calc__infra-1"
    }  # only the infra row was redone


def test_validate_refuses_bad_flags(calc: CalcRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--dataset", "bundled", "--jobs", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err
    assert main(["validate", "--dataset", "bundled", "--redo", "broken", "--runs-dir", str(tmp_path)]) == 2
    assert "--redo broken: unknown status; use valid, env_broken" in capsys.readouterr().err


def test_a_runs_report_quotes_its_resolved_rate_over_validated_rows(
    calc: CalcRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAMP_PATHS__CACHE_DIR", str(tmp_path / "cache"))
    rows = [r for r in _rows(calc, tmp_path) if r["instance_id"] in ("calc__valid-1", "calc__broken-1")]
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _validate(tmp_path, calc, dataset) == 0
    runs = str(tmp_path / "runs")
    main(["run", "--dataset", str(dataset), "--repo-source", calc.source, "--agent", "gold",
          "--headless", "--auto-approve", "--runs-dir", runs, "--run-id", "gold-1"])  # fmt: skip
    assert main(["report", "gold-1", "--format", "md", "--runs-dir", runs, "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    text = next((tmp_path / "r").glob("*.md")).read_text() if (tmp_path / "r").is_dir() else (tmp_path / "r").read_text()
    assert "| Resolved | 1 / 2 scored (50.0%) |" in text
    assert "| Resolved on validated rows | 1 / 1 rows `ramp validate` found valid (100.0%); 1 scored rows" in text
    assert "env-broken tests left out" not in text  # only when the operator asks
    assert main(["report", "gold-1", "--format", "md", "--runs-dir", runs, "--out", str(tmp_path / "x.md"),
                 "--exclude-env-broken"]) == 0  # fmt: skip
    asked = (tmp_path / "x.md").read_text()
    # calc__broken-1's gold fails only test_add, which validation recorded as env-broken there.
    assert "| Resolved, env-broken tests left out | 2 / 2 scored: tests `ramp validate` found failing" in asked
    assert "| Resolved | 1 / 2 scored (50.0%) |" in asked  # the official verdict is unchanged
    # The TUI's instance detail shows the registry's verdict above the tests.
    from tui.details import load_detail
    from tui.screens.detail import _bodies

    detail = load_detail(tmp_path / "runs" / "ramp.sqlite", "gold-1", "calc__broken-1")
    assert detail.validation is not None
    assert detail.validation.startswith("env_broken under swebench-local: gold does not resolve")
    tests = _bodies(detail.attempts[-1], "+", "x", detail.validation)["tests"]
    assert str(tests).startswith("validation env_broken under swebench-local") and "FAIL_TO_PASS 0/1" in str(tests)
    assert load_detail(tmp_path / "runs" / "ramp.sqlite", "gold-1", "calc__valid-1").validation.startswith("valid ")


def test_sigterm_stops_validation_and_leaves_no_test_running(calc: CalcRepo, tmp_path: Path) -> None:
    """A killed validation must not leave its test processes behind (a sympy run outlived one)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    marker = tmp_path / "started"
    slow = diff_of(calc.root / "work", {"tests/test_calc.py": FILES["tests/test_calc.py"] + (
        f"\n\ndef test_add():\n    import pathlib, time\n    pathlib.Path({str(marker)!r}).write_text('x')\n"
        "    time.sleep(120)\n"
    )})  # fmt: skip
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text(json.dumps(_row(calc, "calc__slow-1", test_patch=slow)) + "\n")
    script = ("import sys; import tests.evalhelpers; from engine.cli import main; "
              "raise SystemExit(main(sys.argv[1:]))")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "validate", "--dataset", str(dataset), "--repo-source", calc.source,
         "--runs-dir", str(tmp_path / "runs")],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "RAMP_PATHS__CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate()[0][-2000:]
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children  # the test run
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out[-2000:]
    assert "received SIGTERM: stopping" in out
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
    assert not list((tmp_path / "cache" / "worktrees").glob("*/calc__slow-1-*"))
