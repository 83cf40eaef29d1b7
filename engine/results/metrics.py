"""Run metrics, computed from the store alone.

Every figure is recomputed from the rows the scheduler persisted (attempts, evaluations, llm_calls),
never from in-memory state, so a resumed run, ``ramp status`` from another shell, a gate, a report
and the leaderboard all show the same numbers. :func:`load_run` reads a run once; :func:`compute`
is a pure function of what was read, scoped to the instances of phases up to ``through_phase``
(phases are nested, so that is exactly the instance set a gate judges).

Definitions (the README lists them for operators):

- An attempt is *scored* when it was graded (resolved or unresolved, whatever its error class) or
  failed for a reason that is the model's (model_format, malformed_patch, timeout, eval_flaky, ...).
  Failures in :data:`~engine.core.errors.NOT_SCORED` (infra, rate_limit, budget) are not.
- An instance is *resolved* if any attempt resolved it, *unscored* if it finished without a single
  scored attempt (an *infra failure* when the environment was among the causes, rather than only
  rate limits or the budget), and *scored* otherwise. Unscored instances are reported apart and
  kept out of every denominator.
- The *representative attempt* of an instance is its first scored attempt: what a single-shot
  system would have submitted. Feedback-split and bug-reproduction scores use it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.errors import NOT_SCORED
from ..core.feedback import split_tests
from ..core.stats import pass_at_k, percentile, wilson_interval
from .outputmetrics import output_checks  # code completion: syntax validity, degenerate output

if TYPE_CHECKING:
    from ..store import Store

#: evaluations.grade: the official grade, the flakiness re-grade, and the bug-reproduction runs of
#: the agent's own tests on the base commit and on base + its fix.
GRADE_OFFICIAL, GRADE_REGRADE, GRADE_REPRO_BASE, GRADE_REPRO_FIX = 0, 1, 2, 3

@dataclass
class RunData:
    """Everything the metrics need about one run, read from the store in one go."""

    run: dict[str, Any]
    config: dict[str, Any]
    instances: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    phases: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    def option(self, section: str, key: str, default: Any = None) -> Any:
        """A setting as the run was started with it (the stored config)."""
        return (self.config.get(section) or {}).get(key, default)


async def load_run(store: Store, run_id: str) -> RunData:
    run = await store.get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    return RunData(
        run=run,
        config=json.loads(run["config_json"] or "{}"),
        instances=await store.instances(run_id),
        attempts=await store.attempts(run_id),
        evaluations=await store.evaluations(run_id),
        calls=await store.llm_calls(run_id),
        phases=await store.phases(run_id),
    )


def is_scored(attempt: dict[str, Any]) -> bool:
    if attempt["status"] != "done":
        return False
    return not (attempt["outcome"] == "error" and attempt["error_class"] in NOT_SCORED)


def representative(attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first scored attempt of an instance (attempts in attempt order)."""
    return next((a for a in attempts if is_scored(a)), None)


def _rate(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def compute(data: RunData, through_phase: int | None = None, baseline: RunData | None = None) -> dict[str, Any]:
    """All metrics of a run (or of its phases up to ``through_phase``) as one JSON-able dict."""
    scope = [i for i in data.instances if through_phase is None or i["phase"] <= through_phase]
    ids = {i["instance_id"] for i in scope}
    done: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for attempt in data.attempts:
        if attempt["instance_id"] in ids and attempt["status"] == "done":
            done[attempt["instance_id"]].append(attempt)
    finished = [i for i in scope if done[i["instance_id"]]]
    scored = [i for i in finished if any(is_scored(a) for a in done[i["instance_id"]])]
    resolved = [i for i in scored if any(a["outcome"] == "resolved" for a in done[i["instance_id"]])]
    ci = wilson_interval(len(resolved), len(scored))
    attempts = [a for rows in done.values() for a in rows]
    scored_attempts = [a for a in attempts if is_scored(a)]
    scored_ids = {i["instance_id"] for i in scored}
    unscored = [i for i in finished if i["instance_id"] not in scored_ids]
    infra = sum(1 for i in unscored if any(a["error_class"] == "infra" for a in done[i["instance_id"]]))
    out: dict[str, Any] = {
        "phase": through_phase,
        "instances": len(scope),
        "finished": len(finished),
        "pending": len(scope) - len(finished),
        "scored": len(scored),
        "resolved": len(resolved),
        "resolved_rate": _round(_rate(len(resolved), len(scored))),
        "ci_low": _round(ci[0]) if ci else None,
        "ci_high": _round(ci[1]) if ci else None,
        "ci_width": _round(ci[1] - ci[0]) if ci else None,
        "unscored": len(unscored),
        "infra_failures": infra,
        "infra_failure_rate": _round(_rate(infra, len(finished))),
        "attempts": len(attempts),
        "attempts_per_instance": _round(_rate(len(attempts), len(finished))),
        "malformed_patch_rate": _round(_rate(
            sum(1 for a in scored_attempts if a["error_class"] == "malformed_patch"), len(scored_attempts)
        )),
        "errors_by_class": dict(Counter(a["error_class"] for a in attempts if a["error_class"])),
        "resolved_instances": sorted(i["instance_id"] for i in resolved),
    }
    out.update(_sampling(data, [done[i["instance_id"]] for i in scored]))
    out.update(_usage(data, ids, through_phase is None, len(finished)))
    out.update(_timing(attempts) | _flakiness(data, ids) | output_checks(data.evaluations, scored_attempts))
    out.update(_feedback(data, {i["instance_id"]: done[i["instance_id"]] for i in scored}))
    out["per_repo"] = _per_repo(scope, scored_ids, set(out["resolved_instances"]))
    out.update(_baseline(done, baseline))
    return out


def _sampling(data: RunData, scored: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """pass@1 and pass@k (policy fixed), or resolved-within-K and attempts used (until-resolved)."""
    policy = data.option("run", "attempt_policy", "until-resolved")
    k_max = int(data.option("run", "attempts", 1))
    samples = [[a for a in rows if is_scored(a)] for rows in scored]
    out: dict[str, Any] = {"attempt_policy": policy, "k": k_max}
    if policy == "fixed":
        out["pass_at_1"] = _round(_mean_pass_at(samples, 1))
        ks = sorted({k for k in (1, 2, 5, 10, k_max) if k <= k_max})
        out["pass_at_k"] = {str(k): _round(_mean_pass_at(samples, k)) for k in ks}
    else:
        first = [rows[0]["outcome"] == "resolved" for rows in samples if rows]
        out["pass_at_1"] = _round(_rate(sum(first), len(first)))
        out["pass_at_k"] = {}
        used = Counter(
            next((a["attempt"] for a in rows if a["outcome"] == "resolved"), None) for rows in samples
        )
        resolved_by = {str(k): sum(n for a, n in used.items() if a is not None and a <= k) for k in range(1, k_max + 1)}
        out["resolved_within_k"] = _round(_rate(resolved_by.get(str(k_max), 0), len(samples)))
        out["resolved_by_attempt"] = resolved_by
    return out


def _mean_pass_at(samples: list[list[dict[str, Any]]], k: int) -> float | None:
    """pass@k averaged over the instances with at least k scored samples."""
    values = [
        pass_at_k(len(rows), sum(1 for a in rows if a["outcome"] == "resolved"), k) for rows in samples
    ]
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _usage(data: RunData, ids: set[str], whole_run: bool, finished: int) -> dict[str, Any]:
    calls = [c for c in data.calls if c["instance_id"] in ids or (whole_run and c["instance_id"] is None)]
    hits = [c for c in calls if c.get("cache_hit")]  # latency is the providers', not a cache replay's
    latencies = [c["latency_s"] for c in calls if c["status"] == "ok" and not c.get("cache_hit")
                 and c["latency_s"] is not None]  # fmt: skip
    cost = sum(c["cost_usd"] or 0.0 for c in calls)
    # A model without a price records its cost as unknown (null): the sum is then only a lower
    # bound, and the per-instance cost (what gates and projections use) is unknown, not zero.
    unpriced = sum(1 for c in calls if c["cost_usd"] is None and c["status"] == "ok")
    return {
        "calls": len(calls),
        "failed_calls": sum(1 for c in calls if c["status"] != "ok"),
        "input_tokens": sum(c["input_tokens"] for c in calls),
        "output_tokens": sum(c["output_tokens"] for c in calls),
        "cached_tokens": sum(c["cached_tokens"] for c in calls),
        "estimated_calls": sum(1 for c in calls if c["estimated"]),
        "cached_calls": len(hits),
        "cache_saved_usd": round(sum(c.get("saved_usd") or 0.0 for c in hits), 6),
        "cost_usd": round(cost, 6),
        "unpriced_calls": unpriced,
        "cost_per_instance": None if unpriced else _round(_rate(cost, finished), 6),
        "calls_per_instance": _round(_rate(len(calls), finished)),
        "latency_mean_s": _round(sum(latencies) / len(latencies), 3) if latencies else None,
        "latency_p50_s": _round(percentile(latencies, 0.50), 3),
        "latency_p90_s": _round(percentile(latencies, 0.90), 3),
        "latency_p99_s": _round(percentile(latencies, 0.99), 3),
    }


def busy_intervals(attempts: list[dict[str, Any]]) -> tuple[float, float]:
    """(wall seconds during which some attempt ran, summed attempt seconds).

    Gate waits and time the process was down are not in the first figure; their ratio is the
    concurrency the run achieved.
    """
    spans = sorted(
        (a["started_at"], a["finished_at"]) for a in attempts
        if a["started_at"] is not None and a["finished_at"] is not None and a["finished_at"] >= a["started_at"]
    )
    wall = 0.0
    current: list[float] | None = None
    for start, end in spans:
        if current is None or start > current[1]:
            if current is not None:
                wall += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        wall += current[1] - current[0]
    return wall, sum(end - start for start, end in spans)


def _timing(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    wall, summed = busy_intervals(attempts)
    return {
        "wall_s": round(wall, 3),
        "attempt_s": round(summed, 3),
        "concurrency": _round(summed / wall if wall > 0 else None, 2),
        "agent_s_p50": _round(percentile([a["agent_s"] for a in attempts if a["agent_s"] is not None], 0.5), 3),
        "eval_s_p50": _round(percentile([a["eval_s"] for a in attempts if a["eval_s"] is not None], 0.5), 3),
    }


def _flakiness(data: RunData, ids: set[str]) -> dict[str, Any]:
    grades: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
    for row in data.evaluations:
        if row["instance_id"] in ids:
            grades[(row["instance_id"], row["attempt"])][row["grade"]] = row
    pairs = [g for g in grades.values() if GRADE_OFFICIAL in g and GRADE_REGRADE in g]
    flaky = sorted(
        f"{g[GRADE_OFFICIAL]['instance_id']}#{g[GRADE_OFFICIAL]['attempt']}" for g in pairs
        if g[GRADE_OFFICIAL]["resolved"] != g[GRADE_REGRADE]["resolved"]
    )
    return {
        "regraded": len(pairs),
        "flaky_evals": len(flaky),
        "flaky_rate": _round(_rate(len(flaky), len(pairs))),
        "flaky_attempts": flaky,
    }


def _tests(row: dict[str, Any] | None, key: str) -> tuple[set[str], set[str]]:
    """(passed, failed) test names of one evaluation's FAIL_TO_PASS or PASS_TO_PASS group."""
    group = json.loads(row[key] or "{}") if row else {}
    return set(group.get("success", [])), set(group.get("failure", []))


def _feedback(data: RunData, scored: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    share = float((data.config.get("ramp") or {}).get("feedback", {}).get("public_share", 0.0))
    seed = int((data.config.get("ramp") or {}).get("feedback", {}).get("seed", 0))
    evals = {(e["instance_id"], e["attempt"], e["grade"]): e for e in data.evaluations}
    out: dict[str, Any] = {}
    if share > 0:
        public_rates, hidden_rates, fixed = [], [], 0
        for iid, rows in scored.items():
            rep = representative(rows)
            row = evals.get((iid, rep["attempt"], GRADE_OFFICIAL)) if rep else None
            passed, failed = _tests(row, "f2p_json")
            p2p_passed, p2p_failed = _tests(row, "p2p_json")
            public, hidden = split_tests(iid, sorted(passed | failed), share, seed)
            if hidden and not (set(hidden) - passed) and not p2p_failed and row is not None:
                fixed += 1
            if public:
                public_rates.append(len(set(public) & passed) / len(public))
                hidden_rates.append(len(set(hidden) & passed) / len(hidden))
        public_rate = _rate(sum(public_rates), len(public_rates))
        hidden_rate = _rate(sum(hidden_rates), len(hidden_rates))
        out.update({
            "feedback_instances": len(public_rates),
            "public_pass_rate": _round(public_rate),
            "hidden_pass_rate": _round(hidden_rate),
            "overfit_gap": _round(public_rate - hidden_rate) if public_rate is not None and hidden_rate is not None else None,
            "hidden_fix_score": _round(_rate(fixed, len(scored))),
        })
    if (data.config.get("ramp") or {}).get("feedback", {}).get("bug_reproduction"):
        wrote, reproduced = 0, 0
        for iid, rows in scored.items():
            rep = representative(rows)
            base = evals.get((iid, rep["attempt"], GRADE_REPRO_BASE)) if rep else None
            fix = evals.get((iid, rep["attempt"], GRADE_REPRO_FIX)) if rep else None
            if base is None or fix is None:
                continue
            wrote += 1
            reproduced += int(bool(reproducing_tests(json.loads(base["tests_json"] or "{}"), json.loads(fix["tests_json"] or "{}"))))
        out.update({
            "tests_written": wrote,
            "bug_reproduction_rate": _round(_rate(reproduced, len(scored))),
        })
    return out


def reproducing_tests(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Tests (name -> status) that pass with the agent's fix and did not pass on the base commit:
    failed, errored, or never ran because their file could not even be collected there."""
    return sorted(t for t, status in after.items() if status == "PASSED" and before.get(t) != "PASSED")


def _per_repo(scope: list[dict[str, Any]], scored: set[str], resolved: set[str]) -> dict[str, dict[str, Any]]:
    repos: dict[str, dict[str, Any]] = {}
    for inst in scope:
        row = repos.setdefault(inst["repo"], {"instances": 0, "scored": 0, "resolved": 0})
        row["instances"] += 1
        row["scored"] += int(inst["instance_id"] in scored)
        row["resolved"] += int(inst["instance_id"] in resolved)
    for row in repos.values():
        row["resolved_rate"] = _round(_rate(row["resolved"], row["scored"]))
    return dict(sorted(repos.items()))


def _baseline(done: dict[str, list[dict[str, Any]]], baseline: RunData | None) -> dict[str, Any]:
    """The spread over the no-patch baseline, on the instances both runs scored."""
    if baseline is None:
        return {"baseline": None, "baseline_spread": None}
    base_done: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for attempt in baseline.attempts:
        if attempt["status"] == "done":
            base_done[attempt["instance_id"]].append(attempt)
    common = [
        iid for iid, rows in done.items()
        if any(is_scored(a) for a in rows) and any(is_scored(a) for a in base_done.get(iid, []))
    ]
    ours = sum(1 for iid in common if any(a["outcome"] == "resolved" for a in done[iid]))
    theirs = [iid for iid in common if any(a["outcome"] == "resolved" for a in base_done[iid])]
    rate, base_rate = _rate(ours, len(common)), _rate(len(theirs), len(common))
    spread = rate - base_rate if rate is not None and base_rate is not None else None
    return {
        "baseline": {
            "run_id": baseline.run_id, "common_instances": len(common),
            "resolved_rate": _round(rate), "baseline_resolved_rate": _round(base_rate),
            "resolved_without_patch": sorted(theirs),
        },
        "baseline_spread": _round(spread),
    }


async def find_baseline(store: Store, data: RunData, requested: str | None = None) -> str | None:
    """The run to measure the spread against: ``requested``, the run's ``ramp.baseline`` setting, or
    (``auto``) the latest finished ``empty``-agent run on the same dataset content. ``none`` disables."""
    return baseline_of(data.run, data.config, await store.list_runs(), requested)


def baseline_of(
    run: dict[str, Any], config: dict[str, Any], runs: list[dict[str, Any]], requested: str | None = None
) -> str | None:
    """:func:`find_baseline` from the run's row and config and every run's row (in creation order)."""
    choice = requested or (config.get("ramp") or {}).get("baseline", "auto") or "auto"
    if choice != "auto":
        return choice if choice not in ("none", run["run_id"]) else None
    if run.get("agent") == "empty":
        return None
    candidates = [
        r for r in runs
        if r["agent"] == "empty" and r["run_id"] != run["run_id"] and r["dataset"] == run.get("dataset")
        and r["dataset_sha"] == run.get("dataset_sha") and r["status"] in ("completed", "gate_stop")
    ]  # fmt: skip
    return candidates[-1]["run_id"] if candidates else None


async def load_baseline(store: Store, data: RunData, requested: str | None = None) -> RunData | str | None:
    """The baseline run's data; its id (a string) when that run is not in the store; None if none."""
    base_id = await find_baseline(store, data, requested)
    if base_id is None:
        return None
    if await store.get_run(base_id) is None:
        return base_id
    return await load_run(store, base_id)


def compute_with_baseline(data: RunData, baseline: RunData | str | None, through_phase: int | None = None) -> dict[str, Any]:
    """:func:`compute`, saying so in ``baseline`` when the configured baseline run does not exist."""
    if isinstance(baseline, str):
        out = compute(data, through_phase, None)
        out["baseline"] = {"run_id": baseline, "error": f"baseline run {baseline!r} is not in the store"}
        return out
    return compute(data, through_phase, baseline)


async def run_metrics(
    store: Store, run_id: str, *, through_phase: int | None = None, baseline: str | None = None
) -> dict[str, Any]:
    """Load a run (and its baseline) from the store and compute its metrics."""
    data = await load_run(store, run_id)
    return compute_with_baseline(data, await load_baseline(store, data, baseline), through_phase)

