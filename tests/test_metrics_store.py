"""Metrics computed from a store filled through the real Store API, checked against hand counts."""

from __future__ import annotations

import pytest

from engine.core.feedback import split_tests
from engine.core.gates import GATE_METRICS
from engine.results.metrics import compute, find_baseline, load_run, run_metrics
from engine.store import Store
from tests.rampfill import attempt, call, make_run


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as s:
        yield s


async def fill_until_resolved(store: Store) -> None:
    """a resolved; b malformed then resolved; c two infra errors; d unresolved twice; e pending."""
    await make_run(store, "r", [("a", "o/r1", 0), ("b", "o/r1", 0), ("c", "o/r2", 1), ("d", "o/r2", 1),
                                ("e", "o/r3", 1)], attempts=2)
    await attempt(store, "r", "a", 1, "resolved", started=0, finished=10)
    await attempt(store, "r", "b", 1, "unresolved", error_class="malformed_patch", eval_error="malformed_patch",
                  started=5, finished=15)
    await attempt(store, "r", "b", 2, "resolved", started=20, finished=30)
    await attempt(store, "r", "c", 1, "error", error_class="infra", started=40, finished=41)
    await attempt(store, "r", "c", 2, "error", error_class="infra", started=41, finished=42)
    await attempt(store, "r", "d", 1, "unresolved", started=40, finished=50)
    await attempt(store, "r", "d", 2, "unresolved", started=50, finished=60)
    await call(store, "r", "a", cost=0.5, latency=1.0)
    await call(store, "r", "a", cost=0.5, latency=2.0)
    await call(store, "r", "b", cost=0.25, latency=3.0)
    await call(store, "r", "d", cost=0.0, latency=100.0, status="error")
    await call(store, "r", None, cost=1.0, latency=4.0)


async def test_whole_run_counts_rates_and_usage(store):
    await fill_until_resolved(store)
    m = await run_metrics(store, "r")
    assert (m["instances"], m["finished"], m["pending"], m["scored"], m["resolved"]) == (5, 4, 1, 3, 2)
    assert m["resolved_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert (m["ci_low"], m["ci_high"]) == (pytest.approx(0.2077, abs=1e-4), pytest.approx(0.9385, abs=1e-4))
    assert m["infra_failures"] == m["unscored"] == 1 and m["infra_failure_rate"] == 0.25   # out of the denominator
    assert m["attempts"] == 7 and m["attempts_per_instance"] == 1.75
    assert m["malformed_patch_rate"] == 0.2                                   # 1 of 5 scored attempts
    assert m["errors_by_class"] == {"malformed_patch": 1, "infra": 2}
    assert m["pass_at_1"] == pytest.approx(1 / 3, abs=1e-4)                  # first scored attempt: a only
    assert m["resolved_within_k"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["resolved_by_attempt"] == {"1": 1, "2": 2}
    assert m["pass_at_k"] == {}                                               # not estimable under until-resolved
    assert m["calls"] == 5 and m["failed_calls"] == 1
    assert m["cost_usd"] == 2.25 and m["cost_per_instance"] == 0.5625 and m["unpriced_calls"] == 0
    assert (m["latency_p50_s"], m["latency_p90_s"], m["latency_p99_s"]) == (2.5, 3.7, 3.97)
    assert m["input_tokens"] == 500 and m["output_tokens"] == 50
    assert m["per_repo"] == {
        "o/r1": {"instances": 2, "scored": 2, "resolved": 2, "resolved_rate": 1.0},
        "o/r2": {"instances": 2, "scored": 1, "resolved": 0, "resolved_rate": 0.0},
        "o/r3": {"instances": 1, "scored": 0, "resolved": 0, "resolved_rate": None},
    }


async def test_rate_limited_instances_are_unscored_but_not_infra_failures(store):
    await make_run(store, "r", [("a", "o/r", 0), ("b", "o/r", 0)])
    await attempt(store, "r", "a", 1, "resolved")
    await attempt(store, "r", "b", 1, "error", error_class="rate_limit")
    m = await run_metrics(store, "r")
    assert (m["scored"], m["unscored"], m["infra_failures"], m["resolved_rate"]) == (1, 1, 0, 1.0)


async def test_a_call_without_a_price_makes_the_cost_unknown_not_zero(store):
    await fill_until_resolved(store)
    await store.add_llm_call(run_id="r", instance_id="a", attempt=1, model_id="m", provider="p", cost_usd=None,
                             latency_s=1.0, status="ok")
    m = await run_metrics(store, "r")
    assert m["unpriced_calls"] == 1 and m["cost_usd"] == 2.25 and m["cost_per_instance"] is None


async def test_a_phase_sees_only_its_nested_instances(store):
    await fill_until_resolved(store)
    m = compute(await load_run(store, "r"), through_phase=0)
    assert (m["instances"], m["scored"], m["resolved"], m["resolved_rate"]) == (2, 2, 2, 1.0)
    assert m["ci_low"] == pytest.approx(0.3424, abs=1e-4) and m["ci_high"] == 1.0   # 2 of 2: 2 / (2 + z^2)
    assert m["cost_usd"] == 1.25 and m["latency_p50_s"] == 2.0                 # run-level calls excluded
    assert (m["wall_s"], m["attempt_s"], m["concurrency"]) == (25.0, 30.0, 1.2)  # [0,15] and [20,30]


async def test_an_empty_phase_has_no_rates(store):
    await make_run(store, "r", [("a", "o/r", 0), ("b", "o/r", 0)])
    m = await run_metrics(store, "r")
    assert (m["finished"], m["scored"], m["resolved"]) == (0, 0, 0)
    for key in ("resolved_rate", "ci_low", "ci_width", "pass_at_1", "infra_failure_rate", "cost_per_instance",
                "malformed_patch_rate", "latency_p50_s", "flaky_rate"):
        assert m[key] is None, key
    assert m["wall_s"] == 0 and m["concurrency"] is None


async def test_fixed_policy_gives_unbiased_pass_at_k(store):
    await make_run(store, "r", [("x", "o/r", 0), ("y", "o/r", 0), ("z", "o/r", 0)], attempts=3, policy="fixed")
    for n, outcome in enumerate(["resolved", "unresolved", "resolved"], 1):
        await attempt(store, "r", "x", n, outcome)
    for n in (1, 2, 3):
        await attempt(store, "r", "y", n, "unresolved")
    await attempt(store, "r", "z", 1, "resolved")
    await attempt(store, "r", "z", 2, "error", error_class="infra")   # not a sample: z has n=2, c=1
    await attempt(store, "r", "z", 3, "unresolved")
    m = await run_metrics(store, "r")
    assert m["pass_at_1"] == pytest.approx((2 / 3 + 0 + 1 / 2) / 3, abs=1e-4)
    # pass@2: x 1 - C(1,2)/C(3,2) = 1; y 0; z (n-c < k) 1. pass@3: z has k > n and is left out.
    assert m["pass_at_k"] == {"1": pytest.approx(0.3889, abs=1e-4), "2": pytest.approx(2 / 3, abs=1e-4), "3": 0.5}
    assert m["resolved"] == 2 and m["scored"] == 3


async def test_regrade_disagreement_is_a_flaky_evaluation(store):
    await fill_until_resolved(store)
    await store.add_evaluation("r", "a", 1, 1, resolved=0, applied=1, error_class="eval_flaky")
    await store.add_evaluation("r", "d", 1, 1, resolved=0, applied=1)
    m = await run_metrics(store, "r")
    assert (m["regraded"], m["flaky_evals"], m["flaky_rate"], m["flaky_attempts"]) == (2, 1, 0.5, ["a#1"])


async def test_feedback_split_scores_and_bug_reproduction(store):
    tests = ["t1", "t2", "t3", "t4"]
    public, hidden = split_tests("p", tests, 0.5, seed=0)
    await make_run(store, "r", [("p", "o/r", 0), ("q", "o/r", 0), ("s", "o/r", 0)],
                   ramp={"feedback": {"public_share": 0.5, "seed": 0, "bug_reproduction": True}})
    # p passes exactly its public tests: the overfitting shape; q fixes everything; s has one test.
    await attempt(store, "r", "p", 1, "unresolved", f2p=(public, hidden), p2p=(["k"], []))
    await attempt(store, "r", "q", 1, "resolved", f2p=(tests, []), p2p=(["k"], []))
    await attempt(store, "r", "s", 1, "resolved", f2p=(["only"], []), p2p=(["k"], []))
    await store.add_evaluation("r", "p", 1, 2, resolved=1, applied=1, tests={"tests/test_new.py::test_bug": "FAILED"})
    await store.add_evaluation("r", "p", 1, 3, resolved=1, applied=1, tests={"tests/test_new.py::test_bug": "PASSED"})
    await store.add_evaluation("r", "q", 1, 2, resolved=1, applied=1, tests={"tests/test_q.py::t": "PASSED"})
    await store.add_evaluation("r", "q", 1, 3, resolved=1, applied=1, tests={"tests/test_q.py::t": "PASSED"})
    m = await run_metrics(store, "r")
    assert m["feedback_instances"] == 2                       # s has a single test: nothing public
    assert m["public_pass_rate"] == 1.0 and m["hidden_pass_rate"] == 0.5
    assert m["overfit_gap"] == 0.5
    assert m["hidden_fix_score"] == pytest.approx(2 / 3, abs=1e-4)   # q and s
    assert m["tests_written"] == 2 and m["bug_reproduction_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert set(GATE_METRICS) <= set(m)                        # every metric a gate rule may name exists


async def test_feedback_metrics_are_absent_when_the_mode_is_off(store):
    await fill_until_resolved(store)
    m = await run_metrics(store, "r")
    assert "overfit_gap" not in m and "bug_reproduction_rate" not in m


async def test_baseline_spread_on_common_instances(store):
    await make_run(store, "old-empty", [("a", "o/r", 0)], agent="empty", sha="other")
    await make_run(store, "empty", [("a", "o/r", 0), ("b", "o/r", 0), ("d", "o/r", 0)], agent="empty")
    await attempt(store, "empty", "a", 1, "resolved")       # passes with no patch at all
    await attempt(store, "empty", "b", 1, "unresolved")
    await attempt(store, "empty", "d", 1, "unresolved")
    await fill_until_resolved(store)
    data = await load_run(store, "r")
    assert await find_baseline(store, data) == "empty"       # same dataset content, finished, latest
    m = await run_metrics(store, "r")
    assert m["baseline"]["common_instances"] == 3 and m["baseline"]["resolved_without_patch"] == ["a"]
    assert m["baseline_spread"] == pytest.approx(2 / 3 - 1 / 3, abs=1e-4)
    assert (await run_metrics(store, "r", baseline="none"))["baseline"] is None
    assert "not in the store" in (await run_metrics(store, "r", baseline="nope"))["baseline"]["error"]
    assert await find_baseline(store, await load_run(store, "empty")) is None   # no baseline for a baseline


async def test_metrics_read_only_the_store(store, tmp_path):
    """A second connection (another process, a resumed run) computes the same numbers."""
    await fill_until_resolved(store)
    first = await run_metrics(store, "r")
    async with Store(tmp_path / "ramp.sqlite") as other:
        assert await run_metrics(other, "r") == first
