"""The command line at its edges: a closed pipe, control of a run no process is running, commands
queued while a run was down, and `watch` on a run that is still starting."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from .runhelpers import ROOT, db_rows, json_lines, ramp, ramp_env, ramp_popen

pytestmark = pytest.mark.slow

ONE = "ramp-bundled__romans-1"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cache_dir):
    """A finished one-instance gold run, "done-1"."""
    runs = tmp_path_factory.mktemp("runs") / "runs"
    out = ramp(["run", "--dataset", "bundled", "--instances", ONE, "--agent", "gold", "--headless",
                "--runs-dir", str(runs), "--run-id", "done-1"], cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr
    return runs


def test_a_closed_pipe_ends_quietly(finished, cache_dir):
    # `ramp status RUN | head -1` once crashed: "internal error: BrokenPipeError", exit 3.
    out = subprocess.run(
        f"{sys.executable} -m engine status done-1 --runs-dir {finished} | true; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", cwd=ROOT, env=ramp_env(cache_dir), capture_output=True, text=True,
        timeout=120,
    )
    assert (out.returncode, out.stderr) == (141, "")


def test_ctl_tells_a_run_no_process_is_running_apart(finished, cache_dir):
    args = ["--runs-dir", str(finished)]
    paused = ramp(["ctl", "done-1", "pause", *args], cache_dir=cache_dir)
    assert paused.returncode == 2 and "no process is running it" in paused.stderr
    assert "not queued" in paused.stderr and "ramp run --run-id done-1" in paused.stderr
    approve = ramp(["ctl", "done-1", "approve", *args], cache_dir=cache_dir)
    assert approve.returncode == 2 and "no gate waits" in approve.stderr
    rerun = ramp(["ctl", "done-1", "rerun", ONE, *args], cache_dir=cache_dir)
    assert rerun.returncode == 0 and "applies when it resumes" in rerun.stdout
    assert [c["command"] for c in db_rows(finished, "SELECT command FROM commands")] == ["rerun"]
    assert ramp(["ctl", "nope", "pause", *args], cache_dir=cache_dir).returncode == 2


def test_a_pause_queued_while_the_run_was_down_is_not_replayed(tmp_path, finished, cache_dir):
    # An older Ramp queued `ctl pause` on a stopped run without a word; the resume replayed it and
    # the run paused with nobody watching, forever.
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(finished, runs)
    conn = sqlite3.connect(runs / "ramp.sqlite")
    with conn:
        conn.execute("DELETE FROM commands")
        conn.execute("INSERT INTO commands (run_id, ts, command, arg) VALUES ('done-1', ?, 'pause', '')", (time.time(),))
        conn.execute("UPDATE runs SET status = 'stopped'")
        conn.execute("UPDATE attempts SET status = 'running', outcome = NULL")
        conn.execute("UPDATE instances SET state = 'agent', outcome = NULL")
    conn.close()
    out = ramp(["run", "--dataset", "bundled", "--instances", ONE, "--agent", "gold", "--headless", "--json",
                "--runs-dir", str(runs), "--run-id", "done-1"], cache_dir=cache_dir, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    alerts = [e["message"] for e in json_lines(out.stdout) if e["kind"] == "alert"]
    assert any("`pause`" in a and "not replayed" in a for a in alerts), alerts
    assert db_rows(runs, "SELECT status FROM commands") == [{"status": "expired"}]


def test_watch_waits_for_a_run_that_is_starting(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    watch = subprocess.Popen(
        [sys.executable, "-m", "engine", "watch", "late-1", "--wait", "120", "--runs-dir", str(runs)],
        cwd=ROOT, env=ramp_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(1.5)  # the watcher looks first: no store, no run yet
    run = ramp_popen(["run", "--dataset", "bundled", "--instances", ONE, "--agent", "gold", "--headless",
                      "--runs-dir", str(runs), "--run-id", "late-1"], cache_dir=cache_dir)
    try:
        _, stderr = watch.communicate(timeout=120)
        run.communicate(timeout=300)
    finally:
        for proc in (watch, run):
            if proc.poll() is None:
                proc.kill()
    assert "waiting up to 120 s for run late-1" in stderr
    # It found the run; without a terminal it then says it needs one (a front end is not here).
    assert watch.returncode == 2 and "needs the terminal UI" in stderr and "no run" not in stderr, stderr
    gone = subprocess.run([sys.executable, "-m", "engine", "watch", "never", "--wait", "1", "--runs-dir", str(runs)],
                          cwd=ROOT, env=ramp_env(cache_dir), capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2 and "no run 'never'" in gone.stderr and "after waiting 1 s" in gone.stderr


def test_version_answers(tmp_path):
    from importlib.metadata import version

    out = ramp(["--version"], cache_dir=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"ramp {version('ramp')}"
