"""The leaderboard across runs, and the predictions export checked with swebench's own loaders."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from swebench.harness.run_evaluation import get_dataset_from_preds

from engine.results.export import choose_attempt, export_predictions
from engine.results.leaderboard import leaderboard_rows, print_table
from engine.store import Store
from tests.rampfill import attempt, call, make_run

ROOT = Path(__file__).resolve().parents[1]


async def fill_board(store: Store, folder: Path) -> None:
    """half-small: 1 of 2; half-big: 5 of 10 (tighter interval); all: 3 of 3."""
    await make_run(store, "half-small", [("a", "o/r", 0), ("b", "o/r", 0)], agent="direct-edit")
    await attempt(store, "half-small", "a", 1, "resolved")
    await attempt(store, "half-small", "b", 1, "unresolved")
    await make_run(store, "half-big", [(f"i{n}", "o/r", 0) for n in range(10)], agent="bash")
    for n in range(10):
        await attempt(store, "half-big", f"i{n}", 1, "resolved" if n < 5 else "unresolved")
        await call(store, "half-big", f"i{n}", cost=0.5)
    await make_run(store, "all", [("a", "o/r", 0), ("b", "o/r", 0), ("c", "o/r", 0)])
    for iid in "abc":
        await attempt(store, "all", iid, 1, "resolved")
    await store.update_phase("all", 0, tier="PROCEED", verdict={"rule": "x"})


async def test_rows_rank_by_rate_then_by_interval_and_trace_to_their_run(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as store:
        await fill_board(store, tmp_path)
        rows = await leaderboard_rows(store, tmp_path)
    assert [(r["rank"], r["run_id"]) for r in rows] == [(1, "all"), (2, "half-big"), (3, "half-small")]
    assert rows[1]["ci_low"] > rows[2]["ci_low"] and rows[1]["resolved_rate"] == rows[2]["resolved_rate"] == 0.5
    assert rows[0]["last_verdict"] == "phase 1: PROCEED" and rows[1]["last_verdict"] is None
    assert rows[1]["cost_per_instance"] == 0.5
    assert rows[2]["folder"] == str(tmp_path / "half-small")


def test_leaderboard_command_json_csv_and_table(tmp_path):
    async def fill() -> None:
        async with Store(tmp_path / "ramp.sqlite") as store:
            await fill_board(store, tmp_path)

    anyio.run(fill)

    def ramp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine", "leaderboard", *args, "--runs-dir", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "160"})

    out = ramp("--json")
    assert out.returncode == 0, out.stderr
    assert [r["run_id"] for r in json.loads(out.stdout)] == ["all", "half-big", "half-small"]
    out = ramp("--csv", str(tmp_path / "board.csv"))
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "board.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["run_id"] == "all" and rows[0]["resolved_rate"] == "1.0" and rows[0]["folder"].endswith("all")
    out = ramp()
    assert out.returncode == 0, out.stderr
    assert "half-big" in out.stdout and "50.0%" in out.stdout and f"artifacts: {tmp_path}" in out.stdout


@pytest.mark.parametrize("width", [80, 160])
def test_table_keeps_every_figure_readable_at_80_and_160_columns(tmp_path, width):
    async def rows() -> list[dict]:
        async with Store(tmp_path / "ramp.sqlite") as store:
            await fill_board(store, tmp_path)
            await make_run(store, "20261122-062523-direct-edit-da9c", [("a", "o/r", 0)], agent="direct-edit")
            return await leaderboard_rows(store, tmp_path)

    console = Console(width=width, file=io.StringIO(), color_system=None)
    print_table(anyio.run(rows), tmp_path, console)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    # Headers, ratios and intervals are never split mid-word; the run id is whole or folded once.
    for whole in ("resolved", "95% CI", "pass@1", "vs base", "$/inst", "agent / model",
                  "5/10", "50.0%", "24-76%", "$0.50", "phase 1: PROCEED", "half-small"):
        assert whole in text, (whole, text)
    lines = text.splitlines()
    first = next(n for n, line in enumerate(lines) if "20261122-062523" in line)
    assert "da9c" in lines[first] + lines[first + 1]


def test_attempt_choice_is_deliberate():
    rows = [
        {"attempt": 1, "status": "done", "outcome": "unresolved", "patch_path": "p1"},
        {"attempt": 2, "status": "done", "outcome": "resolved", "patch_path": "p2"},
        {"attempt": 3, "status": "done", "outcome": "error", "patch_path": None},
        {"attempt": 4, "status": "agent_done", "outcome": None, "patch_path": "p4"},
    ]
    assert choose_attempt(rows, "first")["attempt"] == 1        # what a single-shot system submits
    assert choose_attempt(rows, "resolved")["attempt"] == 2     # oracle selection, named as such
    assert choose_attempt(rows, "last")["attempt"] == 4
    assert choose_attempt(rows[:1], "resolved")["attempt"] == 1
    assert choose_attempt([rows[2]], "first") is None


@pytest.fixture
async def exported_run(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as store:
        await make_run(store, "r", [("o__r-1", "o/r", 0), ("o__r-2", "o/r", 0), ("o__r-3", "o/r", 0)], attempts=2)
        await attempt(store, "r", "o__r-1", 1, "unresolved", patch="diff --git a/x b/x\n-1\n+2\n", folder=tmp_path)
        await attempt(store, "r", "o__r-1", 2, "resolved", patch="diff --git a/x b/x\n-1\n+3\n", folder=tmp_path)
        await attempt(store, "r", "o__r-2", 1, "resolved", patch="diff --git a/y b/y\n-1\n+2\n", folder=tmp_path)
        await attempt(store, "r", "o__r-3", 1, "error", error_class="infra")           # never produced a patch
        yield store


async def test_export_writes_one_prediction_per_instance_the_harness_accepts(exported_run, tmp_path):
    path, patched = await export_predictions(exported_run, "r", tmp_path)
    assert path == tmp_path / "r" / "submission.jsonl" and patched == 2
    preds = [json.loads(line) for line in path.read_text().splitlines()]
    assert [p["instance_id"] for p in preds] == ["o__r-1", "o__r-2", "o__r-3"]
    assert set(preds[0]) == {"instance_id", "model_name_or_path", "model_patch"}
    assert preds[0]["model_patch"].endswith("+2\n") and preds[2]["model_patch"] == ""
    assert {p["model_name_or_path"] for p in preds} == {"gold"}
    # The official harness's own dataset filter: every id is known, empty patches are skipped.
    dataset = tmp_path / "dataset.jsonl"
    dataset.write_text("".join(json.dumps({"instance_id": p["instance_id"]}) + "\n" for p in preds))
    chosen = get_dataset_from_preds(str(dataset), "test", [], {p["instance_id"]: p for p in preds}, "check", False)
    assert [row["instance_id"] for row in chosen] == ["o__r-1", "o__r-2"]
    oracle, _ = await export_predictions(exported_run, "r", tmp_path, out=tmp_path / "oracle.json", pick="resolved")
    assert json.loads(oracle.read_text())[0]["model_patch"].endswith("+3\n")


def test_export_command(tmp_path, exported_run):
    out = subprocess.run([sys.executable, "-m", "engine", "export", "r", "--runs-dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"predictions": str(tmp_path / "r" / "submission.jsonl"), "patches": 2,
                                      "pick": "first"}


async def test_kept_metrics_are_reused_until_the_run_or_its_baseline_changes(tmp_path):
    """The leaderboard recomputes only runs whose rows (or baseline's rows) changed since their
    metrics were kept; a change of any kind shows at once, never a stale figure."""
    from engine.results import metricscache

    async with Store(tmp_path / "ramp.sqlite") as store:
        await fill_board(store, tmp_path)
        computed: list[str] = []
        real = metricscache.run_metrics

        async def counting(store_, run_id, **kw):
            computed.append(run_id)
            return await real(store_, run_id, **kw)

        metricscache.run_metrics = counting  # type: ignore[assignment]
        try:
            first = await leaderboard_rows(store, tmp_path)
            assert sorted(computed) == ["all", "half-big", "half-small"]
            computed.clear()
            assert await leaderboard_rows(store, tmp_path) == first and computed == []

            await store.update_attempt("half-small", "a", 1, outcome="unresolved")  # in place, no event
            rows = {r["run_id"]: r for r in await leaderboard_rows(store, tmp_path)}
            assert computed == ["half-small"] and rows["half-small"]["resolved"] == 0
            computed.clear()
            await attempt(store, "half-big", "i9", 2, "resolved")  # a new attempt
            rows = {r["run_id"]: r for r in await leaderboard_rows(store, tmp_path)}
            assert computed == ["half-big"]
            computed.clear()

            # A baseline (an empty-agent run on the same data) appears: every run measured against
            # it is recomputed and shows the spread; runs it is not a baseline for are not.
            await make_run(store, "base", [("a", "o/r", 0), ("b", "o/r", 0)], agent="empty")
            await attempt(store, "base", "a", 1, "unresolved")
            await attempt(store, "base", "b", 1, "unresolved")
            rows = {r["run_id"]: r for r in await leaderboard_rows(store, tmp_path)}
            assert sorted(computed) == ["all", "base", "half-big", "half-small"]
            assert rows["all"]["baseline_spread"] is not None
        finally:
            metricscache.run_metrics = real  # type: ignore[assignment]
