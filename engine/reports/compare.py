"""The A/B report: did run B resolve more than run A, beyond chance?

Two runs are compared on the instances both scored (an infra failure in either run says nothing
about the agents). The per-instance pairs give the flips (resolved in one run only), the exact
McNemar test on those discordant pairs (the instances both resolved or both missed carry no
information about the difference), and a seeded paired bootstrap interval of the difference of
resolved rates, B minus A.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from ..core.stats import bootstrap_diff_ci, mcnemar_exact
from ..results.metrics import RunData, compute, is_scored, load_run
from .collect import pct, usd
from .markdown import table

if TYPE_CHECKING:
    from ..store import Store


def _resolved_by_instance(data: RunData) -> dict[str, bool]:
    """Scored instances -> resolved."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for attempt in data.attempts:
        if attempt["status"] == "done":
            rows.setdefault(attempt["instance_id"], []).append(attempt)
    return {
        iid: any(a["outcome"] == "resolved" for a in attempts)
        for iid, attempts in rows.items() if any(is_scored(a) for a in attempts)
    }


def compare_runs(a: RunData, b: RunData, *, seed: int = 0, resamples: int = 10_000) -> dict[str, Any]:
    ra, rb = _resolved_by_instance(a), _resolved_by_instance(b)
    common = sorted(set(ra) & set(rb))
    a_only = [iid for iid in common if ra[iid] and not rb[iid]]
    b_only = [iid for iid in common if rb[iid] and not ra[iid]]
    both = sum(1 for iid in common if ra[iid] and rb[iid])
    rate_a = sum(ra[i] for i in common) / len(common) if common else None
    rate_b = sum(rb[i] for i in common) / len(common) if common else None
    interval = bootstrap_diff_ci([int(ra[i]) for i in common], [int(rb[i]) for i in common], seed=seed, resamples=resamples)
    ma, mb = compute(a), compute(b)
    return {
        "a": {"run_id": a.run_id, "agent": a.run.get("agent"), "model": a.run.get("model"),
              "resolved_rate": ma["resolved_rate"], "cost_per_instance": ma["cost_per_instance"]},
        "b": {"run_id": b.run_id, "agent": b.run.get("agent"), "model": b.run.get("model"),
              "resolved_rate": mb["resolved_rate"], "cost_per_instance": mb["cost_per_instance"]},
        "common_instances": len(common),
        "only_in_a": sorted(set(ra) - set(rb)),
        "only_in_b": sorted(set(rb) - set(ra)),
        "both_resolved": both,
        "neither_resolved": len(common) - both - len(a_only) - len(b_only),
        "a_only_resolved": a_only,
        "b_only_resolved": b_only,
        "rate_a": rate_a,
        "rate_b": rate_b,
        "difference": None if rate_a is None or rate_b is None else rate_b - rate_a,
        "bootstrap_ci": list(interval) if interval else None,
        "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
        "mcnemar_p": mcnemar_exact(len(a_only), len(b_only)),
    }


async def compare(store: Store, run_a: str, run_b: str, seed: int = 0) -> dict[str, Any]:
    return compare_runs(await load_run(store, run_a), await load_run(store, run_b), seed=seed)


def verdict_line(c: dict[str, Any]) -> str:
    if not c["common_instances"]:
        return "The runs scored no instance in common; nothing to compare."
    better = "B" if (c["difference"] or 0) > 0 else "A"
    if c["difference"] == 0:
        return f"No difference on {c['common_instances']} instances (McNemar p = {c['mcnemar_p']:.3g})."
    significant = "significant" if c["mcnemar_p"] < 0.05 else "not significant"
    return (
        f"{better} resolves {100 * abs(c['difference']):.1f} percentage points more of the "
        f"{c['common_instances']} common instances ({pct(c['rate_a'])} vs {pct(c['rate_b'])}); "
        f"the difference is {significant} at the 5% level (exact McNemar p = {c['mcnemar_p']:.3g})."
    )


def _rows(c: dict[str, Any]) -> list[list[Any]]:
    ci = c["bootstrap_ci"]
    return [
        ["Run A", f"{c['a']['run_id']} ({c['a']['agent']}, {c['a']['model'] or '-'})"],
        ["Run B", f"{c['b']['run_id']} ({c['b']['agent']}, {c['b']['model'] or '-'})"],
        ["Common scored instances", c["common_instances"]],
        ["Resolved rate A / B (common)", f"{pct(c['rate_a'])} / {pct(c['rate_b'])}"],
        ["Difference B - A", pct(c["difference"])],
        ["Bootstrap 95% CI of the difference",
         "n/a" if ci is None else f"[{pct(ci[0])}, {pct(ci[1])}] ({c['bootstrap']['resamples']} resamples, seed {c['bootstrap']['seed']})"],
        ["Both resolved / neither", f"{c['both_resolved']} / {c['neither_resolved']}"],
        ["Resolved by A only / B only", f"{len(c['a_only_resolved'])} / {len(c['b_only_resolved'])}"],
        ["Exact McNemar p", f"{c['mcnemar_p']:.4g}"],
        ["Cost per instance A / B", f"{usd(c['a']['cost_per_instance'])} / {usd(c['b']['cost_per_instance'])}"],
    ]


def _flips(c: dict[str, Any]) -> list[list[Any]]:
    return [[iid, "A only"] for iid in c["a_only_resolved"]] + [[iid, "B only"] for iid in c["b_only_resolved"]]


def render_markdown(c: dict[str, Any]) -> str:
    parts = [
        f"# A/B: {c['a']['run_id']} vs {c['b']['run_id']}",
        verdict_line(c),
        table(["", "Value"], _rows(c)),
        "## Flips (resolved in one run only)",
        table(["Instance", "Resolved by"], _flips(c)) if _flips(c) else "No flips.",
    ]
    return "\n\n".join(parts) + "\n"


def render_html(c: dict[str, Any]) -> str:
    def rows(items: list[list[Any]]) -> str:
        return "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in items)

    title = f"A/B: {c['a']['run_id']} vs {c['b']['run_id']}"
    flips = f"<table><tr><th>Instance</th><th>Resolved by</th></tr>{rows(_flips(c))}</table>" if _flips(c) else "<p>No flips.</p>"
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:900px;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #d5d8dc;padding:.25em .6em;text-align:left}</style>"
        f"</head><body><h1>{escape(title)}</h1><p>{escape(verdict_line(c))}</p>"
        f"<table>{rows(_rows(c))}</table><h2>Flips (resolved in one run only)</h2>{flips}</body></html>\n"
    )
