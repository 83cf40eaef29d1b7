"""Gate rules and the verdict tree: metrics in, a tier and the rule that decided it out.

A rule is one comparison written the way a verdict quotes it, ``"resolved_rate >= 0.5"``, over any
metric of :data:`GATE_METRICS`. A gate sorts its rules into three tiers, read in this
order, which is the decision tree of the plans Ramp grew from ("0%: stop and debug", "20-40%: proceed
with caution", "50%+: excellent"):

1. ``stop``: every rule must hold; the first that fails gives **STOP**.
2. ``caution``: every rule should hold; the first that fails gives **CAUTION**.
3. ``excellent``: if every rule holds (and there is at least one), **EXCELLENT**.
4. Otherwise **PROCEED**.

A rule over a metric that was not measured (no feedback split, no model calls, no scored instance)
is recorded as not judged and never fires: a missing number is not evidence either way.

The default gate puts the CI-width exit gate in the ``excellent`` tier on purpose. The Wilson
interval of 5 or 10 instances is about 0.4 to 0.6 wide whatever the agent does, so as a STOP or
CAUTION rule it would only restate "the phase is small". In ``excellent`` it means what the plans
meant: a result is excellent when it is both high and precise, and until the phase is big enough the
best verdict is PROCEED.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .events import Tier

#: Metrics a rule may name (keys of engine.results.metrics.compute's result), with what they mean.
GATE_METRICS: dict[str, str] = {
    "resolved_rate": "resolved / scored instances",
    "ci_low": "lower bound of the Wilson 95% interval of resolved_rate",
    "ci_high": "upper bound of the Wilson 95% interval of resolved_rate",
    "ci_width": "ci_high - ci_low",
    "resolved": "resolved instances",
    "scored": "instances with at least one scored attempt",
    "pass_at_1": "unbiased pass@1 (first attempt under until-resolved)",
    "infra_failures": "finished instances without a scored attempt, the environment among the causes",
    "infra_failure_rate": "infra_failures / finished instances",
    "malformed_patch_rate": "scored attempts whose patch did not apply / scored attempts",
    "flaky_evals": "re-grades that disagree with the official grade",
    "flaky_rate": "flaky_evals / re-grades",
    "cost_usd": "model spend, from llm_calls",
    "cost_per_instance": "cost_usd / finished instances",
    "calls_per_instance": "model calls / finished instances",
    "latency_p50_s": "median model-call latency",
    "latency_p90_s": "90th percentile model-call latency",
    "latency_p99_s": "99th percentile model-call latency",
    "attempts_per_instance": "finished attempts / finished instances",
    "wall_s": "time during which at least one attempt was running",
    "public_pass_rate": "feedback split: mean share of public FAIL_TO_PASS tests passing",
    "hidden_pass_rate": "feedback split: mean share of hidden FAIL_TO_PASS tests passing",
    "overfit_gap": "public_pass_rate - hidden_pass_rate",
    "hidden_fix_score": "feedback split: share of scored instances passing every hidden and P2P test",
    "bug_reproduction_rate": "share of scored instances whose agent wrote a test failing before its fix",
    "baseline_spread": "resolved rate minus the no-patch baseline's, on the instances both scored",
}


TIERS: tuple[Tier, ...] = get_args(Tier)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
}
_RULE = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$")


def parse_rule(text: str) -> tuple[str, str, float]:
    """``"resolved_rate >= 0.5"`` -> ("resolved_rate", ">=", 0.5); ValueError naming the problem."""
    match = _RULE.match(text)
    if not match:
        raise ValueError(
            f"rule {text!r} is not 'METRIC OP NUMBER' (OP one of >=, <=, >, <, ==), e.g. 'resolved_rate >= 0.5'"
        )
    metric, op, number = match.groups()
    if metric not in GATE_METRICS:
        raise ValueError(f"rule {text!r}: unknown metric {metric!r}; known: {', '.join(GATE_METRICS)}")
    return metric, op, float(number)


def _rules(value: list[str]) -> list[str]:
    for rule in value:
        parse_rule(rule)
    return [" ".join(rule.split()) for rule in value]


class GateConfig(BaseModel):
    """A phase gate: rules in three tiers. See engine/core/gates.py for how a verdict is reached."""

    model_config = ConfigDict(extra="forbid")

    stop: list[str] = Field(
        default_factory=lambda: ["resolved_rate > 0", "infra_failure_rate <= 0.2", "cost_per_instance <= 6"],
        description="Rules that must hold; the first that fails gives STOP (and exit code 1 at the "
        "last phase). Default: 0% resolved means stop and debug; more than a fifth of the instances "
        "lost to the environment means the numbers measure the environment; $6 per instance.",
    )
    caution: list[str] = Field(
        default_factory=lambda: ["resolved_rate >= 0.4", "infra_failure_rate <= 0", "overfit_gap <= 0.1"],
        description="Rules that should hold; the first that fails gives CAUTION (proceed, with a "
        "warning). Default: under 40% resolved, any infra failure, an overfit gap over 0.10.",
    )
    excellent: list[str] = Field(
        default_factory=lambda: ["resolved_rate >= 0.5", "ci_width < 0.05"],
        description="Rules that must all hold for EXCELLENT; otherwise PROCEED. Default: 50%+ "
        "resolved with a 95% CI narrower than 0.05 (so small phases top out at PROCEED).",
    )

    @field_validator("stop", "caution", "excellent")
    @classmethod
    def _valid_rules(cls, value: list[str]) -> list[str]:
        return _rules(value)

    def merged(self, override: GateConfig | None) -> GateConfig:
        """This gate with the tiers a phase's own ``gate`` sets replaced (the others inherited)."""
        if override is None:
            return self
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def check(rule: str, values: dict[str, Any]) -> dict[str, Any]:
    """One rule against the measured values: its result (True, False, or None if not judged)."""
    metric, op, threshold = parse_rule(rule)
    actual = values.get(metric)
    passed = None if actual is None else _OPS[op](float(actual), threshold)
    return {"rule": rule, "metric": metric, "actual": actual, "passed": passed}


def quote(result: dict[str, Any]) -> str:
    """A check as a verdict line: ``resolved_rate >= 0.5 failed (0.2)``."""
    state = {True: "holds", False: "failed", None: "not judged"}[result["passed"]]
    actual = "not measured" if result["actual"] is None else _fmt(result["actual"])
    return f"{result['rule']} {state} ({actual})"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def decide_tier(gate: GateConfig, values: dict[str, Any]) -> tuple[Tier, str, list[dict[str, Any]]]:
    """(tier, the rule that fired, every check with its tier) for one gate."""
    checks = [{**check(rule, values), "tier": tier} for tier in ("stop", "caution", "excellent")
              for rule in getattr(gate, tier)]
    verdicts: tuple[tuple[str, Tier], ...] = (("stop", "STOP"), ("caution", "CAUTION"))
    for tier, verdict in verdicts:
        failed = next((c for c in checks if c["tier"] == tier and c["passed"] is False), None)
        if failed is not None:
            return verdict, quote(failed), checks
    excellent = [c for c in checks if c["tier"] == "excellent"]
    if excellent and all(c["passed"] is True for c in excellent):
        return "EXCELLENT", " and ".join(quote(c) for c in excellent), checks
    missing = next((c for c in excellent if c["passed"] is not True), None)
    if missing is not None:
        return "PROCEED", f"not EXCELLENT: {quote(missing)}", checks
    return "PROCEED", "every stop and caution rule holds", checks
