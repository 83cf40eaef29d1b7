"""One instance's attempts as the detail screen shows them: diff, per-test results, steps, log tail.

Why a plain loader: it reads the store read-only and the attempt's files (patch, trajectory, test
log) that the scheduler wrote, so it runs in a thread worker without touching the UI or the
engine's connection. Large artifacts are cut (the diff's head, the log's tail) so opening an
instance with a huge log stays instant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store import StoreReader

DIFF_LIMIT = 200_000
LOG_TAIL_BYTES = 16_000
LOG_TAIL_LINES = 120


@dataclass(frozen=True)
class Step:
    index: int
    sub_state: str
    summary: str


@dataclass(frozen=True)
class AttemptDetail:
    number: int
    status: str
    outcome: str | None
    error_class: str | None
    detail: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    calls: int
    agent_s: float | None
    eval_s: float | None
    diff: str
    fail_to_pass: tuple[tuple[str, bool], ...]
    pass_to_pass: tuple[tuple[str, bool], ...]
    steps: tuple[Step, ...]
    log_tail: str


@dataclass(frozen=True)
class InstanceDetail:
    run_id: str
    instance_id: str
    repo: str
    attempts: tuple[AttemptDetail, ...]

    def attempt(self, number: int | None) -> AttemptDetail | None:
        if not self.attempts:
            return None
        return next((a for a in self.attempts if a.number == number), self.attempts[-1])


def _read(path: str | None, limit: int) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(limit + 1)
    except OSError:
        return ""
    return text if len(text) <= limit else text[:limit] + f"\n... (cut at {limit} characters; see {path})\n"


def _tail(path: str | None) -> str:
    if not path or not Path(path).is_file():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - LOG_TAIL_BYTES))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def _tests(raw: str | None) -> tuple[tuple[str, bool], ...]:
    group = json.loads(raw) if raw else {}
    return tuple((t, True) for t in group.get("success", [])) + tuple((t, False) for t in group.get("failure", []))


def _steps(trajectory_path: str | None, events: list[dict[str, Any]]) -> tuple[Step, ...]:
    """The trajectory file's steps (the agent's own record); the agent_step events when it has none."""
    if trajectory_path:
        try:
            data = json.loads(Path(trajectory_path).read_text(encoding="utf-8"))
            return tuple(Step(s.get("index", i), s.get("sub_state", ""), s.get("summary", ""))
                         for i, s in enumerate(data.get("steps", [])))
        except (OSError, ValueError):
            pass
    return tuple(Step(e["step"], e.get("sub_state", ""), e.get("summary", "")) for e in events)


def load_detail(db_path: Path, run_id: str, instance_id: str) -> InstanceDetail:
    with StoreReader(db_path) as reader:
        rows = reader.instance(run_id, instance_id)
    attempts, evals, steps = rows.attempts, rows.evaluations, rows.steps
    out = []
    for a in attempts:
        ev = evals.get(a["attempt"])
        out.append(AttemptDetail(
            number=a["attempt"], status=a["status"], outcome=a["outcome"], error_class=a["error_class"],
            detail=a["detail"], input_tokens=a["input_tokens"], output_tokens=a["output_tokens"],
            cost_usd=a["cost_usd"], calls=a["calls"], agent_s=a["agent_s"], eval_s=a["eval_s"],
            diff=_read(a["patch_path"], DIFF_LIMIT),
            fail_to_pass=_tests(ev["f2p_json"]) if ev else (), pass_to_pass=_tests(ev["p2p_json"]) if ev else (),
            steps=_steps(a["trajectory_path"], steps.get(a["attempt"], [])),
            log_tail=_tail(a["log_path"] or (ev["log_path"] if ev else None)),
        ))
    return InstanceDetail(run_id, instance_id, rows.repo, tuple(out))
