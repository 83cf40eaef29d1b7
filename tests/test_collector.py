"""Python's collector while a run starts (engine.core.collector): paused by the ramp entry point,
resumed with the start-up's objects frozen once the run starts, or at once by any other command."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import cli, frontend
from engine.core import collector
from engine.core.config import load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def collector_on():
    yield
    collector.resume()
    gc.enable()
    gc.unfreeze()


def test_resume_freezes_the_start_up_and_collects_again_and_leaves_alone_a_collector_it_did_not_stop():
    collector.pause()
    assert not gc.isenabled()
    frozen = gc.get_freeze_count()
    collector.resume()
    assert gc.isenabled() and gc.get_freeze_count() > frozen
    gc.disable()  # someone else's
    collector.pause()
    collector.resume()
    assert not gc.isenabled()


def test_a_run_resumes_the_collector_before_it_starts(monkeypatch, tmp_path):
    seen: list[bool] = []

    def run(main):  # stands in for the event loop the run would start
        seen.append(gc.isenabled())
        return SimpleNamespace(exit_code=0)

    monkeypatch.setattr(frontend.anyio, "run", run)
    settings = load_settings(overrides={"paths.runs_dir": str(tmp_path)})
    collector.pause()
    assert frontend.launch(settings, argparse.Namespace(json=True, headless=True, run_id="r-1")) == 0
    assert seen == [True]


def test_any_other_command_resumes_it_at_once(tmp_path, capsys):
    collector.pause()
    cli.main(["leaderboard", "--runs-dir", str(tmp_path), "--json"])
    assert gc.isenabled()


PROBE = """
import gc, runpy, sys
seen = []
class Finder:  # notes whether the collector runs when the engine's command line is imported
    def find_spec(self, name, path=None, target=None):
        if name == "engine.cli":
            seen.append(gc.isenabled())
sys.meta_path.insert(0, Finder())
sys.argv = ["ramp", "--version"]
try:
    if {console_script}:
        import tui.cli
        assert gc.isenabled(), "importing tui.cli turned the collector off"
        tui.cli.main(["--version"])
    else:
        runpy.run_module("engine", run_name="__main__")
except SystemExit:
    pass
print(seen)
"""


@pytest.mark.parametrize("console_script", [True, False], ids=["ramp", "python -m engine"])
def test_the_ramp_entry_points_pause_it_before_they_import_the_engine_and_importing_them_does_not(console_script):
    # The collector is off from the command's first import of the engine on (about 110
    # collections, 16 ms, before a run's first model call); a test that imports tui.cli keeps it.
    probe = PROBE.format(console_script=console_script)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[False]", (done.stdout, done.stderr)
