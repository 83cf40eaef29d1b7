"""SVG snapshots of every screen at 80×24 (an SSH session) and 160×48, on a deterministic store.

The store is filled through the real Store API with fixed ids and timestamps (tests/tuihelpers.py).
Autouse fixtures freeze the app's clock (elapsed time, durations, ETA), turn animations off and stop
the cursor blinking, so a snapshot changes only when what the screen shows changes. Regenerate after
an intended change with ``python -m pytest tests/test_tui_snapshots.py --snapshot-update`` and look
at the report before committing.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input

from tui.app import RampApp
from tui.glyphs import ASCII, UNICODE

from .tuihelpers import NOW, fill, wait_for

SIZES = {"80x24": (80, 24), "120x40": (120, 40), "200x50": (200, 50)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("tui-store") / "runs"
    asyncio.run(fill(path))
    return path


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RampApp, "clock", staticmethod(lambda: NOW))


@pytest.fixture(autouse=True)
def no_animation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("textual.constants.TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setattr(Input.__dict__["cursor_blink"], "_default", False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def settle(*keys: str, until=lambda app: True):
    """A run_before: wait for the first snapshot, press ``keys``, then wait for ``until(app)``."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.snapshot is not None, timeout=30, what="the first snapshot")
        await pilot.press(*keys)
        await wait_for(pilot, lambda: until(app), timeout=30, what="the screen's data")
        await pilot.pause()  # let the layout catch up with the data before the screenshot

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(snap_compare, runs, size):
    assert snap_compare(RampApp(runs, "nightly-1", glyphs=UNICODE), terminal_size=SIZES[size], run_before=settle())


@pytest.mark.parametrize("size", SIZES)
def test_instance_detail(snap_compare, runs, size):
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    loaded = settle("down", "enter", until=lambda app: getattr(app.screen, "detail", None) is not None)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=loaded)


def test_instance_trajectory(snap_compare, runs):
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    loaded = settle("down", "enter", until=lambda app: getattr(app.screen, "detail", None) is not None)

    async def then_trajectory(pilot) -> None:
        await loaded(pilot)
        await pilot.press("j")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES["80x24"], run_before=then_trajectory)


def test_instance_steps_wrap_at_80_columns(snap_compare, runs):
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    loaded = settle("down", "down", "enter", until=lambda app: getattr(app.screen, "detail", None) is not None)

    async def then_steps(pilot) -> None:
        await loaded(pilot)
        await pilot.press("e")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES["80x24"], run_before=then_steps)


@pytest.mark.parametrize("size", SIZES)
def test_phases_and_gates(snap_compare, runs, size):
    app = RampApp(runs, "pilot-1", glyphs=UNICODE)
    # The fixture's second phase waits for approval: wait for that state, not merely for a first one.
    judged = settle("2", until=lambda app: any(p.status == "awaiting_approval" for p in getattr(app.screen, "_phases", ())))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=judged)


@pytest.mark.parametrize("size", SIZES)
def test_leaderboard(snap_compare, runs, size):
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    ranked = settle("3", until=lambda app: bool(getattr(app.screen, "rows", ())))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=ranked)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, runs, size):
    app = RampApp(runs, "nightly-1", glyphs=UNICODE)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=settle("question_mark"))


def test_dashboard_ascii_without_color(snap_compare, runs, monkeypatch):
    """An SSH session in a C locale with NO_COLOR: ASCII glyphs, monochrome, same information."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(RampApp(runs, "nightly-1", glyphs=ASCII), terminal_size=(80, 24), run_before=settle())
