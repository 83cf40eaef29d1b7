"""What the next phase will cost: projected from what the phases so far measured.

An operator approving a gate is approving spend and time, so every verdict carries the projection
of the next phase: per-instance averages of model cost, model calls and attempts, times the new
instances the next phase adds (phases are nested, so only the difference is new work). Time uses the
concurrency the run actually achieved: summed attempt seconds per instance divided by the measured
concurrency (summed attempt seconds over busy wall seconds), so a run starved by a provider's rate
limit projects the slow time it will really take.

The run budget (``run.budget_usd``) is checked against spend so far plus the projected cost: a gate
refuses to start a phase that the measured averages say would cross it, whatever the tier. A model
without a price has an unknown cost, which is projected as unknown rather than as zero (the model
layer itself refuses to spend an unknown amount under a budget).
"""

from __future__ import annotations

from typing import Any

from .metrics import RunData, busy_intervals


def project(data: RunData, phase: int, sizes: list[int], budget_usd: float | None) -> dict[str, Any] | None:
    """The projection of phase ``phase + 1`` from phases 0..``phase``; None after the last phase."""
    if phase + 1 >= len(sizes):
        return None
    ids = {i["instance_id"] for i in data.instances if i["phase"] <= phase}
    attempts = [a for a in data.attempts if a["instance_id"] in ids and a["status"] == "done"]
    finished = len({a["instance_id"] for a in attempts})
    calls = [c for c in data.calls if c["instance_id"] in ids]
    spent = sum(c["cost_usd"] or 0.0 for c in data.calls)
    new = sizes[phase + 1] - sizes[phase]
    out: dict[str, Any] = {
        "next_phase": phase + 1,
        "next_size": sizes[phase + 1],
        "new_instances": new,
        "basis_instances": finished,
        "spent_usd": round(spent, 6),
        "budget_usd": budget_usd,
    }
    if finished == 0:
        out.update(cost_usd=None, calls=None, attempts=None, wall_s=None, within_budget=None)
        return out
    wall, summed = busy_intervals(attempts)
    concurrency = summed / wall if wall > 0 else 1.0
    priced = all(c["cost_usd"] is not None or c["status"] != "ok" for c in calls)
    cost = sum(c["cost_usd"] or 0.0 for c in calls) / finished * new if priced else None
    out.update(
        cost_usd=None if cost is None else round(cost, 4),
        calls=round(len(calls) / finished * new),
        attempts=round(len(attempts) / finished * new),
        wall_s=round(summed / finished * new / concurrency, 1),
        concurrency=round(concurrency, 2),
        within_budget=None if budget_usd is None or cost is None else spent + cost <= budget_usd,
    )
    return out


def describe(projection: dict[str, Any] | None) -> str:
    """One line for the verdict: ``next phase: +20 instances, ~$3.10, ~12m 30s, ~400 model calls``."""
    if projection is None:
        return "last phase: nothing to project"
    if projection["wall_s"] is None:
        return f"next phase: +{projection['new_instances']} instances (nothing measured to project from)"
    cost = "cost unknown (unpriced model)" if projection["cost_usd"] is None else f"~${projection['cost_usd']:.2f}"
    line = (
        f"next phase: +{projection['new_instances']} instances, {cost}, "
        f"~{duration(projection['wall_s'])}, ~{projection['calls']} model calls"
    )
    if projection["budget_usd"] is not None:
        line += f" (spent ${projection['spent_usd']:.2f} of ${projection['budget_usd']:.2f})"
    return line


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
