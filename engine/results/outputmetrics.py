"""Output-check metrics: what the code-completion family's grader saw besides pass or fail.

Over the official grades of the scored attempts (every sample, so pass@k runs count each one):
``syntax_valid_rate`` (the completed function parses) and ``degenerate_rate`` (the completion broke
one of engine.core.outputchecks.DEGENERATE_RULES), with ``degenerate_by_rule`` counting each
rule and ``degenerate_rules`` saying what each counted. Runs whose grader records no checks
(SWE-bench) get the two rates as None (not measured), like every gate metric.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from ..core.outputchecks import DEGENERATE_RULES


def output_checks(evaluations: list[dict[str, Any]], scored_attempts: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {(a["instance_id"], a["attempt"]) for a in scored_attempts}
    checks = [
        json.loads(row["checks_json"])
        for row in evaluations
        if row.get("grade") == 0 and row.get("checks_json") and (row["instance_id"], row["attempt"]) in keys
    ]
    if not checks:
        return {"syntax_valid_rate": None, "degenerate_rate": None}
    rules = Counter(c.get("degenerate") for c in checks if c.get("degenerate"))
    return {
        "graded_samples": len(checks),
        "syntax_valid_rate": round(sum(1 for c in checks if c.get("syntax_valid")) / len(checks), 4),
        "degenerate_rate": round(sum(rules.values()) / len(checks), 4),
        "degenerate_by_rule": dict(rules.most_common()),
        "degenerate_rules": {name: DEGENERATE_RULES.get(name, name) for name in rules},
    }
