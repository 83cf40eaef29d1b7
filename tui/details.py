"""One instance's attempts as the detail screen shows them: diff, per-test results, steps, the
whole trajectory, log tail.

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

from engine.core import progress
from engine.store import StoreReader

DIFF_LIMIT = 200_000
LOG_TAIL_BYTES = 16_000
LOG_TAIL_LINES = 120
#: A trajectory file larger than this is not parsed (its steps come from the events instead).
TRAJECTORY_LIMIT = 32 * 2**20
#: Characters of one message the trajectory view shows; the rest is in the file.
MESSAGE_LIMIT = 6_000


@dataclass(frozen=True)
class Step:
    index: int
    sub_state: str
    summary: str


@dataclass(frozen=True)
class Turn:
    """One message of a trajectory: who said it (system, user, assistant, tool, observation, exit)
    and what, tool calls included."""

    role: str
    content: str


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
    trajectory: tuple[Turn, ...] = ()
    #: Where it ran on a Ray cluster ("sandbox X, eval Y"); empty for a local run.
    nodes: str = ""


@dataclass(frozen=True)
class InstanceDetail:
    run_id: str
    instance_id: str
    repo: str
    attempts: tuple[AttemptDetail, ...]
    #: What `ramp validate` recorded for this instance under the run's evaluator, if anything.
    validation: str | None = None

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


def _trajectory_file(path: str | None) -> dict[str, Any]:
    """The attempt's trajectory file, parsed ({} when there is none, or it is too large or broken)."""
    if not path:
        return {}
    try:
        if Path(path).stat().st_size > TRAJECTORY_LIMIT:
            return {}
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _steps(data: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Step, ...]:
    """The trajectory file's steps (the agent's own record); the agent_step events when it has none."""
    steps = data.get("steps")
    if isinstance(steps, list) and steps and all(isinstance(s, dict) for s in steps):
        return tuple(Step(s.get("index", i), str(s.get("sub_state", "")), str(s.get("summary", "")))
                     for i, s in enumerate(steps))
    return tuple(Step(e["step"], e.get("sub_state", ""), e.get("summary", "")) for e in events)


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: their text
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + f"\n... ({len(text) - MESSAGE_LIMIT} more characters in the file)"


def _message(m: dict[str, Any]) -> Turn:
    parts = [_text(m.get("content"))]
    for call in m.get("tool_calls") or []:
        function = call.get("function", {}) if isinstance(call, dict) else {}
        parts.append(f"tool call {function.get('name', '?')}: {function.get('arguments', '')}")
    return Turn(str(m.get("role", "?")), _cut("\n".join(p for p in parts if p)))


def _turns(data: dict[str, Any]) -> tuple[Turn, ...]:
    """Every message of a trajectory: Ramp's agents' and mini-swe-agent's ``messages``, SWE-agent's
    ``history``, or SWE-agent's ``trajectory`` steps (thought and action, then the observation)."""
    for key in ("messages", "history"):
        messages = data.get(key)
        if isinstance(messages, list) and messages:
            return tuple(_message(m) for m in messages if isinstance(m, dict))
    out: list[Turn] = []
    for step in data.get("trajectory") or []:
        if isinstance(step, dict):
            said = "\n".join(x for x in (_text(step.get("thought")), f"$ {_text(step.get('action'))}") if x.strip())
            out += [Turn("assistant", _cut(said)), Turn("observation", _cut(_text(step.get("observation"))))]
    return tuple(out)


def _nodes(events: list[dict[str, Any]]) -> str:
    """The nodes an attempt's node steps name (a retried evaluation names each it ran on)."""
    steps = [progress.node_of(str(e.get("summary", ""))) for e in events if e.get("sub_state") == progress.NODE_STEP]
    short = {"evaluating": "eval"}
    where = [f"{short.get(doing, doing)} {node}" for doing, node in filter(None, steps)]
    return ", ".join(dict.fromkeys(where))


def load_detail(db_path: Path, run_id: str, instance_id: str) -> InstanceDetail:
    with StoreReader(db_path) as reader:
        rows = reader.instance(run_id, instance_id)
        run = reader.run(run_id) or {}
        registry = [r for r in reader.validations(run.get("evaluator")) if r["instance_id"] == instance_id]
    attempts, evals, steps = rows.attempts, rows.evaluations, rows.steps
    out = []
    for a in attempts:
        ev = evals.get(a["attempt"])
        trajectory = _trajectory_file(a["trajectory_path"])
        out.append(AttemptDetail(
            number=a["attempt"], status=a["status"], outcome=a["outcome"], error_class=a["error_class"],
            detail=a["detail"], input_tokens=a["input_tokens"], output_tokens=a["output_tokens"],
            cost_usd=a["cost_usd"], calls=a["calls"], agent_s=a["agent_s"], eval_s=a["eval_s"],
            diff=_read(a["patch_path"], DIFF_LIMIT),
            fail_to_pass=_tests(ev["f2p_json"]) if ev else (), pass_to_pass=_tests(ev["p2p_json"]) if ev else (),
            steps=_steps(trajectory, steps.get(a["attempt"], [])),
            log_tail=_tail(a["log_path"] or (ev["log_path"] if ev else None)),
            trajectory=_turns(trajectory),
            nodes=_nodes(steps.get(a["attempt"], [])),
        ))
    validation = None
    if registry:
        row = registry[0]
        validation = f"{row['status']} under {row['evaluator']}" + (f": {row['reason']}" if row["reason"] else "")
    return InstanceDetail(run_id, instance_id, rows.repo, tuple(out), validation)
