"""The chaos kit: SIGKILLs at random and at named moments, a fault-injecting provider, and the
invariants a resumed run must keep. tests/test_chaos.py runs a short version of each campaign in
CI; ``python benchmarks/chaos.py`` runs the long one and prints its figures.

Every campaign drives the real `ramp run` command (``python -m engine``) in a subprocess, on the
bundled tasks, evaluated for real, and reads what it left through SQLite, the way an operator's
tools would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import NOT_SCORED

from .fakeservers import (
    OpenAIServer,
    Reply,
    bad_json,
    drop,
    no_choices,
    ok,
    slow,
    status,
    truncated,
)

ROOT = Path(__file__).resolve().parents[1]

#: The demo's stories on four tasks: solved at once (romans, csvstats), solved after feedback
#: (iniparse), and malformed output (slugkit, error class model_format), ramped 2 -> 4.
DEMO_FOUR = "ramp-bundled__romans-1,ramp-bundled__iniparse-1,ramp-bundled__slugkit-1,ramp-bundled__csvstats-1"

#: Named moments, each the query that says the run has reached it. A kill lands right after.
MOMENTS: dict[str, str] = {
    "run-created": "SELECT 1 FROM runs",
    "attempt-started": "SELECT 1 FROM attempts WHERE status = 'running'",
    "model-called": "SELECT 1 FROM llm_calls",
    "agent-done": "SELECT 1 FROM attempts WHERE status = 'agent_done'",
    "evaluating": "SELECT 1 FROM instances WHERE state = 'evaluating'",
    "attempt-done": "SELECT 1 FROM attempts WHERE status = 'done'",
    "gate-judged": "SELECT 1 FROM phases WHERE tier IS NOT NULL",
    "phase-2-started": "SELECT 1 FROM phases WHERE phase = 1 AND status = 'running'",
    "last-attempt-done": "SELECT 1 WHERE (SELECT COUNT(*) FROM attempts WHERE status = 'done') >= {last}",
}


def env(cache_dir: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    return {**out, "RAMP_PATHS__CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", **extra}


def demo_args(runs: Path, run_id: str, instances: str = DEMO_FOUR, phases: str = "2,4") -> list[str]:
    return ["run", "-c", "config/demo.yaml", "--instances", instances, "--phases", phases, "--auto-approve",
            "--headless", "--json", "--runs-dir", str(runs), "--run-id", run_id]


def start(args: list[str], cache_dir: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, env=env(cache_dir, **extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def finish(args: list[str], cache_dir: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, env=env(cache_dir, **extra),
        capture_output=True, text=True, timeout=timeout,
    )


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def kill_at(proc: subprocess.Popen[str], db: Path, sql: str, timeout: float = 300) -> float | None:
    """SIGKILL ``proc`` as soon as ``sql`` returns a row; seconds it ran, or None if it finished first."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            return None
        if db.exists():
            try:
                reached = bool(query(db, sql))
            except sqlite3.Error:  # the store is being created
                reached = False
            if reached:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return time.monotonic() - began
        time.sleep(0.005)
    proc.kill()
    raise TimeoutError(f"moment not reached in {timeout:.0f}s: {sql}")


def kill_after(proc: subprocess.Popen[str], seconds: float) -> float | None:
    """SIGKILL ``proc`` after ``seconds``; None if it finished first."""
    try:
        proc.wait(timeout=seconds)
        return None
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return seconds


# -- what a finished run holds, and the invariants a resumed one keeps -------------------------------


@dataclass
class RunRecord:
    """A finished run as the store and the run folder hold it."""

    status: str
    exit_code: int | None
    instances: dict[str, tuple[str, str | None]]  # id -> (state, outcome)
    attempts: dict[tuple[str, int], tuple[str, str | None, str | None]]  # -> (status, outcome, error_class)
    tiers: list[str | None]
    evaluations: list[tuple[str, int]]  # official grades (grade 0)
    predictions: list[tuple[str, int]]
    finished_events: list[tuple[str, int]]
    calls_by_attempt: dict[tuple[str, int], int]
    counted_calls: dict[tuple[str, int], int]

    @classmethod
    def read(cls, runs: Path, run_id: str) -> RunRecord:
        db = runs / "ramp.sqlite"
        run = query(db, "SELECT * FROM runs WHERE run_id = ?", (run_id,))[0]
        attempts = query(db, "SELECT * FROM attempts WHERE run_id = ?", (run_id,))
        folder = runs / run_id / "predictions.jsonl"
        lines = folder.read_text().splitlines() if folder.exists() else []
        calls: dict[tuple[str, int], int] = {}
        for row in query(db, "SELECT instance_id, attempt FROM llm_calls WHERE run_id = ?", (run_id,)):
            key = (row["instance_id"], row["attempt"])
            calls[key] = calls.get(key, 0) + 1
        return cls(
            status=run["status"], exit_code=run["exit_code"],
            instances={r["instance_id"]: (r["state"], r["outcome"])
                       for r in query(db, "SELECT * FROM instances WHERE run_id = ?", (run_id,))},
            attempts={(a["instance_id"], a["attempt"]): (a["status"], a["outcome"], a["error_class"]) for a in attempts},
            tiers=[p["tier"] for p in query(db, "SELECT tier FROM phases WHERE run_id = ? ORDER BY phase", (run_id,))],
            evaluations=[(e["instance_id"], e["attempt"]) for e in query(
                db, "SELECT instance_id, attempt FROM evaluations WHERE run_id = ? AND grade = 0", (run_id,))],
            predictions=[(p["instance_id"], p["attempt"]) for p in map(json.loads, lines)],
            finished_events=[(e["instance_id"], e["attempt"]) for e in query(
                db, "SELECT instance_id, attempt FROM events WHERE run_id = ? AND kind = 'attempt_finished'", (run_id,))],
            calls_by_attempt=calls,
            counted_calls={(a["instance_id"], a["attempt"]): a["calls"] for a in attempts},
        )

    def problems(self, reference: RunRecord) -> list[str]:
        """Every way this (killed and resumed) run differs from a clean one, or lost or duplicated."""
        out: list[str] = []
        if (self.status, self.exit_code) != (reference.status, reference.exit_code):
            out.append(f"ended {self.status}/{self.exit_code}, a clean run {reference.status}/{reference.exit_code}")
        if self.instances != reference.instances:
            out.append(f"instances differ: {_diff(self.instances, reference.instances)}")
        if self.attempts != reference.attempts:
            out.append(f"attempts (status, outcome, error class) differ: {_diff(self.attempts, reference.attempts)}")
        if self.tiers != reference.tiers or None in self.tiers:
            out.append(f"gate verdicts {self.tiers}, a clean run {reference.tiers}")
        for name, keys in (("evaluations", self.evaluations), ("predictions", self.predictions),
                           ("attempt_finished events", self.finished_events)):
            if sorted(keys) != sorted(set(keys)):
                out.append(f"duplicated {name}: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
            if set(keys) != set(self.attempts):
                out.append(f"{name} missing for {sorted(set(self.attempts) - set(keys))}")
        for key, counted in self.counted_calls.items():
            if counted != self.calls_by_attempt.get(key, 0):
                out.append(f"attempt {key} counts {counted} calls, llm_calls has {self.calls_by_attempt.get(key, 0)}")
        return out


def _diff(mine: dict[Any, Any], theirs: dict[Any, Any]) -> dict[Any, Any]:
    return {k: (mine.get(k), theirs.get(k)) for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}


@dataclass
class KillReport:
    """One kill campaign: where it killed, how many resumes it took, what broke."""

    name: str
    killed_after_s: list[float] = field(default_factory=list)
    resumes: int = 0
    problems: list[str] = field(default_factory=list)


def kill_and_resume(
    name: str, args: list[str], runs: Path, run_id: str, cache_dir: Path, reference: RunRecord,
    *, kills: list[str | float], timeout: float = 600,
) -> KillReport:
    """Start the run; kill it at each of ``kills`` in turn (a moment's name, or seconds after a
    start), starting it again after each kill; then finish it and check it against ``reference``."""
    report = KillReport(name)
    db = runs / "ramp.sqlite"
    last = len(reference.attempts)
    for kill in kills:
        proc = start(args, cache_dir)
        try:
            if isinstance(kill, str):
                ran = kill_at(proc, db, MOMENTS[kill].format(last=last), timeout)
            else:
                ran = kill_after(proc, kill)
        finally:
            if proc.poll() is None:
                proc.kill()
            stderr = proc.stderr.read() if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
        if ran is None:
            if proc.returncode not in (0, 1):
                report.problems.append(f"run before kill {kill!r} exited {proc.returncode}: {stderr[-500:]}")
            continue
        report.killed_after_s.append(round(ran, 3))
        report.resumes += 1
    done = finish(args, cache_dir, timeout=timeout)
    if "Traceback" in done.stderr or done.returncode not in (0, 1):
        report.problems.append(f"the final resume exited {done.returncode}: {done.stderr[-800:]}")
        return report
    report.problems += RunRecord.read(runs, run_id).problems(reference)
    return report


# -- a provider that fails on purpose ----------------------------------------------------------------


#: The faults injected, by name: all transient, all the provider's, none the model's.
FAULTS: dict[str, Reply] = {
    "429": status(429, retry_after="0"),
    "500": status(500),
    "503": status(503),
    "hang": slow(1.2),
    "drop": drop(),
    "cut-stream": truncated(),
    "cut-json": bad_json(),
    "no-choices": no_choices(),
}


class FaultServer(OpenAIServer):
    """An OpenAI-compatible server on loopback that answers ``reply`` and, at ``rate``, a fault
    drawn (seeded) from :data:`FAULTS` instead. Counts what it injected."""

    def __init__(self, reply: str, rate: float, seed: int = 0) -> None:
        super().__init__()
        self.default = ok(reply)
        self.rate = rate
        self.random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def next_reply(self) -> Reply:
        if self.random.random() < self.rate:
            name = self.random.choice(sorted(FAULTS))
            self.injected[name] = self.injected.get(name, 0) + 1
            return FAULTS[name]
        return self.default


def fault_catalog(path: Path, server: OpenAIServer) -> Path:
    """A catalog whose one model, ``faulty``, is the fault server, with fast retries and timeouts."""
    import yaml

    path.write_text(yaml.safe_dump({"models": {"faulty": {
        "provider": "openai-compatible", "base_url": server.url, "name": "fake-model", "local": True,
        # One retry, and none at the attempt level (fault_matrix): a fault twice in a row ends the
        # attempt, so both paths are taken, the retried call and the attempt lost to the provider.
        "retry": {"max_retries": 1, "backoff_s": 0.01, "backoff_max_s": 0.05, "failure_cap": 1000, "cooldown_s": 1},
        "timeouts": {"connect_s": 2.0, "read_s": 0.6, "total_s": 10.0},
    }}}))
    return path


@dataclass
class FaultReport:
    requests: int
    recorded_calls: int
    injected: dict[str, int]
    attempts: int
    scored_provider_faults: int
    outcomes: dict[str, int]


def fault_matrix(runs: Path, cache_dir: Path, work: Path, *, rate: float, instances: str, attempts: int,
                 seed: int = 0) -> FaultReport:
    """The bash agent (one command, then submit) against a provider failing at ``rate``."""
    with FaultServer("```bash\necho RAMP_SUBMIT\n```", rate, seed) as server:
        catalog = fault_catalog(work / "faulty.yaml", server)
        out = finish(["run", "--dataset", "bundled", "--instances", instances, "--agent", "bash", "--model", "faulty",
                      "--attempts", str(attempts), "--attempt-policy", "fixed", "--headless", "--json",
                      "--runs-dir", str(runs), "--run-id", "faults"],
                     cache_dir, RAMP_PATHS__MODELS_FILE=str(catalog), RAMP_RUN__MAX_RETRIES="0",
                     RAMP_RUN__AGENT_CONCURRENCY="4", RAMP_RAMP__GATE__STOP="[]")
        requests = len(server.calls("/v1/chat/completions"))
        injected = dict(server.injected)
    if out.returncode not in (0, 1, 3) or "Traceback" in out.stderr:
        raise AssertionError(f"fault run exited {out.returncode}: {out.stderr[-2000:]}")
    db = runs / "ramp.sqlite"
    rows = query(db, "SELECT outcome, error_class FROM attempts WHERE run_id = 'faults'")
    calls = query(db, "SELECT status, error_class FROM llm_calls WHERE run_id = 'faults'")
    # A provider fault is scored when an attempt ends in an error whose class counts against the
    # model, or a failed call carries a class other than the provider's own (infra, rate_limit).
    scored = sum(1 for r in rows if r["outcome"] == "error" and r["error_class"] not in NOT_SCORED)
    scored += sum(1 for c in calls if c["status"] == "error" and c["error_class"] not in ("infra", "rate_limit"))
    outcomes: dict[str, int] = {}
    for r in rows:
        key = f"{r['outcome']}:{r['error_class']}" if r["error_class"] else r["outcome"]
        outcomes[key] = outcomes.get(key, 0) + 1
    return FaultReport(requests, len(calls), injected, len(rows), scored, outcomes)


# -- a planted secret, and kills while it is in flight -----------------------------------------------

LONG_SECRET = "planted-chaos-credential-5e1f9a3c7b"
SHORT_SECRET = "sk-1234"  # LiteLLM's default master key: short, and still a credential


def secret_setup(work: Path) -> tuple[Path, list[str]]:
    """A config whose bash agent writes both secrets into the repository (its patch carries them),
    and a conftest that makes the evaluation last a few seconds, so kills land inside it."""
    import yaml

    creds = work / "credentials.txt"
    creds.write_text(f"CHAOS_SERVICE_KEY={LONG_SECRET}\nLITELLM_API_KEY={SHORT_SECRET}\n")
    write = (
        "```bash\ncat > conftest.py <<'EOF'\nimport time\n\n"
        f"KEYS = ({LONG_SECRET!r}, {SHORT_SECRET!r})\n\n\ndef pytest_sessionstart(session):\n"
        "    time.sleep(3)\nEOF\n```"
    )
    catalog = {"models": {"leaky": {"provider": "scripted", "options": {"replies": [
        write, "```bash\nsleep 3\n```", "```bash\necho RAMP_SUBMIT\n```",
    ]}}}}
    (work / "models.yaml").write_text(yaml.safe_dump(catalog))
    config = {
        "paths": {"secrets_file": str(creds), "models_file": str(work / "models.yaml")},
        "run": {"dataset": "bundled", "agent": "bash", "model": "leaky", "instances": ["ramp-bundled__romans-1"]},
        "ramp": {"gate": {"stop": []}},
    }
    (work / "leaky.yaml").write_text(yaml.safe_dump(config))
    return work / "leaky.yaml", [LONG_SECRET, SHORT_SECRET]


def secret_hits(folders: list[Path], secrets: list[str]) -> list[str]:
    """Files under ``folders`` holding a secret (the short one only as a whole word)."""
    import re

    patterns = [re.compile(re.escape(s).encode() if len(s) >= 8 else rb"(?<![A-Za-z0-9_])" + re.escape(s).encode()
                           + rb"(?![A-Za-z0-9_])") for s in secrets]
    hits = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                hits += [f"{path}: {p.pattern[-40:]!r}" for p in patterns if p.search(data)]
    return hits
