"""Shell completion: the candidates come from the real parser, the store's run ids and the model
catalog; the bash script works in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys

import anyio
import pytest

from engine.cli import build_parser
from engine.completion import SCRIPTS, candidates
from engine.store import Store
from tests.rampfill import make_run

from .runhelpers import ROOT


@pytest.fixture
def runs_dir(tmp_path):
    async def fill() -> None:
        async with Store(tmp_path / "ramp.sqlite") as store:
            for run_id in ("nightly-1", "nightly-2", "ab-test"):
                await make_run(store, run_id, [("a", "o/r", 0)])

    anyio.run(fill)
    return tmp_path


def test_commands_flags_actions_runs_and_models_complete(runs_dir, monkeypatch):
    monkeypatch.chdir(ROOT)  # the shipped model catalog, config/models.yaml
    parser = build_parser()
    assert candidates(parser, ["wa"]) == ["watch"]
    assert "leaderboard" in candidates(parser, [""]) and "completion" in candidates(parser, [""])
    assert candidates(parser, ["run", "--mod"]) == ["--model"]
    assert candidates(parser, ["runs", ""]) == ["prune", "rm", "show"]
    assert candidates(parser, ["runs", "rm", "--y"]) == ["--yes"]
    assert candidates(parser, ["completion", ""]) == ["bash", "fish", "zsh"]
    assert candidates(parser, ["run", "--model", "scripted-d"]) == ["scripted-demo"]
    at = ["--runs-dir", str(runs_dir)]
    assert candidates(parser, ["status", *at, "night"]) == ["nightly-1", "nightly-2"]
    assert candidates(parser, ["runs", "show", *at, ""]) == ["ab-test", "nightly-1", "nightly-2"]
    assert candidates(parser, ["run", *at, "--run-id", "n"]) == ["nightly-1", "nightly-2"]
    assert candidates(parser, ["ctl", *at, "nightly-1", "re"]) == ["reject", "rerun", "rerun-failed", "resume"]
    monkeypatch.setenv("RAMP_RUNS_DIR", str(runs_dir))
    assert candidates(parser, ["watch", "ab"]) == ["ab-test"]
    monkeypatch.setenv("RAMP_RUNS_DIR", str(runs_dir / "nowhere"))
    assert candidates(parser, ["watch", ""]) == []  # no store: nothing, never an error


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_a_real_bash(runs_dir):
    script = subprocess.run([sys.executable, "-m", "engine", "completion", "bash"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert script == SCRIPTS["bash"]
    session = f"""
ramp() {{ "{sys.executable}" -m engine "$@"; }}
{script}
COMP_WORDS=(ramp sta); COMP_CWORD=1; _ramp; echo "${{COMPREPLY[*]}}"
COMP_WORDS=(ramp watch nightly); COMP_CWORD=2; _ramp; echo "${{COMPREPLY[*]}}"
"""
    out = subprocess.run(["bash", "-c", session], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "RAMP_RUNS_DIR": str(runs_dir)})  # fmt: skip
    assert out.stdout.splitlines() == ["status", "nightly-1 nightly-2"], out.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_fish_script_completes_in_a_real_fish(runs_dir):
    session = f"function ramp; {sys.executable} -m engine $argv; end; {SCRIPTS['fish']}; complete -C 'ramp sta'"
    out = subprocess.run(["fish", "--no-config", "-c", session], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.stdout.split() == ["status"], out.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_registers_with_compinit():
    session = f"autoload -U compinit && compinit -u\n{SCRIPTS['zsh']}print -- ${{_comps[ramp]}}\n"
    out = subprocess.run(["zsh", "-f", "-c", session], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "_ramp", out.stderr
