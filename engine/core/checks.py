"""One preflight check: what was looked at, whether it is ready, and the fix when it is not.

``ramp doctor`` prints them and every ``ramp run`` refuses to start on a failing one
(engine.run.preflight assembles them; backends and models report theirs as checks too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    #: Passes, but the operator should know (an unpriced model, a heuristic tokenizer).
    warning: bool = False

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        tail = f" — fix: {self.fix}" if (self.fix and not self.ok) else ""
        return f"[{mark}] {self.name}: {self.detail}{tail}"


def backend_checks(name: str, problems: list[str]) -> list[Check]:
    """Turn a backend's list of problems into checks (one passing check when there are none)."""
    if not problems:
        return [Check(name, True, "ready")]
    return [Check(name, False, problem) for problem in problems]
