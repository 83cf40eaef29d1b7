"""What a run report shows, gathered from the store once and shared by every format.

Markdown, HTML and JSON reports are three renderings of one :class:`RunReport`, so they cannot
disagree. Per-phase figures are the cumulative metrics a gate saw (phases are nested), next to the
verdict that gate gave.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.artifacts import safe_name
from ..results.metrics import RunData, compute_with_baseline, is_scored, load_baseline, load_run
from ..results.validation import validated_rates, without_env_broken

if TYPE_CHECKING:
    from ..store import Store


@dataclass
class RunReport:
    run: dict[str, Any]
    folder: Path
    metrics: dict[str, Any]
    phases: list[dict[str, Any]]
    instances: list[dict[str, Any]]
    latencies: list[float] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    def to_json(self) -> dict[str, Any]:
        run = {k: v for k, v in self.run.items() if k != "config_json"}
        return {
            "run": run, "folder": str(self.folder), "metrics": self.metrics, "phases": self.phases,
            "instances": self.instances,
        }


async def collect(
    store: Store, run_id: str, runs_dir: Path, baseline: str | None = None, *, exclude_env_broken: bool = False
) -> RunReport:
    data = await load_run(store, run_id)
    base = await load_baseline(store, data, baseline)
    phases = []
    for row in data.phases:
        verdict = json.loads(row["verdict_json"]) if row["verdict_json"] else {}
        phases.append({
            "phase": row["phase"], "size": row["size"], "name": row["name"], "status": row["status"],
            "tier": row["tier"], "rule": verdict.get("rule"), "projection": verdict.get("projection") or {},
            "decision": row["decision"], "decided_by": row["decided_by"],
            "metrics": compute_with_baseline(data, base, row["phase"]),
        })
    metrics = compute_with_baseline(data, base)
    instances = instance_rows(data)
    registry = await store.validations(str(data.run.get("evaluator") or ""))
    outcomes = {r["instance_id"]: r["outcome"] == "resolved" for r in instances
                if r["outcome"] in ("resolved", "unresolved")}  # fmt: skip
    if any(row["instance_id"] in outcomes for row in registry):
        metrics["validated"] = validated_rates(outcomes, registry)
        if exclude_env_broken:
            failures: dict[str, list[set[str]]] = defaultdict(list)
            for ev in data.evaluations:
                if ev["grade"] == 0:
                    groups = [json.loads(ev[k] or "{}") for k in ("f2p_json", "p2p_json")]
                    failures[ev["instance_id"]].append({t for g in groups for t in g.get("failure", [])})
            metrics["validated"]["resolved_without_env_broken"] = without_env_broken(outcomes, registry, failures)
    return RunReport(
        run=data.run,
        folder=Path(runs_dir) / safe_name(run_id),
        metrics=metrics,
        phases=phases,
        instances=instances,
        latencies=[c["latency_s"] for c in data.calls if c["status"] == "ok" and c["latency_s"] is not None],
    )


def instance_rows(data: RunData) -> list[dict[str, Any]]:
    """One row per instance: outcome, attempts, spend and time, in the run's order."""
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for attempt in data.attempts:
        if attempt["status"] == "done":
            attempts[attempt["instance_id"]].append(attempt)
    cost: dict[str, float] = defaultdict(float)
    for call in data.calls:
        if call["instance_id"] is not None:
            cost[call["instance_id"]] += call["cost_usd"] or 0.0
    rows = []
    for inst in data.instances:
        done = attempts[inst["instance_id"]]
        if not done:
            outcome = "pending"
        elif any(a["outcome"] == "resolved" for a in done):
            outcome = "resolved"
        elif any(is_scored(a) for a in done):
            outcome = "unresolved"
        else:
            outcome = "infra"
        rows.append({
            "instance_id": inst["instance_id"], "repo": inst["repo"], "phase": inst["phase"],
            "outcome": outcome, "attempts": len(done),
            "errors": sorted({a["error_class"] for a in done if a["error_class"]}),
            "cost_usd": round(cost[inst["instance_id"]], 6),
            "agent_s": round(sum(a["agent_s"] or 0.0 for a in done), 3),
            "eval_s": round(sum(a["eval_s"] or 0.0 for a in done), 3),
        })
    return rows


def phase_label(phase: dict[str, Any]) -> str:
    return phase["name"] or f"phase {phase['phase'] + 1}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def ci(metrics: dict[str, Any]) -> str:
    if metrics.get("ci_low") is None:
        return "n/a"
    return f"[{pct(metrics['ci_low'])}, {pct(metrics['ci_high'])}]"


def _cost(metrics: dict[str, Any]) -> str:
    cached = ""
    if metrics.get("cached_calls"):
        cached = (f"; {metrics['cached_calls']} calls answered by the cache, "
                  f"{usd(metrics.get('cache_saved_usd') or 0.0)} saved")  # fmt: skip
    if metrics["unpriced_calls"]:
        return (f"at least {usd(metrics['cost_usd'])} ({metrics['unpriced_calls']} calls to a model without a "
                f"price{cached})")  # fmt: skip
    return f"{usd(metrics['cost_usd'])} ({usd(metrics['cost_per_instance'])} per instance{cached})"


def headline(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary table every report format opens with: (label, value)."""
    rows = [
        ("Resolved", f"{metrics['resolved']} / {metrics['scored']} scored ({pct(metrics['resolved_rate'])})"),
        ("Wilson 95% CI", ci(metrics)),
        ("pass@1", pct(metrics.get("pass_at_1"))),
    ]
    for k, value in (metrics.get("pass_at_k") or {}).items():
        if k != "1":
            rows.append((f"pass@{k}", pct(value)))
    if metrics.get("attempt_policy") == "until-resolved" and metrics.get("k", 1) > 1:
        rows.append((f"Resolved within {metrics['k']}", pct(metrics.get("resolved_within_k"))))
    base = metrics.get("baseline") or {}
    if base.get("error"):
        rows.append(("Baseline spread", base["error"]))
    elif base:
        rows.append(("Baseline spread", f"{pct(metrics['baseline_spread'])} over run {base['run_id']} "
                     f"({pct(base['baseline_resolved_rate'])} without a patch, {base['common_instances']} instances)"))
    if valid := metrics.get("validated"):
        rows.append(("Resolved on validated rows", (
            f"{valid['resolved_validated']} / {valid['validated']} rows `ramp validate` found valid "
            f"({pct(valid['resolved_validated'] / valid['validated'] if valid['validated'] else None)}); "
            f"{len(valid['not_valid'])} scored rows are not valid in this environment, "
            f"{valid['unvalidated']} not validated (the official verdict above counts them all)"
        )))
        if "resolved_without_env_broken" in valid:
            rows.append(("Resolved, env-broken tests left out", (
                f"{valid['resolved_without_env_broken']} / {metrics['scored']} scored: tests `ramp validate` "
                "found failing with the gold patch here are not counted against the patch, as asked "
                "(--exclude-env-broken); the official verdict above counts every test"
            )))
    rows += [
        ("Infra failures", f"{metrics['infra_failures']} ({pct(metrics['infra_failure_rate'])} of finished); "
                           f"{metrics['unscored']} unscored in all, out of every denominator"),
        ("Malformed patches", pct(metrics["malformed_patch_rate"])),
        ("Flaky evaluations", f"{metrics['flaky_evals']} of {metrics['regraded']} re-graded"),
        ("Attempts", f"{metrics['attempts']} ({num(metrics['attempts_per_instance'])} per instance)"),
        ("Model calls", f"{metrics['calls']} ({metrics['failed_calls']} failed)"),
        ("Tokens in / out", f"{metrics['input_tokens']:,} / {metrics['output_tokens']:,}"),
        ("Cost", _cost(metrics)),
        ("Latency P50 / P90 / P99", " / ".join(
            "n/a" if metrics[k] is None else f"{metrics[k]:.2f}s" for k in ("latency_p50_s", "latency_p90_s", "latency_p99_s")
        )),
        ("Busy wall time", f"{metrics['wall_s']:.1f}s (concurrency {num(metrics['concurrency'])})"),
    ]
    if "overfit_gap" in metrics:
        rows += [
            ("Public / hidden pass rate", f"{pct(metrics['public_pass_rate'])} / {pct(metrics['hidden_pass_rate'])}"),
            ("Overfit gap", pct(metrics["overfit_gap"])),
            ("Hidden fix score", pct(metrics["hidden_fix_score"])),
        ]
    if "bug_reproduction_rate" in metrics:
        rows.append(("Bug reproduction", f"{pct(metrics['bug_reproduction_rate'])} ({metrics['tests_written']} wrote tests)"))
    return rows + output_check_rows(metrics)


def output_check_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Code completion: syntax validity and degenerate output, each rule with what it counts."""
    if metrics.get("syntax_valid_rate") is None:
        return []
    rows = [
        ("Syntax valid", f"{pct(metrics['syntax_valid_rate'])} of {metrics['graded_samples']} graded samples "
                         "(the completed function parses)"),
        ("Degenerate output", pct(metrics["degenerate_rate"])),
    ]
    rules = metrics.get("degenerate_rules") or {}
    rows += [(f"  {name}", f"{n}: {rules.get(name, '')}") for name, n in (metrics.get("degenerate_by_rule") or {}).items()]
    return rows
