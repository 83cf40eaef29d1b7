"""The TUI over a real in-process run (bundled tasks, gold agent), asserted on its message stream.

One ramp of two phases under manual approval: the run stops at gate 1, where the operator opens an
instance (its diff arrives), reruns it with ``r`` (the store gets attempt 2), and approves with
``a`` (phase 2 runs to the end). Quitting an in-process run asks first and stops it resumably. And
on a fixed store: a dialog owns its keys, and the gate keys act only when a gate waits.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import pytest

from engine.core.config import load_settings
from engine.results.runview import RunSnapshot
from tui.app import RampApp
from tui.glyphs import UNICODE
from tui.messages import CommandSent, DetailLoaded, EngineFinished, RunUpdated
from tui.screens.detail import DetailScreen
from tui.screens.dialogs import ConfirmScreen, HelpScreen

from .runhelpers import db_rows
from .tuihelpers import fill, wait_for

pytestmark = pytest.mark.slow

FIRST, SECOND = "ramp-bundled__romans-1", "ramp-bundled__iniparse-1"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("cache")


def settings_for(runs, cache):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    return load_settings(None, environ=environ, overrides={
        "paths.runs_dir": str(runs), "paths.cache_dir": str(cache), "run.dataset": "bundled",
        "run.instances": [FIRST, SECOND], "run.agent": "gold", "ramp.phases": "1,2", "ramp.approval": "manual",
    })


def snapshots(seen) -> list[RunSnapshot]:
    return [m.snapshot for m in seen if isinstance(m, RunUpdated)]


def latest(seen) -> RunSnapshot | None:
    snaps = snapshots(seen)
    return snaps[-1] if snaps else None


async def test_in_process_run_opens_a_diff_reruns_and_approves_its_gate(tmp_path, cache):
    runs = tmp_path / "runs"
    seen: list = []
    app = RampApp(runs, "tui-1", settings=settings_for(runs, cache), glyphs=UNICODE)
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: latest(seen) is not None and latest(seen).awaiting is not None, what="gate 1")
        at_gate = latest(seen)
        assert at_gate.row(FIRST).state == "resolved" and at_gate.row(SECOND).state == "queued"
        assert at_gate.awaiting.index == 0 and at_gate.awaiting.verdict.tier == "PROCEED"

        await pilot.press("enter")  # the cursor starts on the first instance
        await wait_for(pilot, lambda: any(isinstance(m, DetailLoaded) for m in seen), what="the detail")
        detail = next(m.detail for m in seen if isinstance(m, DetailLoaded))
        assert isinstance(app.screen, DetailScreen) and detail.instance_id == FIRST
        assert detail.attempts[0].diff.startswith("diff --git") and detail.attempts[0].outcome == "resolved"
        assert any(good for _, good in detail.attempts[0].fail_to_pass)

        await pilot.press("escape", "r")
        assert isinstance(app.screen, ConfirmScreen) and not any(isinstance(m, CommandSent) for m in seen)
        await pilot.press("y")
        await wait_for(pilot, lambda: any(isinstance(m, CommandSent) for m in seen), what="the rerun command")
        sent = [m for m in seen if isinstance(m, CommandSent)]
        assert [(m.command, m.arg) for m in sent] == [("rerun", FIRST)]
        await wait_for(pilot, lambda: latest(seen).row(FIRST).attempts_done == 2, what="attempt 2 in the feed")
        attempts = db_rows(runs, "SELECT attempt, status, outcome FROM attempts WHERE instance_id = ?", (FIRST,))
        assert sorted((a["attempt"], a["status"], a["outcome"]) for a in attempts) == [
            (1, "done", "resolved"), (2, "done", "resolved")]

        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: any(isinstance(m, EngineFinished) for m in seen), what="the end of the run")
        finished = next(m for m in seen if isinstance(m, EngineFinished))
        assert (finished.exit_code, finished.error) == (0, "")
        await wait_for(pilot, lambda: latest(seen).status == "completed", what="the completed status")
        end = latest(seen)
        assert {r.instance_id: r.outcome for r in end.rows} == {FIRST: "resolved", SECOND: "resolved"}
        assert [(p.decision, p.decided_by) for p in end.phases] == [("approve", "operator"), (None, None)]
        assert [m.command for m in seen if isinstance(m, CommandSent)] == ["rerun", "approve"]
        await pilot.press("q")  # the run is over: quitting needs no confirmation
    assert app.return_value == 0


async def test_quitting_an_in_process_run_asks_then_stops_it_resumably(tmp_path, cache):
    runs = tmp_path / "runs"
    seen: list = []
    app = RampApp(runs, "tui-quit", settings=settings_for(runs, cache), glyphs=UNICODE)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: latest(seen) is not None and latest(seen).awaiting is not None, what="gate 1")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # changed their mind: the run goes on
        assert app.engine_running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q", "y")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert [m.command for m in seen if isinstance(m, CommandSent)] == ["stop"]
    assert app.return_value == 130
    run = db_rows(runs, "SELECT status, exit_code FROM runs WHERE run_id = 'tui-quit'")[0]
    assert run == {"status": "stopped", "exit_code": 130}


async def test_dialogs_own_their_keys_and_gate_keys_need_a_waiting_gate(tmp_path):
    runs = tmp_path / "runs"
    await fill(runs)
    seen: list = []
    app = RampApp(runs, "pilot-1", glyphs=UNICODE)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: latest(seen) is not None, what="the first snapshot")
        await pilot.press("question_mark", "a")
        assert isinstance(app.screen, HelpScreen)  # no approval dialog under the help
        await pilot.press("escape", "a", "q")
        assert isinstance(app.screen, ConfirmScreen) and "Approve gate 1?" in app.screen.question
        await pilot.press("n", "3", "1")
        assert not isinstance(app.screen, ConfirmScreen)
    assert not [m for m in seen if isinstance(m, CommandSent)]

    seen.clear()
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: latest(seen) is not None, what="the first snapshot")
        await pilot.press("a", "x")
        assert not isinstance(app.screen, ConfirmScreen)  # nothing waits: a notice, no dialog
    assert not [m for m in seen if isinstance(m, CommandSent)]


@asynccontextmanager
async def nightly(tmp_path, size: tuple[int, int], **options):
    """The app on the filled store's nightly-1 run, once its first snapshot is drawn."""
    runs = tmp_path / "runs"
    await fill(runs)
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    async with app.run_test(size=size, **options) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None, what="the first snapshot")
        yield app, pilot


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_toasts_never_cover_the_counters_or_the_alerts(tmp_path, size):
    from textual.widgets._toast import Toast

    from tui.widgets.panels import AlertStrip, CountersBar, RunHeader

    async with nightly(tmp_path, size, notifications=True) as (app, pilot):
        for n in range(3):
            app.notify(f"notice {n}: a message long enough to need most of a toast's width", timeout=30)
        await pilot.pause(0.3)
        toasts = [t.region for t in app.screen.query(Toast)]
        assert len(toasts) == 3
        kept = [w.region for w in (app.screen.query_one(RunHeader), app.screen.query_one(CountersBar),
                                   app.screen.query_one(AlertStrip))]
        assert not [(t, k) for t in toasts for k in kept if t.overlaps(k)], (toasts, kept)


async def test_the_selected_instance_is_shown_whole_under_the_table_at_80_columns(tmp_path):
    from tui.widgets.panels import SelectedLine

    async with nightly(tmp_path, (80, 24)) as (app, pilot):
        await pilot.press("down", "down")  # the third row: django__django-11133, error:model_format
        await pilot.pause(0.2)
        line = app.screen.query_one(SelectedLine)
        text = line.render().plain
        assert app.selected == "django__django-11133"
        assert text.startswith("django__django-11133  django/django  error:model_format  attempt 1/2"), text
        row = app.snapshot.row("django__django-11133")
        assert row.detail and row.detail[:20] in text  # the state column cuts it; this line does not


async def test_the_gates_screen_follows_the_latest_gate_until_the_operator_picks_one(tmp_path):
    from dataclasses import replace

    from tui.screens.gates import GatesScreen

    async with nightly(tmp_path, (120, 40)) as (app, pilot):
        full = app.snapshot
        judged = [p.index for p in full.phases if p.verdict is not None]
        assert len(judged) >= 2
        # As a feed catching up shows it: only the first gate judged so far, nothing waiting.
        early = replace(full, phases=tuple(p if p.index == judged[0] else replace(p, verdict=None, status="pending",
                                                                               decision=None) for p in full.phases))
        await pilot.press("2")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, GatesScreen)
        screen.show_snapshot(early)
        assert screen.phase == judged[0]
        settled = replace(full, phases=tuple(replace(p, status="done") if p.index in judged else p
                                             for p in full.phases))
        screen.show_snapshot(settled)
        assert screen.phase == judged[-1]  # it moved on to the latest gate
        await pilot.press("up")
        await pilot.pause(0.1)
        picked = screen.phase
        assert picked != judged[-1]
        screen.show_snapshot(replace(settled, phases=tuple(replace(p, name="renamed") for p in settled.phases)))
        assert screen.phase == picked  # the operator's choice stays


async def test_steps_trajectory_and_log_wrap_at_80_columns_and_a_diff_scrolls(tmp_path):
    from textual.widgets import Static

    async with nightly(tmp_path, (80, 24)) as (app, pilot):
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "detail", None) is not None, what="the detail")
        long = "because " + "the model wrote a reply without any edit block, " * 6
        for tab in ("steps", "trajectory", "log", "diff"):
            await pilot.press({"steps": "e", "trajectory": "j", "log": "l", "diff": "d"}[tab])
            body = app.screen.query_one(f"#{tab}-body", Static)
            body.update(long)
            await pilot.pause(0.1)
            if tab == "diff":
                assert body.size.width > 80  # one line, scrolled sideways: a diff keeps its columns
            else:
                assert body.size.width <= 80 and body.size.height >= 4, (tab, body.size)  # wrapped


async def test_opening_details_again_and_again_leaves_nothing_behind(tmp_path):
    """One detail screen serves every opening, and the dashboard's footer keeps only the keys it shows.

    Each opening used to build a new detail screen (about 50,000 objects of garbage when it closed)
    and leave the dashboard's footer holding every key it had drawn (Textualize/textual#6666).
    """
    from textual.widgets import Footer, Static
    from textual.widgets._footer import FooterKey

    from tui.widgets.instance_table import InstanceTable

    async with nightly(tmp_path, (80, 24)) as (app, pilot):
        dashboard = app.screen
        footer = dashboard.query_one(Footer)
        opened = []
        for _ in range(4):
            wanted = dashboard.query_one(InstanceTable).selected
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail is not None,
                           what="the detail")
            title = str(app.screen.query_one("#detail-title", Static).render())
            opened.append((id(app.screen), wanted, app.screen.detail.instance_id, title.split()[0]))
            await pilot.press("escape", "down")
            await pilot.pause(0.1)
        assert len({screen for screen, *_ in opened}) == 1
        assert [(w, w, w) for _, w, *_ in opened] == [tuple(o[1:]) for o in opened]  # no instance's left-overs
        assert len({w for _, w, *_ in opened}) == 4
        keys = footer.query(FooterKey)
        assert len(getattr(footer, "__watchers")["compact"]) == len(keys)

        # What the keys are still redraws them: sorting, refused, is drawn disabled.
        dashboard.check_action = lambda action, parameters: None if action == "sort" else True  # type: ignore[method-assign]
        dashboard.refresh_bindings()
        await wait_for(pilot, lambda: [k.has_class("-disabled") for k in footer.query(FooterKey) if k.action == "sort"] == [True],
                       what="the footer to draw sort disabled", timeout=10)


async def test_a_burst_of_snapshots_is_coalesced_into_the_latest(tmp_path):
    from engine.results.runview import RunView

    seen: list = []
    app = RampApp(tmp_path / "runs", "later", glyphs=UNICODE)
    burst = [RunView("later").snapshot(float(i)) for i in range(200)]
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        for snapshot in burst:  # posted faster than the app handles them
            app.post_message(RunUpdated(snapshot))
        await pilot.pause()
        ours = {id(s) for s in burst}
        handled = [m.snapshot for m in seen if isinstance(m, RunUpdated) and id(m.snapshot) in ours]
        assert handled[-1] is burst[-1] and app.snapshot is burst[-1]
        assert len(handled) < 5


def test_the_quit_dialog_of_a_demo_offers_the_command_that_resumes_it(tmp_path):
    """It once said `ramp run --run-id X` for a demo, which `ramp run` refuses (other settings)."""
    from tui.cli import resume_command

    assert resume_command(["demo", "--auto-approve"], "demo-7") == "ramp demo --auto-approve --run-id demo-7"
    assert resume_command(["run", "--run-id", "n-1", "--agent", "gold"], "n-1") == "ramp run --run-id n-1 --agent gold"
    app = RampApp(tmp_path / "runs", "demo-7", resume_command=resume_command(["demo"], "demo-7"))
    assert app.resume_command == "ramp demo --run-id demo-7"
