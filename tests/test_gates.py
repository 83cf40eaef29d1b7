"""Gate rules, the verdict tree, projections, the budget refusal and approval, on a real store."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.core.config import load_settings
from engine.core.errors import ConfigError
from engine.core.events import Alert, GateDecision, GateVerdict
from engine.core.gates import GateConfig, decide_tier, parse_rule
from engine.results.metrics import load_run
from engine.results.projections import describe, project
from engine.run.gatekeeper import RampGate
from engine.store import Store
from tests.rampfill import attempt, call, make_run
from tests.runcontext import Harness, instance

GOOD = {"resolved_rate": 0.6, "infra_failure_rate": 0.0, "cost_per_instance": 1.0, "ci_width": 0.2}


@pytest.mark.parametrize(
    ("values", "tier", "rule"),
    [
        ({**GOOD, "resolved_rate": 0.0}, "STOP", "resolved_rate > 0 failed (0)"),
        ({**GOOD, "infra_failure_rate": 0.5}, "STOP", "infra_failure_rate <= 0.2 failed (0.5)"),
        ({**GOOD, "cost_per_instance": 7.25}, "STOP", "cost_per_instance <= 6 failed (7.25)"),
        ({**GOOD, "resolved_rate": 0.3}, "CAUTION", "resolved_rate >= 0.4 failed (0.3)"),
        ({**GOOD, "infra_failure_rate": 0.1}, "CAUTION", "infra_failure_rate <= 0 failed (0.1)"),
        ({**GOOD, "overfit_gap": 0.25}, "CAUTION", "overfit_gap <= 0.1 failed (0.25)"),
        ({**GOOD, "resolved_rate": 0.45}, "PROCEED", "not EXCELLENT: resolved_rate >= 0.5 failed (0.45)"),
        (GOOD, "PROCEED", "not EXCELLENT: ci_width < 0.05 failed (0.2)"),
        ({**GOOD, "ci_width": 0.04}, "EXCELLENT", "resolved_rate >= 0.5 holds (0.6) and ci_width < 0.05 holds (0.04)"),
        # 3 of 3 resolved: the Wilson interval is 0.56 wide. A small phase is never stopped for it.
        ({**GOOD, "resolved_rate": 1.0, "ci_width": 0.5615}, "PROCEED", "not EXCELLENT: ci_width < 0.05 failed (0.5615)"),
    ],
)
def test_default_decision_tree(values, tier, rule):
    got_tier, got_rule, checks = decide_tier(GateConfig(), values)
    assert (got_tier, got_rule) == (tier, rule)
    assert {c["tier"] for c in checks} == {"stop", "caution", "excellent"}


def test_unmeasured_metrics_are_not_judged():
    tier, rule, checks = decide_tier(GateConfig(), {"resolved_rate": 0.6, "infra_failure_rate": 0.0, "ci_width": 0.01})
    assert tier == "EXCELLENT"
    by_rule = {c["rule"]: c for c in checks}
    assert by_rule["cost_per_instance <= 6"]["passed"] is None
    assert by_rule["overfit_gap <= 0.1"]["passed"] is None


def test_rules_parse_and_reject_what_they_cannot_quote():
    assert parse_rule("resolved_rate>=0.5") == ("resolved_rate", ">=", 0.5)
    assert GateConfig(stop=["infra_failure_rate  <=   0"]).stop == ["infra_failure_rate <= 0"]
    with pytest.raises(ValueError, match="unknown metric 'resolve_rate'"):
        parse_rule("resolve_rate >= 0.5")
    with pytest.raises(ValueError, match="METRIC OP NUMBER"):
        parse_rule("resolved_rate is high")


def test_gate_config_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "ramp.yaml"
    path.write_text("ramp:\n  gate:\n    stop: ['resolved_rate >= lots']\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value) and "ramp.gate.stop" in str(err.value) and "METRIC OP NUMBER" in str(err.value)


def test_a_phase_gate_overrides_only_the_tiers_it_sets(tmp_path):
    path = tmp_path / "ramp.yaml"
    path.write_text(
        "ramp:\n  gate:\n    caution: ['resolved_rate >= 0.3']\n"
        "  phases:\n    - {size: 5, gate: {stop: ['infra_failures <= 0'], excellent: []}}\n    - {size: 10}\n"
    )
    ramp = load_settings(path, environ={}).ramp
    first = ramp.gate.merged(ramp.phases[0].gate)
    assert first.stop == ["infra_failures <= 0"] and first.excellent == []
    assert first.caution == ["resolved_rate >= 0.3"]                # inherited from ramp.gate
    assert ramp.gate.merged(ramp.phases[1].gate) == ramp.gate
    assert decide_tier(first, {"resolved_rate": 0.9, "infra_failures": 0})[0] == "PROCEED"


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as s:
        yield s


async def fill_first_phase(store: Store, budget_usd: float | None = None) -> None:
    """Phase 0: two instances run side by side for 10 s each, $1 and 4 model calls in all."""
    await make_run(store, "r", [("a", "o/r", 0), ("b", "o/r", 0), *[(f"n{i}", "o/r", 1) for i in range(8)]],
                   sizes=[2, 10], budget_usd=budget_usd)
    await attempt(store, "r", "a", 1, "resolved", started=0, finished=10)
    await attempt(store, "r", "b", 1, "unresolved", started=0, finished=10)
    for iid in ("a", "a", "b", "b"):
        await call(store, "r", iid, cost=0.25)


async def test_projection_scales_measured_averages_to_the_new_instances(store):
    await fill_first_phase(store)
    p = project(await load_run(store, "r"), 0, [2, 10], budget_usd=None)
    assert (p["new_instances"], p["cost_usd"], p["calls"], p["attempts"]) == (8, 4.0, 16, 8)
    assert p["concurrency"] == 2.0 and p["wall_s"] == 40.0           # 10 s each, two at a time
    assert p["within_budget"] is None
    assert describe(p) == "next phase: +8 instances, ~$4.00, ~40s, ~16 model calls"
    assert project(await load_run(store, "r"), 1, [2, 10], None) is None


async def test_an_unpriced_model_projects_an_unknown_cost_not_zero(store):
    await fill_first_phase(store)
    await store.add_llm_call(run_id="r", instance_id="a", attempt=1, model_id="m", provider="p", cost_usd=None,
                             latency_s=1.0, status="ok")
    data = await load_run(store, "r")
    p = project(data, 0, [2, 10], budget_usd=100.0)
    assert p["cost_usd"] is None and p["within_budget"] is None and p["calls"] == 20
    assert describe(p).startswith("next phase: +8 instances, cost unknown (unpriced model)")


def settings(tmp_path: Path, approval: str = "auto", budget: float | None = None, gate: str = ""):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"run:\n  budget_usd: {budget if budget is not None else 'null'}\nramp:\n  approval: {approval}\n{gate}")
    return load_settings(path, environ={})


def FakeScheduler(store: Store, sizes: list[int]) -> Harness:  # noqa: N802 - the name the tests use
    """What RampGate.decide is handed: a real run context over the store, recording its events."""
    return Harness(store, Path(store.path).parent, instances=[instance("a"), instance("b")], phases=sizes)


async def test_budget_refusal_stops_and_no_approval_overrides_it(store, tmp_path):
    await fill_first_phase(store, budget_usd=3.0)
    sched = FakeScheduler(store, [2, 10])
    await store.add_command("r", "approve")                           # an operator eager to go on
    gate = RampGate(settings(tmp_path, approval="manual", budget=3.0))
    assert await gate.decide(sched.ctx, 0, last=False) == "stop"
    verdict = sched.of(GateVerdict)[0]
    assert verdict.tier == "STOP"
    assert verdict.rule == "run.budget_usd: spent $1.00 + next phase ~$4.00 > $3.00"
    assert sched.of(GateDecision)[0].by == "policy:budget"
    row = (await store.phases("r"))[0]
    assert (row["tier"], row["decision"], row["decided_by"]) == ("STOP", "reject", "policy:budget")


async def test_verdict_is_recorded_with_values_checks_and_projection(store, tmp_path):
    await fill_first_phase(store, budget_usd=100.0)
    sched = FakeScheduler(store, [2, 10])
    assert await RampGate(settings(tmp_path, budget=100.0)).decide(sched.ctx, 0, last=False) == "proceed"
    verdict = sched.of(GateVerdict)[0]
    assert verdict.tier == "PROCEED" and verdict.values["resolved_rate"] == 0.5
    assert verdict.projection["cost_usd"] == 4.0 and verdict.projection["within_budget"] is True
    stored = (await store.events("r", kinds=["gate_verdict"]))[0]
    assert stored.rule == verdict.rule and stored.checks == verdict.checks
    decision = sched.of(GateDecision)[0]
    assert (decision.decision, decision.by) == ("approve", "policy:auto")


async def test_auto_approval_stops_on_stop_and_warns_on_caution(store, tmp_path):
    await fill_first_phase(store)
    sched = FakeScheduler(store, [2, 10])
    stop = "  gate:\n    stop: ['resolved_rate >= 0.9']\n"
    assert await RampGate(settings(tmp_path, gate=stop)).decide(sched.ctx, 0, last=False) == "stop"
    assert sched.of(GateDecision)[-1].decision == "reject"
    caution = "  gate:\n    caution: ['resolved_rate >= 0.9']\n"
    assert await RampGate(settings(tmp_path, gate=caution)).decide(sched.ctx, 0, last=False) == "proceed"
    assert sched.of(GateVerdict)[-1].tier == "CAUTION"
    assert any("CAUTION" in a.message and a.level == "warning" for a in sched.of(Alert))


async def test_manual_approval_waits_for_a_decision_taken_after_the_verdict(store, tmp_path):
    await fill_first_phase(store)
    sched = FakeScheduler(store, [2, 10])
    await store.add_command("r", "reject")                            # sent before the verdict: ignored
    gate = RampGate(settings(tmp_path, approval="manual"))
    result: list[str] = []

    async def run_gate():
        result.append(await gate.decide(sched.ctx, 0, last=False))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_gate)
        with anyio.fail_after(10):
            while not sched.of(Alert):
                await anyio.sleep(0.01)
        await anyio.sleep(0.2)
        assert result == []                                           # still waiting
        assert (await store.phases("r"))[0]["status"] == "awaiting_approval"
        assert "ramp ctl r approve" in sched.of(Alert)[0].message
        await store.add_command("r", "approve")
    assert result == ["proceed"]
    assert sched.of(GateDecision)[0].by == "operator"
    assert (await store.phases("r"))[0]["decided_by"] == "operator"


async def test_the_last_gate_never_waits_and_its_stop_ends_the_run(store, tmp_path):
    await fill_first_phase(store)
    sched = FakeScheduler(store, [2])
    gate = RampGate(settings(tmp_path, approval="manual", gate="  gate:\n    stop: ['resolved_rate > 0.9']\n"))
    with anyio.fail_after(5):
        assert await gate.decide(sched.ctx, 0, last=True) == "stop"
    assert sched.of(GateVerdict)[0].projection == {} and sched.of(GateDecision) == []


async def test_an_approval_written_while_the_engine_was_down_counts(store, tmp_path):
    await fill_first_phase(store)
    gate = RampGate(settings(tmp_path, approval="manual"))
    first = FakeScheduler(store, [2, 10])

    async def wait_then_crash():
        with anyio.move_on_after(1):  # the first process shows the verdict, then dies waiting
            await gate.decide(first.ctx, 0, last=False)

    await wait_then_crash()
    assert (await store.phases("r"))[0]["status"] == "awaiting_approval"
    await store.add_command("r", "approve")                           # `ramp ctl r approve` meanwhile
    second = FakeScheduler(store, [2, 10])                            # the restarted process
    with anyio.fail_after(5):
        assert await gate.decide(second.ctx, 0, last=False) == "proceed"
    assert second.of(GateDecision)[0].by == "operator"
