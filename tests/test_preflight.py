"""The host checks a run makes before its first call, and the fuller ones of ramp doctor."""

from __future__ import annotations

import subprocess

from engine.core.config import load_settings
from engine.run import preflight
from engine.run.preflight import host_checks
from engine.store import Store


def test_a_run_takes_wal_from_its_own_store_and_finds_its_tools_without_starting_them(tmp_path, monkeypatch):
    # The probe store and a process per tool took 7-10 ms of a run's start, on the event loop.
    settings = load_settings(overrides={"paths.runs_dir": str(tmp_path / "runs")})
    started: list[list[str]] = []
    real_run = subprocess.run

    def run(args, *rest, **kwargs):
        started.append(list(args))
        return real_run(args, *rest, **kwargs)

    monkeypatch.setattr(preflight.subprocess, "run", run)
    probes: list[object] = []
    monkeypatch.setattr(preflight, "wal_available", lambda folder: probes.append(folder) or True)
    quick = {c.name: c for c in host_checks(settings, store_wal=False)}
    assert started == [] and probes == []
    assert quick["git"].ok and quick["git"].detail.endswith("/git") and quick["patch"].ok
    assert not quick["sqlite"].ok and "WAL unavailable" in quick["sqlite"].detail  # the store's word
    full = {c.name: c for c in host_checks(settings)}  # ramp doctor, ramp validate
    assert [a[1:] for a in started] == [["--version"], ["--version"]] and len(probes) == 1
    assert full["git"].detail.startswith("git version") and full["sqlite"].ok


async def test_a_store_says_whether_it_keeps_a_write_ahead_log(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as store:
        assert store.wal
