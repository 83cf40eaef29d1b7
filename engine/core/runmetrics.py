"""The figures a gate rule may name, typed: :class:`RunMetrics`.

Each field's description is the documented meaning of the metric; :data:`GATE_METRICS` (what a
rule may name, and what ``ramp`` says when one names something else) is read from these fields, so
there is no second list. engine.results.metrics computes them from the store; a field that was not
measured (no feedback split, no model calls, no scored instance) is None, and a rule over it is
not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic validates only this one on Python < 3.12

#: A measured figure: a count stays an int and a rate a float (as stored in a verdict), None when
#: it was not measured.
Figure = float | int | None


class RunMetrics(BaseModel):
    """A run's (or a phase's) gate metrics; other figures the metrics carry are ignored here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    resolved_rate: Figure = Field(None, description="resolved / scored instances")
    ci_low: Figure = Field(None, description="lower bound of the Wilson 95% interval of resolved_rate")
    ci_high: Figure = Field(None, description="upper bound of the Wilson 95% interval of resolved_rate")
    ci_width: Figure = Field(None, description="ci_high - ci_low")
    resolved: Figure = Field(None, description="resolved instances")
    scored: Figure = Field(None, description="instances with at least one scored attempt")
    pass_at_1: Figure = Field(None, description="unbiased pass@1 (first attempt under until-resolved)")
    infra_failures: Figure = Field(None, description="finished instances without a scored attempt, the environment among the causes")
    infra_failure_rate: Figure = Field(None, description="infra_failures / finished instances")
    malformed_patch_rate: Figure = Field(None, description="scored attempts whose patch did not apply / scored attempts")
    flaky_evals: Figure = Field(None, description="re-grades that disagree with the official grade")
    flaky_rate: Figure = Field(None, description="flaky_evals / re-grades")
    cost_usd: Figure = Field(None, description="model spend, from llm_calls")
    cost_per_instance: Figure = Field(None, description="cost_usd / finished instances")
    calls_per_instance: Figure = Field(None, description="model calls / finished instances")
    latency_mean_s: Figure = Field(None, description="mean model-call latency")
    latency_p50_s: Figure = Field(None, description="median model-call latency")
    latency_p90_s: Figure = Field(None, description="90th percentile model-call latency")
    latency_p99_s: Figure = Field(None, description="99th percentile model-call latency")
    attempts_per_instance: Figure = Field(None, description="finished attempts / finished instances")
    wall_s: Figure = Field(None, description="time during which at least one attempt was running")
    public_pass_rate: Figure = Field(None, description="feedback split: mean share of public FAIL_TO_PASS tests passing")
    hidden_pass_rate: Figure = Field(None, description="feedback split: mean share of hidden FAIL_TO_PASS tests passing")
    overfit_gap: Figure = Field(None, description="public_pass_rate - hidden_pass_rate")
    hidden_fix_score: Figure = Field(None, description="feedback split: share of scored instances passing every hidden and P2P test")
    bug_reproduction_rate: Figure = Field(None, description="share of scored instances whose agent wrote a test failing before its fix")
    syntax_valid_rate: Figure = Field(None, description="code completion: graded samples whose completed function parses / graded samples")
    degenerate_rate: Figure = Field(None, description="code completion: graded samples breaking a degenerate-output rule (empty, repeated keyword, line or n-grams) / graded samples")
    baseline_spread: Figure = Field(None, description="resolved rate minus the no-patch baseline's, on the instances both scored")

    @classmethod
    def of(cls, values: RunMetrics | Mapping[str, Any]) -> RunMetrics:
        return values if isinstance(values, RunMetrics) else cls.model_validate(dict(values))


#: Metrics a rule may name, with what they mean (the descriptions of :class:`RunMetrics`).
GATE_METRICS: dict[str, str] = {name: info.description or "" for name, info in RunMetrics.model_fields.items()}


class RuleCheck(TypedDict):
    """One rule judged at a gate, as a verdict stores it."""

    rule: str
    metric: str
    actual: Figure
    #: True, False, or None when the metric was not measured (not judged).
    passed: bool | None
    tier: str
    #: This check decided the verdict (the rule that fired, or the EXCELLENT rule that failed).
    decided: NotRequired[bool]
