"""``ramp runs``: list, show, and remove runs with their folders, never a live one."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
import time

import anyio

from engine.store import Store
from tests.rampfill import attempt, call, make_run

from .runhelpers import ROOT


def ramp(runs, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "runs", *args, "--runs-dir", str(runs)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip


def fill(runs) -> None:
    async def go() -> None:
        async with Store(runs / "ramp.sqlite") as store:
            for run_id in ("old", "new", "live"):
                await make_run(store, run_id, [("a", "o/r", 0), ("b", "o/r", 0)], agent="direct-edit")
                await attempt(store, run_id, "a", 1, "resolved")
                await call(store, run_id, "a", cost=0.25)
                (runs / run_id).mkdir()
                (runs / run_id / "manifest.json").write_text("{}")
            await store.update_run("live", status="running", pid=os.getpid(), host=platform.node(),
                                   heartbeat=time.time())  # fmt: skip

    anyio.run(go)
    conn = sqlite3.connect(runs / "ramp.sqlite")
    with conn:
        conn.execute("UPDATE runs SET created_at = ? WHERE run_id = 'old'", (time.time() - 40 * 86400,))
    conn.close()


def test_list_show_and_remove_runs_with_their_folders(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    fill(runs)
    listed = {r["run_id"]: r for r in json.loads(ramp(runs, "--json").stdout)}
    assert set(listed) == {"old", "new", "live"}
    assert (listed["new"]["resolved"], listed["new"]["scored"], listed["new"]["cost_usd"]) == (1, 1, 0.25)
    shown = json.loads(ramp(runs, "show", "new", "--json").stdout)
    assert shown["run_id"] == "new" and shown["metrics"]["resolved"] == 1 and shown["folder"] == str(runs / "new")

    dry = ramp(runs, "rm", "new")
    assert dry.returncode == 0 and "nothing removed: pass --yes" in dry.stdout and (runs / "new").exists()
    refused = ramp(runs, "rm", "live", "--yes")
    assert refused.returncode == 2 and "is running in another process" in refused.stderr
    assert "ramp ctl live stop" in refused.stderr and (runs / "live").exists()
    missing = ramp(runs, "show", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr

    gone = ramp(runs, "rm", "new", "--yes")
    assert gone.returncode == 0 and "removed new" in gone.stdout and not (runs / "new").exists()
    pruned = ramp(runs, "prune", "--older-than", "30", "--yes", "--json")
    assert [r["run_id"] for r in json.loads(pruned.stdout)] == ["old"] and not (runs / "old").exists()

    conn = sqlite3.connect(runs / "ramp.sqlite")
    assert [r[0] for r in conn.execute("SELECT run_id FROM runs")] == ["live"]
    for table in ("instances", "attempts", "evaluations", "phases", "events"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id != 'live'").fetchone()[0] == 0
    # The removed runs' model calls stay, without their ids: the day's quota still counts them.
    assert conn.execute("SELECT COUNT(*) FROM llm_calls WHERE run_id IS NULL").fetchone()[0] == 2
    conn.close()
