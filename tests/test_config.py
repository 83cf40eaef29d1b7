"""Config layering and the exit-2 error messages that name the file, the field and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.config import load_settings
from engine.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ramp.yaml"
    path.write_text(text)
    return path


def test_layers_file_then_environment_then_flags(tmp_path):
    path = write(tmp_path, "run:\n  agent: empty\n  attempts: 2\ngovernor:\n  cpu_target: 0.5\n")
    s = load_settings(path, environ={"RAMP_RUN__ATTEMPTS": "3", "RAMP_GOVERNOR__CPU_TARGET": "0.6"},
                      overrides={"run.attempts": 4})
    assert s.run.agent == "empty"
    assert s.run.attempts == 4
    assert s.governor.cpu_target == 0.6


def test_runs_dir_shortcut_and_phases_shorthand(tmp_path):
    s = load_settings(write(tmp_path, ""), environ={"RAMP_RUNS_DIR": "/tmp/x"}, overrides={"ramp.phases": "5,10,30"})
    assert s.paths.runs_dir == Path("/tmp/x")
    assert s.phase_sizes() == [5, 10, 30]
    assert s.paths.resolved_cache_dir() == Path("/tmp/x/.cache")


def test_relative_runs_and_cache_dirs_are_fixed_to_the_starting_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(write(tmp_path, "paths:\n  runs_dir: runs\n  cache_dir: ~/ramp-cache\n"), environ={})
    assert s.paths.runs_dir == tmp_path / "runs"
    assert s.paths.resolved_cache_dir() == Path.home() / "ramp-cache"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run:\n  atempts: 3\n", ["ramp.yaml: run.atempts: unknown key (did you mean 'attempts'?)"]),
        ("run:\n  attempts: three\n", ["ramp.yaml: run.attempts: expected", "valid integer", "'three'"]),
        ("governor:\n  cpu_target: 1.5\n", ["governor.cpu_target", "less than or equal to 1", "1.5"]),
        ("ramp:\n  phases: [10, 5]\n", ["ramp.phases", "strictly increase"]),
        ("run: [1, 2\n", ["ramp.yaml: not valid YAML at line"]),
        ("- just\n- a list\n", ["expected a mapping"]),
        ("bogus:\n  x: 1\n", ["bogus: unknown key", "allowed keys here: paths, run, governor"]),
    ],
)
def test_bad_config_names_file_field_and_expectation(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    message = str(info.value)
    for fragment in expected:
        assert fragment in message


def test_environment_errors_name_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment variable RAMP_RUN__ATTEMPTS: run.attempts"):
        load_settings(write(tmp_path, ""), environ={"RAMP_RUN__ATTEMPTS": "many"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "-c", "missing.yaml", "--headless"], "missing.yaml: file not found"),
        (["run", "--attempts", "0", "--headless"], "command-line flag for run.attempts: run.attempts: expected"),
        (["run", "--agent", "nosuch", "--headless"], "unknown agent 'nosuch'"),
    ],
)
def test_cli_exits_2_without_traceback(tmp_path, args, fragment):
    out = subprocess.run(
        [sys.executable, "-m", "engine", *args, "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_json_failure_still_ends_with_a_summary(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--headless", "--json", "-c", "missing.yaml"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 2
    last = out.stdout.strip().splitlines()[-1]
    assert '"kind": "summary"' in last and '"exit_code": 2' in last
