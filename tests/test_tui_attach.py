"""``ramp watch``: the TUI attached to a run another process executes, acting through the store.

A headless ``python -m engine run`` waits at gate 1 under manual approval. The attached app sees
its progress arrive through the store, sends ``rerun`` and ``approve`` (the other process obeys
both: a second attempt, then phase 2), and detaching with ``q`` leaves the run going to its end.
"""

from __future__ import annotations

import pytest

from engine.results.runview import RunSnapshot
from tui.app import RampApp
from tui.glyphs import ASCII
from tui.messages import CommandSent, RunUpdated
from tui.screens.dialogs import ConfirmScreen

from .runhelpers import db_rows, json_lines, ramp_popen
from .tuihelpers import wait_for

pytestmark = pytest.mark.slow

FIRST, SECOND = "ramp-bundled__romans-1", "ramp-bundled__iniparse-1"


def latest(seen) -> RunSnapshot | None:
    snaps = [m.snapshot for m in seen if isinstance(m, RunUpdated)]
    return snaps[-1] if snaps else None


async def test_watch_sees_progress_and_the_other_process_obeys_rerun_and_approve(tmp_path):
    runs = tmp_path / "runs"
    proc = ramp_popen(["run", "--dataset", "bundled", "--instances", f"{FIRST},{SECOND}", "--agent", "gold",
                       "--phases", "1,2", "--headless", "--json", "--runs-dir", str(runs), "--run-id", "watch-1"],
                      cache_dir=tmp_path / "cache", RAMP_RAMP__APPROVAL="manual")
    seen: list = []
    try:
        app = RampApp(runs, "watch-1", glyphs=ASCII)
        async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
            await wait_for(pilot, lambda: latest(seen) is not None and latest(seen).awaiting is not None,
                           timeout=300, what="the other process to wait at gate 1")
            seqs = [m.snapshot.seq for m in seen if isinstance(m, RunUpdated)]
            assert seqs == sorted(seqs) and seqs[-1] > 0  # progress arrived, in order
            assert latest(seen).row(FIRST).outcome == "resolved"
            assert latest(seen).meta["pid"] == proc.pid

            await pilot.press("r")
            assert isinstance(app.screen, ConfirmScreen)  # it changes the run: asked first
            await pilot.press("y")
            await wait_for(pilot, lambda: latest(seen).row(FIRST).attempts_done == 2, timeout=120,
                           what="the rerun's second attempt")
            await pilot.press("a")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: latest(seen).current_phase == 1, timeout=120, what="phase 2")
            await pilot.press("q")  # detach: no question asked, the run goes on
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [(m.command, m.arg) for m in seen if isinstance(m, CommandSent)] == [("rerun", FIRST), ("approve", "")]
    assert proc.returncode == 0, stderr[-2000:]
    events = json_lines(stdout)
    handled = [(e["command"], e["arg"]) for e in events if e["kind"] == "command"]
    assert handled == [("rerun", FIRST), ("approve", "")]
    assert [(e["decision"], e["by"]) for e in events if e["kind"] == "gate_decision"] == [("approve", "operator")]
    assert events[-1]["status"] == "completed"
    attempts = db_rows(runs, "SELECT attempt, outcome FROM attempts WHERE instance_id = ?", (FIRST,))
    assert sorted((a["attempt"], a["outcome"]) for a in attempts) == [(1, "resolved"), (2, "resolved")]
    assert [c["command"] for c in db_rows(runs, "SELECT command FROM commands ORDER BY id")] == ["rerun", "approve"]
