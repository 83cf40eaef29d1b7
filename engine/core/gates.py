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
from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .events import Tier
from .runmetrics import GATE_METRICS, RuleCheck, RunMetrics

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


def check(rule: str, values: RunMetrics | Mapping[str, Any], tier: str = "") -> RuleCheck:
    """One rule (of ``tier``) against the measured values: its result (True, False, or None if not
    judged)."""
    metric, op, threshold = parse_rule(rule)
    actual = getattr(RunMetrics.of(values), metric)
    passed = None if actual is None else _OPS[op](float(actual), threshold)
    return {"rule": rule, "metric": metric, "actual": actual, "passed": passed, "tier": tier, "decided": False}


def quote(result: Mapping[str, Any]) -> str:
    """A check as a verdict line: ``resolved_rate >= 0.5 failed (0.2)``."""
    state = {True: "holds", False: "failed", None: "not judged"}[result["passed"]]
    actual = "not measured" if result["actual"] is None else _fmt(result["actual"])
    return f"{result['rule']} {state} ({actual})"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def decide_tier(gate: GateConfig, values: RunMetrics | Mapping[str, Any]) -> tuple[Tier, str, list[RuleCheck]]:
    """(tier, the rule that fired, every check with its tier and whether it decided) for one gate."""
    metrics = RunMetrics.of(values)
    checks = [check(rule, metrics, tier) for tier in ("stop", "caution", "excellent") for rule in getattr(gate, tier)]
    verdicts: tuple[tuple[str, Tier], ...] = (("stop", "STOP"), ("caution", "CAUTION"))
    for tier, verdict in verdicts:
        failed = next((c for c in checks if c["tier"] == tier and c["passed"] is False), None)
        if failed is not None:
            failed["decided"] = True
            return verdict, quote(failed), checks
    excellent = [c for c in checks if c["tier"] == "excellent"]
    if excellent and all(c["passed"] is True for c in excellent):
        return "EXCELLENT", " and ".join(quote(c) for c in excellent), checks
    missing = next((c for c in excellent if c["passed"] is not True), None)
    if missing is not None:
        missing["decided"] = True
        return "PROCEED", f"not EXCELLENT: {quote(missing)}", checks
    return "PROCEED", "every stop and caution rule holds", checks


def fired(check: Mapping[str, Any], rule: str) -> bool:
    """Whether a stored check is the failed rule that decided its verdict (``rule``). Verdicts
    stored before checks recorded ``decided`` are matched by the rule they quote."""
    if check["passed"] is not False:
        return False
    if "decided" in check:
        return bool(check["decided"])
    return f"{check['rule']} failed" in rule
